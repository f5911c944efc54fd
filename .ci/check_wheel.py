"""CI check (issue 16): the toolkit works from its wheel, without the source tree.

Builds the wheel from a clean copy of the tree (what git tracks plus new files it does not
ignore, so a stale build/ never leaks in), installs it with --no-deps into a scratch venv,
and runs `toolkit data stats` on the embedded sample and one short `run-scenario` (with an
image channel, so the tiny-vit config is read as package data too) from a folder outside
the repository with PYTHONPATH unset.

The scratch venv reuses the project venv's already-installed dependencies (torch, ...)
through a `.pth` line naming that site-packages folder. Such a path is appended after the
scratch venv's own site-packages, and `.pth` files inside it are not executed, so the
project's editable install (a finder installed by a `.pth` file) stays inert: the only
`recsys`, `scenarios`, ... importable are the wheel's, which the check asserts.

Usage: .venv/bin/python .ci/check_wheel.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("media", "plumbing", "captioning", "recsys", "scenarios", "toolkit", "provenance")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command, echo it, fail loudly with its output."""
    print("+", " ".join(str(a) for a in args), flush=True)
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def source_copy(dst: Path) -> None:
    """Copy what git tracks plus untracked files it does not ignore into `dst`."""
    listing = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listing.split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


def scratch_venv(venv: Path, wheel: Path) -> Path:
    """A venv without pip holding only the wheel, seeing the project venv's dependencies."""
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel, cwd=venv.parent)  # fmt: skip
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=venv)
    (Path(site.strip()) / "project_venv_deps.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    return venv / "bin"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wheel-check-") as tmp:
        work = Path(tmp)
        (work / "src").mkdir()
        source_copy(work / "src")
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
            "-w", work / "dist", work / "src", cwd=work)  # fmt: skip
        (wheel,) = (work / "dist").glob("mmrec_toolkit-*.whl")
        bin_dir = scratch_venv(work / "venv", wheel)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "0"}
        outside = work / "elsewhere"
        outside.mkdir()
        where = run(bin_dir / "python", "-c",
                    f"import json, {', '.join(PACKAGES)}; "
                    f"print(json.dumps([m.__file__ for m in ({', '.join(PACKAGES)},)]))",
                    cwd=outside, env=env)  # fmt: skip
        for path in json.loads(where):
            if not Path(path).resolve().is_relative_to((work / "venv").resolve()):
                sys.exit(f"{path} is not the wheel's copy: the check would not be honest")
        stats = run(bin_dir / "toolkit", "data", "stats", cwd=outside, env=env)
        if (
            "users          380" not in stats
            or "200 items with an image, 200 with a video" not in stats
        ):
            sys.exit(f"unexpected stats of the embedded sample:\n{stats}")
        run(bin_dir / "toolkit", "run-scenario", "title+image", "--out", "run",
            "train.epochs=1", "train.max_steps_per_epoch=2", "train.device=cpu",
            'output.cache_dir="cache"', cwd=outside, env=env)  # fmt: skip
        results = json.loads((outside / "run" / "results.json").read_text(encoding="utf-8"))
        if (
            results["protocol"] != "leave_one_out_full_ranking"
            or results["dataset"]["users"] != 379
        ):
            sys.exit(f"unexpected results.json: {results['protocol']}, {results['dataset']}")
        print(f"wheel check passed: {wheel.name} installs and runs without the source tree")


if __name__ == "__main__":
    main()
