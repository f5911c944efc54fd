"""Tiny randomly initialised encoders built from configs, written as Hugging Face folders.

They load back through exactly the path a hub id takes (`from_pretrained(folder)`), so the
encoders, the cache and the adapters are exercised without any download. `SMALL` and
`VISION` are the sizes every tiny model shares, also for in-memory models
(`ViTConfig(**VISION)`); the captioners in `tests.support.tiny_captioners` use them too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

SMALL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
VISION = {**SMALL, "image_size": 32, "patch_size": 8}

ENCODER_WORDS = (  # noqa: SIM905 (a word list reads better as one string)
    "the a of and for with red blue green small large steel glass lab kit set tube beaker "
    "flask pipette microscope slide scale digital thermometer gloves test cable battery lamp "
    "lens filter clamp stand pack mini pro plastic rubber paper"
).split()
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")
BERT_VOCAB_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _sizes(hidden: int, layers: int, heads: int = 2) -> dict[str, int]:
    return {
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
    }


def _save(folder: str | Path, build: Callable[[], Any], preprocessor: Any, seed: int) -> Path:
    """Build the model under `seed` and save it with its tokenizer or image processor."""
    torch.manual_seed(seed)
    build().save_pretrained(folder)
    preprocessor.save_pretrained(folder)
    return Path(folder)


def write_tiny_bert(
    folder: str | Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
    words: Sequence[str] = (*ENCODER_WORDS, *LETTERS),
    pooler: bool = False,
) -> Path:
    """A BERT with `layers` blocks of width `hidden` and a word-level uncased tokenizer.

    Args:
        folder: where the model and its tokenizer are saved.
        words: the vocabulary after the five BERT special tokens.
        pooler: keep BERT's pooler head (unused by the encoders; the baselines keep it).
    """
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = [*BERT_VOCAB_SPECIALS, *words]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=64, **_sizes(hidden, layers))
    return _save(folder, lambda: BertModel(config, add_pooling_layer=pooler), tokenizer, seed)


def write_tiny_mpnet(
    folder: str | Path, *, hidden: int = 32, layers: int = 3, seed: int = 0
) -> Path:
    """An MPNet (all-mpnet-base-v2's architecture) with its `<s> ... </s>` tokenizer.

    MPNet has no token type ids and relative position buckets; its pad id is 1 (as in the
    real model), so position ids start at 2 and `max_position_embeddings` leaves room.
    """
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    vocab = ["<s>", "<pad>", "</s>", "<unk>", *ENCODER_WORDS, *LETTERS, "<mask>"]
    tokenizer = MPNetTokenizer(
        vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True, unk_token="<unk>"
    )
    config = MPNetConfig(
        vocab_size=len(vocab),
        max_position_embeddings=66,  # max_tokens 64 + the padding offset of 2
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        **_sizes(hidden, layers),
    )
    return _save(folder, lambda: MPNetModel(config, add_pooling_layer=False), tokenizer, seed)


def write_tiny_llama(
    folder: str | Path, *, hidden: int = 48, layers: int = 3, seed: int = 0
) -> Path:
    """A decoder-only LLaMA with a word-level tokenizer that prepends BOS and has no CLS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    vocab = ["<unk>", "<s>", "</s>", *ENCODER_WORDS, *LETTERS]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 1)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    config = LlamaConfig(
        vocab_size=len(vocab),
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        **_sizes(hidden, layers),
    )
    return _save(folder, lambda: LlamaModel(config), tokenizer, seed)


def write_tiny_vit(
    folder: str | Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int | None = None,
    image_size: int = 32,
    patch_size: int = 8,
    pooler: bool = False,
    seed: int = 0,
) -> Path:
    """A ViT on `image_size`-pixel images with `patch_size` patches and its image processor.

    The defaults are the test size; the efficiency benchmark's small ViT is
    `hidden=192, layers=6, heads=3, intermediate=768, image_size=64, patch_size=16,
    pooler=True`. `intermediate` defaults to twice the width.
    """
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    sizes = _sizes(hidden, layers, heads)
    if intermediate is not None:
        sizes["intermediate_size"] = intermediate
    config = ViTConfig(image_size=image_size, patch_size=patch_size, **sizes)
    processor = ViTImageProcessor(size={"height": image_size, "width": image_size})
    return _save(folder, lambda: ViTModel(config, add_pooling_layer=pooler), processor, seed)


def register_tiny_open_clip(folder: str | Path, name: str = "tiny-vit-oc") -> str:
    """Register a tiny open_clip ViT config (`open_clip.add_model_config`); returns its name."""
    import open_clip

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 3,
            "width": 32,
            "patch_size": 8,
            "head_width": 16,
        },
        "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
    }
    (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / f"{name}.json")
    return name


def write_tiny_zoo(folder: str | Path) -> dict[str, str]:
    """Every tiny encoder the tests use, by role: spec `model` strings (open_clip: its name).

    Roles: bert (width 32, 2 blocks), wide_bert (width 64, 4 blocks), mpnet (width 32,
    3 blocks), llama (width 48, 3 blocks), vit (width 32, 2 blocks), open_clip (width 32,
    3 blocks).
    """
    folder = Path(folder)
    return {
        "bert": str(write_tiny_bert(folder / "bert")),
        "wide_bert": str(write_tiny_bert(folder / "wide_bert", hidden=64, layers=4, seed=1)),
        "mpnet": str(write_tiny_mpnet(folder / "mpnet")),
        "llama": str(write_tiny_llama(folder / "llama")),
        "vit": str(write_tiny_vit(folder / "vit")),
        "open_clip": register_tiny_open_clip(folder / "open_clip"),
    }
