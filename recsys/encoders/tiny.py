"""Tiny randomly initialised encoders written as Hugging Face folders, for tests and demos.

They load back through exactly the path a hub id takes (`from_pretrained(folder)`), so the
encoders, the cache and the adapters are exercised without any download.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

_WORDS = [
    "the",
    "a",
    "of",
    "and",
    "for",
    "with",
    "red",
    "blue",
    "green",
    "small",
    "large",
    "steel",
    "glass",
    "lab",
    "kit",
    "set",
    "tube",
    "beaker",
    "flask",
    "pipette",
    "microscope",
    "slide",
    "scale",
    "digital",
    "thermometer",
    "gloves",
    "test",
    "cable",
    "battery",
    "lamp",
    "lens",
    "filter",
    "clamp",
    "stand",
    "pack",
    "mini",
    "pro",
    "plastic",
    "rubber",
    "paper",
]


def write_tiny_bert(
    folder: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0
) -> Path:
    """A BERT with `layers` blocks of width `hidden` and a word-level uncased tokenizer."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = Path(folder)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS, *"abcdefghijklmnopqrstuvwxyz"]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_llama(
    folder: str | Path, *, hidden: int = 48, layers: int = 3, seed: int = 0
) -> Path:
    """A decoder-only LLaMA with a word-level tokenizer that prepends BOS and has no CLS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    folder = Path(folder)
    vocab = ["<unk>", "<s>", "</s>", *_WORDS, *"abcdefghijklmnopqrstuvwxyz"]
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
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(seed)
    LlamaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_vit(folder: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A ViT on 32x32 images with 8x8 patches and its image processor."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = Path(folder)
    config = ViTConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        image_size=32,
        patch_size=8,
    )
    torch.manual_seed(seed)
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


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

    Roles: bert (width 32, 2 blocks), wide_bert (width 64, 4 blocks), llama (width 48,
    3 blocks), vit (width 32, 2 blocks), open_clip (width 32, 3 blocks).
    """
    folder = Path(folder)
    return {
        "bert": str(write_tiny_bert(folder / "bert")),
        "wide_bert": str(write_tiny_bert(folder / "wide_bert", hidden=64, layers=4, seed=1)),
        "llama": str(write_tiny_llama(folder / "llama")),
        "vit": str(write_tiny_vit(folder / "vit")),
        "open_clip": register_tiny_open_clip(folder / "open_clip"),
    }
