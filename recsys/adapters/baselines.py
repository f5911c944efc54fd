"""The fine-tuning baselines IISAN is compared with: `fft`, `adapter`, `lora`, `bitfit`.

All four share one tower (`recsys.adapters.tuned.TunedTower`: live encoders -> last-block
pooled states -> the `frozen` method's head: one Linear over the concatenated states, or with
`head = "iisan"` IISAN-Versa's per-channel heads and fusion) and differ only in which encoder
parameters train, each declared structurally:

* `fft`: every encoder parameter the pooled state depends on (unused heads such as BERT's
  pooler are found by a gradient probe and left out).
* `adapter`: Houlsby bottleneck adapters (width `bottleneck`, default 64, up-projection at
  zero) after the attention and feed-forward output projections of every block; the
  backbone, LayerNorms included, stays frozen.
* `lora`: peft LoRA on every block's query and value projections; the pretrained weights
  stay in place as peft's frozen base layers (the reference code replaced them with random
  matrices, iisan_reference.md §9 item 7), and `lora_B = 0` so training starts from the
  pretrained function.
* `bitfit`: the biases the pooled state depends on (every module's own `bias` tensor).

Options (scenario `method_options`; `TunedOptions` and its subclasses): `encode_batch_size`
(items per encoder call when evaluating, 64), `input_store_mb` (precompute image/video inputs
up to this size, 1024), `head` / `fold_heads` (`HeadOptions`); `adapter`: `bottleneck`;
`lora`: `r` (8), `alpha` (16), `dropout` (0.0), `target_modules` (full module names;
default: the q/v projections of every block).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recsys.adapters.houlsby import find_blocks, insert_houlsby_adapters, lora_targets
from recsys.adapters.side import HeadOptions
from recsys.adapters.tuned import ItemInputs, Probe, TunedChannel, TunedTower, backbone_of
from recsys.cache.keys import channel_items
from recsys.errors import ConfigError
from recsys.methods import MethodContext, options_of, options_record, register_method
from recsys.models.base import MethodDefaults
from recsys.space import lr_space


@dataclass(frozen=True)
class TunedOptions(HeadOptions):
    """`method_options` every fine-tuning baseline takes (`fft`, `bitfit`; base of the rest)."""

    encode_batch_size: int = 64  # items per encoder call when evaluating
    input_store_mb: int = 1024  # precompute media inputs up to this size (MiB)

    def check(self, prefix: str) -> None:
        if self.encode_batch_size < 1:
            raise ConfigError("must be >= 1", field=f"{prefix}.encode_batch_size")
        if self.input_store_mb < 0:
            raise ConfigError("must be >= 0", field=f"{prefix}.input_store_mb")


@dataclass(frozen=True)
class AdapterOptions(TunedOptions):
    """`method_options` of `adapter` (Houlsby)."""

    bottleneck: int = 64  # Houlsby inner width

    def check(self, prefix: str) -> None:
        super().check(prefix)
        if self.bottleneck < 1:
            raise ConfigError("must be >= 1", field=f"{prefix}.bottleneck")


@dataclass(frozen=True)
class LoraOptions(TunedOptions):
    """`method_options` of `lora` (peft)."""

    r: int = 8  # LoRA rank
    alpha: float = 16.0  # scaling alpha / r
    dropout: float = 0.0  # dropout on the LoRA branch input
    target_modules: tuple[str, ...] | None = None  # full module names; default: q/v per block

    def check(self, prefix: str) -> None:
        super().check(prefix)
        if self.r < 1:
            raise ConfigError("must be >= 1", field=f"{prefix}.r")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("must be in [0, 1)", field=f"{prefix}.dropout")
        if self.target_modules is not None and not self.target_modules:
            raise ConfigError(
                "list at least one module, or omit it", field=f"{prefix}.target_modules"
            )


OPTIONS: dict[str, type[TunedOptions]] = {
    "fft": TunedOptions,
    "adapter": AdapterOptions,
    "lora": LoraOptions,
    "bitfit": TunedOptions,
    "none": TunedOptions,  # encoders frozen, head only: the tests' reference point
}

Plan = Callable[[nn.Module, Probe, Any, int], tuple[list[nn.Parameter], dict]]


def _plan_fft(backbone: nn.Module, probe: Probe, opts: TunedOptions, seed: int):
    used = probe.used_parameters(backbone)
    return used, {}


def _plan_none(backbone: nn.Module, probe: Probe, opts: TunedOptions, seed: int):
    return [], {}


def _plan_bitfit(backbone: nn.Module, probe: Probe, opts: TunedOptions, seed: int):
    biases = {id(m._parameters["bias"]) for m in backbone.modules() if _own_bias(m)}
    used = [p for p in probe.used_parameters(backbone) if id(p) in biases]
    return used, {"bias_tensors": len(used)}


def _own_bias(module: nn.Module) -> bool:
    return module._parameters.get("bias") is not None


def _plan_adapter(backbone: nn.Module, probe: Probe, opts: AdapterOptions, seed: int):
    family = find_blocks(backbone)[0].family.name
    generator = torch.Generator().manual_seed(seed)
    adapters = insert_houlsby_adapters(backbone, opts.bottleneck, generator)
    device = next(backbone.parameters()).device
    for adapter in adapters:
        adapter.to(device)
    params = [p for a in adapters for p in a.parameters()]
    return params, {"block_family": family, "adapters": len(adapters)}


def _plan_lora(backbone: nn.Module, probe: Probe, opts: LoraOptions, seed: int):
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    targets = opts.target_modules
    targets = list(targets) if targets is not None else lora_targets(backbone)
    config = LoraConfig(
        r=opts.r,
        lora_alpha=opts.alpha,
        lora_dropout=opts.dropout,
        target_modules=targets,
        bias="none",
    )
    with torch.random.fork_rng(devices=[]):  # peft draws lora_A from the global RNG
        torch.manual_seed(seed)
        inject_adapter_in_model(config, backbone)
    layers = [m for m in backbone.modules() if isinstance(m, LoraLayer)]
    if len(layers) != len(targets):
        raise ConfigError(f"LoRA matched {len(layers)} modules, expected {len(targets)}")
    params = [
        p
        for layer in layers
        for attr in ("lora_A", "lora_B")
        for sub in getattr(layer, attr).values()
        for p in sub.parameters()
    ]
    facts = {"r": config.r, "alpha": config.lora_alpha, "targets": len(targets)}
    return params, facts


PLANS: dict[str, Plan] = {
    "fft": _plan_fft,
    "adapter": _plan_adapter,
    "lora": _plan_lora,
    "bitfit": _plan_bitfit,
    "none": _plan_none,
}


def build_tuned_tower(ctx: MethodContext, method: str) -> TunedTower:
    """Build the tower of one fine-tuning baseline over the context's channels.

    Args:
        ctx: split, channels, options, device and seed of the run.
        method: "fft", "adapter", "lora", "bitfit" (or "none": encoders frozen, heads only).

    Returns:
        A `TunedTower` whose `param_groups()` hold the heads and the method's encoder tensors.

    Raises:
        ConfigError: unknown method or option, a channel without inputs, or an encoder
            whose blocks the method cannot adapt.
    """
    from recsys.encoders import build_encoder

    if method not in PLANS:
        raise ConfigError(f"unknown fine-tuning method {method!r}; valid: {', '.join(PLANS)}")
    if not ctx.channels:
        raise ConfigError(f"method {method!r} needs at least one input channel")
    opts = options_of(OPTIONS[method], ctx.options, method)
    channels: list[TunedChannel] = []
    trainable: list[nn.Parameter] = []
    facts: dict[str, Any] = {"options": options_record(opts), "plan": {}}
    for k, channel in enumerate(ctx.channels):
        raw = channel_items(channel)
        if len(raw) != ctx.split.num_items:
            raise ConfigError(
                f"channel {channel.name!r} has {len(raw)} items but the split's catalogue "
                f"has {ctx.split.num_items}"
            )
        spec = dataclasses.replace(channel.encoder, layers=None)  # the last block is selected
        encoder = build_encoder(
            spec, device=ctx.device, for_training=True, modality=channel.modality
        )
        store = opts.input_store_mb << 20
        inputs = ItemInputs(encoder, raw, channel.modality, store_bytes=store)
        backbone = backbone_of(encoder)
        params, info = PLANS[method](backbone, Probe(encoder, inputs), opts, ctx.seed + 1 + k)
        facts["plan"][channel.name] = info
        channels.append(TunedChannel(channel.name, encoder, inputs))
        trainable += params
    return TunedTower(
        channels,
        trainable,
        method,
        facts,
        out_dim=ctx.out_dim,
        encode_batch=opts.encode_batch_size,
        seed=ctx.seed,
        head_options=HeadOptions(opts.head, opts.fold_heads),
    ).to(ctx.device)


_DESCRIPTIONS = {
    "fft": "full fine-tuning of the encoders (baseline)",
    "adapter": "Houlsby bottleneck adapters in every encoder block (baseline)",
    "lora": "LoRA (peft) on the encoders' query/value projections (baseline)",
    "bitfit": "BitFit: only the encoders' biases train (baseline)",
}

# The adapter LR is the LR of the encoder tensors each method trains. Full fine-tuning moves
# pretrained weights, which wants a smaller LR than parameters that start at zero or near
# identity (Houlsby up-projections, lora_B, biases), hence its lower range.
_ENCODER_LR = {"fft": (1e-6, 1e-3)}  # the others: (1e-5, 1e-2)

for _name, _text in _DESCRIPTIONS.items():
    register_method(
        _name,
        lambda ctx, _m=_name: build_tuned_tower(ctx, _m),
        options=OPTIONS[_name],
        defaults=MethodDefaults(batch_size=64, lr=2e-4, loss="inbatch_logq"),
        description=_text,
        space=lr_space(recommender=(1e-5, 1e-2), adapter=_ENCODER_LR.get(_name, (1e-5, 1e-2))),
    )
