"""MPNet (all-mpnet-base-v2's architecture) through the text encoder and the cache, on the
zoo's tiny MPNet built from a config: its tokenizer has `<s> ... </s>` and no token types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recsys.cache import build_or_load_cache
from recsys.channels import ChannelInput, EncoderSpec
from recsys.encoders import build_encoder

TEXTS = ["red glass beaker", "lab kit with steel clamp stand and rubber gloves", "lens"]


def test_mpnet_reads_cls_by_default_and_feeds_no_token_type_ids(zoo: dict[str, str]) -> None:
    enc = build_encoder(EncoderSpec(zoo["mpnet"]), modality="text")
    assert (enc.pooling, enc.num_blocks, enc.width) == ("cls", 3, 32)
    assert enc.selected_layers == (0, 1, 2, 3)
    assert "token_type_ids" not in enc.tokenizer(TEXTS[0])
    inputs = enc.prepare(TEXTS)
    assert set(inputs) == {"input_ids", "attention_mask"}
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert (ids[:, 0] == enc.tokenizer.cls_token_id).all() and enc.tokenizer.cls_token == "<s>"
    assert mask[2].sum() == 3 and (ids[2, 3:] == enc.tokenizer.pad_token_id).all()  # <pad> = 1


def test_mpnet_cls_and_mean_states_are_the_model_hidden_states(zoo: dict[str, str]) -> None:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(zoo["mpnet"]).eval()
    cls = build_encoder(EncoderSpec(zoo["mpnet"], layers=(0, 2, 3)), modality="text")
    mean = build_encoder(EncoderSpec(zoo["mpnet"], pooling="mean", layers=(1, 3)), modality="text")
    for text in TEXTS:
        tokens = cls.tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            hidden = model(**tokens, output_hidden_states=True).hidden_states
        got = cls.encode([text])[0]  # [3, 32]
        for step, layer in enumerate((0, 2, 3)):
            assert torch.allclose(got[step], hidden[layer][0, 0], atol=1e-5)
        got = mean.encode([text])[0]  # mean over the words: <s> and </s> left out
        for step, layer in enumerate((1, 3)):
            assert torch.allclose(got[step], hidden[layer][0, 1:-1].mean(0), atol=1e-5)


def test_mpnet_states_do_not_depend_on_batch_padding(zoo: dict[str, str]) -> None:
    for pooling in ("cls", "mean"):
        enc = build_encoder(EncoderSpec(zoo["mpnet"], pooling=pooling), modality="text")
        batched = enc.encode(TEXTS)  # padded to the longest text
        alone = torch.cat([enc.encode([text]) for text in TEXTS])
        assert torch.allclose(batched, alone, atol=1e-5), pooling
        assert not torch.allclose(batched[0, -1], batched[1, -1])


def test_mpnet_cache_stores_the_encoder_states(zoo: dict[str, str], tmp_path: Path) -> None:
    texts = tuple(f"{w} glass beaker" + " lab kit" * (i % 4) for i, w in enumerate(["red"] * 9))
    channel = ChannelInput("title", "text", EncoderSpec(zoo["mpnet"]), texts=texts)
    cache = build_or_load_cache(channel, cache_dir=tmp_path, batch_size=4, progress=False)
    direct = build_encoder(channel.encoder, modality="text").encode(list(texts))  # [9, 4, 32]
    assert cache.num_steps == 4 and cache.shared.shape == (1, 32)  # CLS at index 0: once
    full = cache.gather(np.arange(len(texts) + 1)).astype(np.float32)
    np.testing.assert_allclose(full[1:], direct.numpy(), atol=2e-3)
    assert not full[0].any()
