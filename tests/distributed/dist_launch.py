"""Launch helpers for the distributed tests (a uniquely named module: `conftest` names
clash across test folders when pytest imports several of them)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).parent


def free_port() -> int:
    """A TCP port nobody listens on now (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(
    script: Path, *args: str, nproc: int = 2, timeout: float = 120, backend: str = "gloo"
) -> str:
    """Run `script` under torchrun on this machine; returns its output, raises on failure.

    gloo runs hide the GPUs (CPU ranks); nccl runs give each rank its local GPU.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", TOOLKIT_DIST_BACKEND=backend)
    if backend == "gloo":
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(script),
        *args,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"torchrun exited with {done.returncode}:\n{output[-6000:]}")
    return output
