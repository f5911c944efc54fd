"""Checkpoints of the trainable state only: safetensors weights, optimizer state loadable
with ``torch.load(weights_only=True)``, and a JSON pointer naming the complete files.

Layout of ``<run>/checkpoint/``::

    state.json                 pointer + trainer state (epoch, best, history, config hash)
    epoch-0007.safetensors     trainable weights after epoch 7 (metadata: config, tower, version)
    epoch-0007.optim.pt        optimizer (+ AMP scaler) state after epoch 7
    best-0005.safetensors      weights of the best validation epoch so far

Every file is written atomically and ``state.json`` last, so a crash at any point leaves a
pointer to complete files; files no pointer names are removed on the next save.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from plumbing.io import atomic_write_json, atomic_write_with, sweep_stale_temps
from provenance import version
from recsys.errors import CheckpointError

FORMAT = "mmrec-trainable-v1"


def trainable_named(model: nn.Module, params: list[nn.Parameter]) -> dict[str, nn.Parameter]:
    """Name -> parameter for `params`, named by their path in `model`."""
    wanted = {id(p) for p in params}
    named = {n: p for n, p in model.named_parameters(remove_duplicate=True) if id(p) in wanted}
    if len(named) != len(wanted):
        raise CheckpointError(
            f"{len(wanted) - len(named)} trainable parameter(s) are not registered in the model; "
            "an item tower must hold its trainable parameters as submodules"
        )
    return named


def save_weights(path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Write tensors (detached, contiguous, on CPU) with JSON-encoded metadata."""
    from safetensors.torch import save_file

    data = {n: t.detach().to("cpu").contiguous().clone() for n, t in tensors.items()}
    metadata = {"format": FORMAT, "toolkit_version": version()}
    metadata.update({k: json.dumps(v, default=str) for k, v in meta.items()})
    atomic_write_with(path, lambda tmp: save_file(data, str(tmp), metadata=metadata))


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and decoded metadata written by `save_weights`."""
    from safetensors import SafetensorError, safe_open

    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
            for name in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors[name] = handle.get_tensor(name)
    except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc
    if raw.get("format") != FORMAT:  # another layout: never copy its tensors in blindly
        raise CheckpointError(
            f"{path}: checkpoint format {raw.get('format')!r} (toolkit "
            f"{raw.get('toolkit_version', 'unknown')}); this toolkit reads {FORMAT!r}"
        )
    meta = {k: (v if k in ("format", "toolkit_version") else json.loads(v)) for k, v in raw.items()}
    return tensors, meta


def copy_into(named: Mapping[str, nn.Parameter], tensors: Mapping[str, torch.Tensor], path: Path):
    """Copy checkpoint tensors into the model's trainable parameters (names must match)."""
    missing = sorted(set(named) - set(tensors))
    extra = sorted(set(tensors) - set(named))
    if missing or extra:
        raise CheckpointError(
            f"{path}: checkpoint does not match this model "
            f"(missing {missing[:5]}, unexpected {extra[:5]})"
        )
    with torch.no_grad():
        for name, param in named.items():
            if tensors[name].shape != param.shape:
                raise CheckpointError(
                    f"{path}: {name} has shape {tuple(tensors[name].shape)}, "
                    f"the model expects {tuple(param.shape)}"
                )
            param.copy_(tensors[name].to(param.device, param.dtype))


def load_trainable(named: Mapping[str, nn.Parameter], path: Path) -> dict[str, Any]:
    """`load_weights` then `copy_into`: the one strict way a checkpoint enters a model
    (resume, best-epoch restore, and every reader of a finished run). Returns the metadata."""
    tensors, meta = load_weights(path)
    copy_into(named, tensors, path)
    return meta


def save_optimizer(path: Path, state: Mapping[str, Any]) -> None:
    """torch.save of plain containers and tensors (loadable with weights_only=True)."""
    atomic_write_with(path, lambda tmp: torch.save(dict(state), tmp))


def load_optimizer(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: unreadable optimizer state ({exc})") from exc


def write_pointer(folder: Path, state: Mapping[str, Any]) -> None:
    """Write state.json (last), then delete checkpoint files it no longer names."""
    atomic_write_json(folder / "state.json", dict(state))
    sweep_stale_temps(folder)  # temp files of a save killed mid-write (only rank 0 writes)
    keep = {state.get("weights"), state.get("optim"), state.get("best_weights"), "best.safetensors"}
    for path in folder.iterdir():
        if path.name != "state.json" and path.name not in keep and not path.name.startswith("."):
            path.unlink(missing_ok=True)


def read_pointer(folder: Path) -> dict[str, Any] | None:
    """The trainer state of the last complete checkpoint, or None when there is none."""
    path = folder / "state.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable trainer state ({exc})") from exc
