from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recsys.channels import EncoderSpec
from recsys.encoders import build_encoder
from recsys.errors import ConfigError

TEXTS = ["red glass beaker", "lab kit with steel clamp stand and rubber gloves", "lens"]


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.mark.parametrize(
    ("role", "modality", "kind", "steps", "width", "pooling"),
    [
        ("bert", "text", "auto", 3, 32, "cls"),
        ("wide_bert", "text", "hf_text", 5, 64, "cls"),
        ("mpnet", "text", "auto", 4, 32, "cls"),
        ("llama", "text", "auto", 4, 48, "mean"),
        ("vit", "image", "auto", 3, 32, "cls"),
        ("open_clip", "image", "open_clip", 4, 32, "cls"),
    ],
)
def test_every_kind_gives_finite_states_of_the_right_shape(
    zoo: dict[str, str], role: str, modality: str, kind: str, steps: int, width: int, pooling: str
) -> None:
    enc = build_encoder(EncoderSpec(zoo[role], kind=kind), modality=modality)
    items = TEXTS if modality == "text" else _images(3)
    states = enc.encode(items)
    assert states.shape == (3, steps, width) and states.dtype == torch.float32
    assert torch.isfinite(states).all()
    assert enc.pooling == pooling and enc.num_steps == steps and enc.width == width
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.training
    info = enc.describe()
    assert info["revision"] not in ("", "unknown") and info["layers"] == list(enc.selected_layers)
    # pooled CLS of the embedding output is the same for every item (stored once by the cache)
    if pooling == "cls":
        assert enc.constant_first_step
        assert torch.equal(states[0, 0], states[1, 0]) and torch.equal(states[0, 0], states[2, 0])
        assert not torch.allclose(states[0, -1], states[1, -1])


def test_bert_cls_states_match_the_model_hidden_states(zoo: dict[str, str]) -> None:
    from transformers import AutoModel, AutoTokenizer

    enc = build_encoder(EncoderSpec(zoo["bert"], layers=(0, 2)), modality="text")
    tok = AutoTokenizer.from_pretrained(zoo["bert"])
    model = AutoModel.from_pretrained(zoo["bert"]).eval()
    with torch.no_grad():
        ref = model(**tok(TEXTS[1:2], return_tensors="pt"), output_hidden_states=True)
    states = enc.encode(TEXTS[1:2])
    assert torch.allclose(states[0, 0], ref.hidden_states[0][0, 0], atol=1e-6)
    assert torch.allclose(states[0, 1], ref.hidden_states[2][0, 0], atol=1e-6)


def test_padding_in_a_batch_does_not_change_a_text_state(zoo: dict[str, str]) -> None:
    for role in ("bert", "llama"):
        enc = build_encoder(EncoderSpec(zoo[role]), modality="text")
        alone = enc.encode(TEXTS[2:3])
        batched = enc.encode(TEXTS)[2:3]  # padded to the longest title
        assert torch.allclose(alone, batched, atol=1e-5), role


def test_llm_mean_skips_bos_and_padding_and_padded_mean_matches_reference(
    zoo: dict[str, str],
) -> None:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(zoo["llama"]).eval()
    mean = build_encoder(EncoderSpec(zoo["llama"], layers=(3,)), modality="text")
    ids = mean.prepare(["red glass"])["input_ids"]
    assert ids[0, 0].item() == mean.tokenizer.bos_token_id
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[3]
    assert torch.allclose(mean.encode(["red glass"])[0, 0], hidden[0, 1:].mean(0), atol=1e-5)
    # reference pooling: ids right-padded with 0 to max_tokens, no attention mask, mean of all
    ref = build_encoder(
        EncoderSpec(zoo["llama"], layers=(3,), pooling="padded_mean", max_tokens=8),
        modality="text",
    )
    padded = torch.tensor([ids[0].tolist() + [0] * (8 - ids.shape[1])])
    with torch.no_grad():
        hidden = model(input_ids=padded, output_hidden_states=True).hidden_states[3]
    assert torch.allclose(ref.encode(["red glass"])[0, 0], hidden[0].mean(0), atol=1e-5)


def test_video_states_are_the_mean_of_frame_states(zoo: dict[str, str], tmp_path: Path) -> None:
    from media.video import write_video

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    video = build_encoder(EncoderSpec(zoo["vit"], num_frames=3), modality="video")
    image = build_encoder(EncoderSpec(zoo["vit"]), modality="image")
    picked = frames[[0, 2, 5]]  # np.linspace(0, 5, 3) rounded
    expected = image.encode(list(picked)).mean(0)
    assert torch.allclose(video.encode([frames])[0], expected, atol=1e-5)
    write_video(tmp_path / "clip.mp4", frames)
    from_file = video.encode([tmp_path / "clip.mp4"])
    assert from_file.shape == (1, 3, 32) and torch.isfinite(from_file).all()
    assert video.describe()["num_frames"] == 3


def test_for_training_runs_with_gradients(zoo: dict[str, str]) -> None:
    for role, modality, items in (("bert", "text", TEXTS), ("vit", "image", _images(2))):
        enc = build_encoder(EncoderSpec(zoo[role]), modality=modality, for_training=True)
        assert enc.training and all(p.requires_grad for p in enc.parameters())
        enc.encode(items)[:, -1].sum().backward()
        grads = [p.grad for p in enc.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)


def test_revision_follows_folder_contents(zoo: dict[str, str], tmp_path: Path) -> None:
    from tests.support.tiny_models import write_tiny_bert

    a = build_encoder(EncoderSpec(write_tiny_bert(tmp_path / "m", seed=0)), modality="text")
    b = build_encoder(EncoderSpec(write_tiny_bert(tmp_path / "m", seed=5)), modality="text")
    assert a.revision.startswith("local-") and a.revision != b.revision
    again = build_encoder(EncoderSpec(str(tmp_path / "m")), modality="text")
    assert again.revision == b.revision


def test_bad_settings_are_config_errors(zoo: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="hf_text, hf_vision, open_clip"):
        build_encoder(EncoderSpec(zoo["bert"], kind="nope"), modality="text")
    with pytest.raises(ConfigError, match="pooling"):
        build_encoder(EncoderSpec(zoo["vit"], pooling="padded_mean"), modality="image")
    with pytest.raises(ConfigError, match="dtype"):
        build_encoder(EncoderSpec(zoo["bert"], dtype="float8"), modality="text")
    with pytest.raises(ConfigError, match="CUDA"):
        build_encoder(EncoderSpec(zoo["bert"], quantization="8bit"), modality="text")
    with pytest.raises(ConfigError, match="cannot encode"):
        build_encoder(EncoderSpec(zoo["bert"], kind="hf_text"), modality="image")


def test_half_precision_dtype(zoo: dict[str, str]) -> None:
    enc = build_encoder(EncoderSpec(zoo["bert"], dtype="bfloat16"), modality="text")
    assert next(enc.model.parameters()).dtype == torch.bfloat16
    states = enc.encode(TEXTS)
    assert states.dtype == torch.float32 and torch.isfinite(states).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_quantized_llm_on_gpu(zoo: dict[str, str]) -> None:
    pytest.importorskip("bitsandbytes")
    enc = build_encoder(
        EncoderSpec(zoo["llama"], quantization="8bit"), device="cuda", modality="text"
    )
    states = enc.encode(TEXTS)
    assert states.shape == (3, 4, 48) and torch.isfinite(states).all()
