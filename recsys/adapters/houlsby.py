"""Transformer-block anatomy and Houlsby bottleneck adapters.

The fine-tuning baselines need to know where, inside an encoder block, the attention output
projection and the feed-forward output projection sit (Houlsby adapters go right after them,
before the residual add) and which modules project queries and values (LoRA targets). Each
supported block family is one `BlockFamily` row naming those modules by their path inside
the block; `find_blocks` matches a model's modules against the table, so an unsupported
architecture fails with a clear error instead of silently getting no adapters.

Supported families (Hugging Face transformers 5 module layout, and open_clip):

* bert (BERT, RoBERTa, MiniLM, ELECTRA): `attention.output.dropout` and `output.dropout`;
  LoRA on `attention.self.query` / `attention.self.value`.
* vit (ViT, DeiT; transformers 5 layout): `attention.o_proj` and `mlp.fc2`; LoRA on
  `attention.q_proj` / `attention.v_proj`.
* clip (CLIP / SigLIP vision and text layers): `self_attn.out_proj` and `mlp.fc2`; LoRA on
  `self_attn.q_proj` / `self_attn.v_proj`.
* llama (Llama, Mistral, Qwen2 decoders): `self_attn.o_proj` and `mlp.down_proj`; LoRA on
  `self_attn.q_proj` / `self_attn.v_proj`.
* distilbert: `attention.out_lin` and `ffn.lin2`; LoRA on `attention.q_lin` / `v_lin`.
* open_clip (ResidualAttentionBlock): `ls_1` and `ls_2` (the layer scales right before each
  residual add); q/k/v are packed, so LoRA needs explicit `target_modules`.

For BERT the adapter wraps the dropout that follows the dense projection (BertSelfOutput /
BertOutput apply dense, dropout, then LayerNorm(x + residual)), as the IISAN reference does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from recsys.errors import ConfigError


@dataclass(frozen=True)
class BlockFamily:
    """Where the interesting modules of one transformer-block family live.

    Attributes:
        name: family name shown in errors and `describe()`.
        attn_out: path (inside the block) of the module whose output is the attention
            branch just before its residual add.
        ffn_out: same for the feed-forward branch.
        width_from: path of a module that reveals the block width (see `_width_of`).
        query: path of the query projection (None when q/k/v are packed).
        value: path of the value projection (None when packed).
    """

    name: str
    attn_out: str
    ffn_out: str
    width_from: str
    query: str | None
    value: str | None


FAMILIES: tuple[BlockFamily, ...] = (
    BlockFamily(
        "bert",
        "attention.output.dropout",
        "output.dropout",
        "attention.output.dense",
        "attention.self.query",
        "attention.self.value",
    ),
    BlockFamily(
        "vit",
        "attention.o_proj",
        "mlp.fc2",
        "attention.o_proj",
        "attention.q_proj",
        "attention.v_proj",
    ),
    BlockFamily(
        "clip",
        "self_attn.out_proj",
        "mlp.fc2",
        "self_attn.out_proj",
        "self_attn.q_proj",
        "self_attn.v_proj",
    ),
    BlockFamily(
        "llama",
        "self_attn.o_proj",
        "mlp.down_proj",
        "self_attn.o_proj",
        "self_attn.q_proj",
        "self_attn.v_proj",
    ),
    BlockFamily(
        "distilbert",
        "attention.out_lin",
        "ffn.lin2",
        "attention.out_lin",
        "attention.q_lin",
        "attention.v_lin",
    ),
    BlockFamily(
        "mpnet",  # MPNetAttention: LayerNorm(dropout(attn(x)) + x); MPNetOutput as BERT's
        "attention.dropout",
        "output.dropout",
        "attention.attn.o",
        "attention.attn.q",
        "attention.attn.v",
    ),
    BlockFamily("open_clip", "ls_1", "ls_2", "ln_1", None, None),
)

SUPPORTED = ", ".join(f.name for f in FAMILIES)


@dataclass(frozen=True)
class Block:
    """One matched transformer block: its full name in the model, the module, its family."""

    name: str
    module: nn.Module
    family: BlockFamily


def _resolve(module: nn.Module, path: str) -> nn.Module | None:
    try:
        return module.get_submodule(path)
    except AttributeError:
        return None


def _width_of(module: nn.Module) -> int | None:
    """Output width of a Linear, LayerNorm or Conv1D-like module, else None."""
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.LayerNorm):
        return int(module.normalized_shape[-1])
    nf = getattr(module, "nf", None)  # transformers' Conv1D (GPT-2 style)
    return int(nf) if isinstance(nf, int) else None


def _matches(module: nn.Module, family: BlockFamily) -> bool:
    paths = (family.attn_out, family.ffn_out, family.width_from)
    if any(_resolve(module, p) is None for p in paths):
        return False
    return _width_of(_resolve(module, family.width_from)) is not None


def find_blocks(model: nn.Module) -> list[Block]:
    """Every transformer block of `model` whose anatomy is in `FAMILIES`, in module order.

    Raises:
        ConfigError: no block of a supported family was found, or the blocks found are
            fewer than the model's configured layer count (a partially supported model).
    """
    blocks: list[Block] = []
    inside: list[str] = []  # names of matched blocks; their submodules are not re-matched
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue
        family = next((f for f in FAMILIES if _matches(module, f)), None)
        if family is not None:
            blocks.append(Block(name, module, family))
            inside.append(name)
    if not blocks:
        raise ConfigError(
            f"cannot place adapters in {type(model).__name__}: no transformer block of a "
            f"supported family ({SUPPORTED}) was found; see recsys/adapters/houlsby.py"
        )
    expected = _configured_layers(model)
    if expected is not None and len(blocks) != expected:
        raise ConfigError(
            f"{type(model).__name__} has {expected} layers but only {len(blocks)} blocks of a "
            f"supported family ({SUPPORTED}); refusing to adapt part of the model"
        )
    return blocks


def _configured_layers(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    value = getattr(config, "num_hidden_layers", None)
    return int(value) if isinstance(value, int) else None


def block_width(block: Block) -> int:
    width = _width_of(block.module.get_submodule(block.family.width_from))
    assert width is not None  # guaranteed by _matches
    return width


class HoulsbyAdapter(nn.Module):
    """`x + W_up act(W_down x)`; `W_up` and its bias start at zero (identity at init).

    Args:
        width: model width d.
        bottleneck: inner width r.
        generator: RNG for the down projection, so adapters are reproducible per seed.
    """

    def __init__(self, width: int, bottleneck: int, generator: torch.Generator | None = None):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        self.act = nn.GELU()
        with torch.no_grad():
            bound = 1.0 / width**0.5  # nn.Linear's default range, drawn from our generator
            self.down.weight.uniform_(-bound, bound, generator=generator)
            self.down.bias.zero_()
            self.up.weight.zero_()
            self.up.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., d] -> [..., d]
        return x + self.up(self.act(self.down(x)))


class AdaptedOutput(nn.Module):
    """Runs the wrapped module, then a Houlsby adapter on its (first) output."""

    def __init__(self, inner: nn.Module, adapter: HoulsbyAdapter) -> None:
        super().__init__()
        self.inner = inner
        self.adapter = adapter

    def forward(self, *args: object, **kwargs: object) -> object:
        out = self.inner(*args, **kwargs)
        if isinstance(out, tuple):  # attention modules that return (output, weights)
            return (self.adapter(out[0]), *out[1:])
        return self.adapter(out)


def _replace(root: nn.Module, path: str, make: Callable[[nn.Module], nn.Module]) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    old = getattr(parent, child)
    if isinstance(old, AdaptedOutput):
        raise ConfigError(f"module {path!r} already carries a Houlsby adapter")
    setattr(parent, child, make(old))


def insert_houlsby_adapters(
    model: nn.Module, bottleneck: int = 64, generator: torch.Generator | None = None
) -> list[HoulsbyAdapter]:
    """Insert two serial Houlsby adapters into every block of `model`, in place.

    One goes after the attention output projection and one after the feed-forward output
    projection, each before its residual add. With the up-projections at zero the model
    computes exactly what it did before.

    Args:
        model: a backbone whose blocks belong to a family in `FAMILIES`.
        bottleneck: adapter inner width.
        generator: RNG for the adapters' down projections.

    Returns:
        The inserted adapters, in block order (attention, then FFN, per block).

    Raises:
        ConfigError: the model's blocks are not supported (see `find_blocks`).
    """
    if bottleneck < 1:
        raise ConfigError(f"adapter bottleneck must be >= 1, got {bottleneck}")
    adapters: list[HoulsbyAdapter] = []
    for block in find_blocks(model):
        width = block_width(block)
        for path in (block.family.attn_out, block.family.ffn_out):
            adapter = HoulsbyAdapter(width, bottleneck, generator)
            _replace(block.module, path, lambda old, a=adapter: AdaptedOutput(old, a))
            adapters.append(adapter)
    return adapters


def lora_targets(model: nn.Module) -> list[str]:
    """Full module names of every block's query and value projections (LoRA targets).

    Raises:
        ConfigError: unsupported blocks, or a family with packed q/k/v (open_clip), for
            which the caller must name `target_modules` explicitly.
    """
    names: list[str] = []
    for block in find_blocks(model):
        family = block.family
        if family.query is None or family.value is None:
            raise ConfigError(
                f"{family.name} blocks pack q/k/v into one projection; give the lora method "
                "an explicit `target_modules` option"
            )
        prefix = f"{block.name}." if block.name else ""
        names += [prefix + family.query, prefix + family.value]
    return names
