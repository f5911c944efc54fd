"""8- and 4-bit loading through bitsandbytes (GPU only)."""

from __future__ import annotations

from typing import Any

import torch

from recsys.channels import EncoderSpec
from recsys.encoders.base import torch_dtype
from recsys.errors import ConfigError


def quantization_kwargs(spec: EncoderSpec, device: torch.device | str | None) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for `spec.quantization` (empty when None).

    Raises:
        ConfigError: an unknown mode, no CUDA device, or bitsandbytes not installed.
    """
    if spec.quantization is None:
        return {}
    spec.check()
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type != "cuda" or not torch.cuda.is_available():
        raise ConfigError(f"encoder.quantization={spec.quantization} needs a CUDA device")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            "encoder.quantization needs bitsandbytes: pip install 'bitsandbytes>=0.43'"
        ) from None
    from transformers import BitsAndBytesConfig

    if spec.quantization == "8bit":
        config = BitsAndBytesConfig(load_in_8bit=True)
    else:
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch_dtype(spec))
    return {"quantization_config": config, "device_map": {"": dev}}
