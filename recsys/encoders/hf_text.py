"""Hugging Face text encoders through the Auto classes (BERT-like, decoder LLMs, T5 encoders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from plumbing.revision import files_revision
from recsys.channels import EncoderSpec
from recsys.encoders.base import Encoder, check_pooling, pool_tokens, torch_dtype
from recsys.encoders.layers import select_layers
from recsys.encoders.quant import quantization_kwargs


def load_tokenizer(spec: EncoderSpec) -> Any:
    """The tokenizer of a text encoder (the encoder's own, and the one that measures the
    per-field token budgets of text templates)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        spec.model, revision=spec.revision, trust_remote_code=spec.trust_remote_code
    )


class HFTextEncoder(Encoder):
    """Per-layer pooled states of a Hugging Face text model.

    Pooling "auto" takes the CLS token when the tokenizer has one (BERT, RoBERTa) and the
    mean over real, non-special tokens otherwise (decoder LLMs: the BOS token, which carries
    very large activations in LLaMA's middle layers, is left out). `padded_mean` reproduces
    the reference code: right-padded with id 0 to `max_tokens`, no attention mask, mean over
    every position.

    Args:
        spec: the encoder spec (hub id or local folder in `spec.model`).
        device: where the model runs.
        for_training: keep parameters trainable and the model in train mode.
    """

    modality = "text"

    def __init__(
        self, spec: EncoderSpec, device: torch.device | str | None, for_training: bool
    ) -> None:
        super().__init__(spec, for_training)
        from transformers import AutoModel

        check_pooling(spec, ("auto", "cls", "mean", "padded_mean"))
        common = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
        self.tokenizer = load_tokenizer(spec)
        model = AutoModel.from_pretrained(
            spec.model, dtype=torch_dtype(spec), **common, **quantization_kwargs(spec, device)
        )
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()  # T5-style: the encoder stack is the text encoder
        self.model = model
        config = model.config
        self.num_blocks = int(config.num_hidden_layers)
        self.width = int(config.hidden_size)
        self.selected_layers = select_layers(self.num_blocks, spec.groups, spec.layers)
        has_cls = self.tokenizer.cls_token is not None
        self.pooling = spec.pooling if spec.pooling != "auto" else ("cls" if has_cls else "mean")
        if self.tokenizer.pad_token is None:  # LLaMA-style tokenizers ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.tokenizer.padding_side = "right"
        self.revision = (
            files_revision(spec.model)
            or getattr(config, "_commit_hash", None)
            or spec.revision
            or "unknown"
        )
        self._finish(model, device)

    def load(self, item: Any) -> str:
        if not isinstance(item, str):
            raise TypeError(f"a text encoder takes strings, got {type(item).__name__}")
        return item

    def size_key(self, item: Any) -> int:
        return len(item) if isinstance(item, str) else 0

    def truncated(self, items: Sequence[Any]) -> int:
        """The texts whose tokens (special ones included) exceed `max_tokens`."""
        texts = [item for item in items if isinstance(item, str)]
        if not texts:
            return 0
        ids = self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]
        return sum(len(row) > self.spec.max_tokens for row in ids)

    def prepare(self, loaded: Sequence[str]) -> dict[str, torch.Tensor]:
        texts = list(loaded)
        if self.pooling == "padded_mean":
            ids = self.tokenizer(texts, truncation=True, max_length=self.spec.max_tokens)
            rows = [row + [0] * (self.spec.max_tokens - len(row)) for row in ids["input_ids"]]
            input_ids = torch.tensor(rows, dtype=torch.long)
            return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.spec.max_tokens,
            padding=True,
            return_tensors="pt",
            return_special_tokens_mask=self.pooling == "mean",
        )
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if self.pooling == "mean":
            content = enc["attention_mask"] * (1 - enc["special_tokens_mask"])
            empty = content.sum(dim=1, keepdim=True) == 0  # a text of only special tokens
            out["pool_mask"] = torch.where(empty, enc["attention_mask"], content)
        return out

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pool_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:  # -> [B, steps, width] fp32
        device = self.device
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        mask = attention_mask if pool_mask is None else pool_mask.to(device)
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        states = [
            pool_tokens(out.hidden_states[i], self.pooling, mask) for i in self.selected_layers
        ]
        return torch.stack(states, dim=1).float()  # [B, steps, width]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_tokens": self.spec.max_tokens}
