"""Hugging Face vision-language captioners, one code path for every family.

A `Family` says how a model's inputs are built (`style`), whether it takes a clip natively,
and how many prompt tokens its `generate()` echoes before the new ones. Models load through
`AutoProcessor` / `AutoModelForImageTextToText` from a hub id or a local folder; decoder-only
models are batched with left padding; only the generated tokens are decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from captioning.base import CaptionerOptions, CaptioningError, clean_caption
from captioning.prompts import video_instruction

if TYPE_CHECKING:
    import torch
    from PIL import Image

DTYPES = ("float32", "float16", "bfloat16", "float64")  # float64: exactness tests only


@dataclass(frozen=True)
class Family:
    """How one model family is driven.

    Attributes:
        name: registry name.
        style: "prefix" (BLIP, GIT: caption opening), "question" (BLIP-2, InstructBLIP-Video:
            plain text prompt) or "chat" (chat template with image / video entries).
        video_native: the model takes a clip (frames) as a video input.
        echo: prompt tokens at the start of generate()'s output: "input" (the whole
            input_ids, when the output does start with them), "input-1" (BLIP drops its
            final [SEP]) or "none".
    """

    name: str
    style: Literal["prefix", "question", "chat"]
    video_native: bool
    echo: Literal["input", "input-1", "none"]


FAMILIES: tuple[Family, ...] = (
    Family("blip", "prefix", False, "input-1"),
    Family("blip2", "question", False, "input"),
    Family("git", "prefix", False, "input"),
    Family("llava", "chat", False, "input"),
    Family("llava-next", "chat", False, "input"),
    Family("llava-next-video", "chat", True, "input"),
    Family("qwen2-vl", "chat", True, "input"),
    Family("qwen2.5-vl", "chat", True, "input"),
    Family("instructblip-video", "question", True, "input"),
)


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when available, else "cpu"; anything else is passed through."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _torch_dtype(name: str) -> torch.dtype:
    import torch

    if name not in DTYPES:
        raise CaptioningError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}")
    return getattr(torch, name)


@dataclass
class Generation:
    """Raw result of one batched generate(): cleaned texts and, on request, per-step logits."""

    texts: list[str]
    logits: list[np.ndarray] | None  # per item: float64 [steps, vocab]


class HFCaptioner:
    """A loaded Hugging Face captioner for one `Family`.

    Args:
        family: the family description.
        options: model, prompt, generation, device and dtype options.
    """

    def __init__(self, family: Family, options: CaptionerOptions) -> None:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        self.family = family
        self.options = options
        self.supports_video = family.video_native
        self.last_echo_matches = False  # after generate(): output began with the prompt ids
        self.device = resolve_device(options.device)
        model_id = options.model
        if model_id is None:
            raise CaptioningError(f"{family.name}: no model given (a hub id or folder)")
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(model_id)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                model_id, dtype=_torch_dtype(options.dtype)
            )
        except (OSError, ValueError) as exc:
            raise CaptioningError(f"cannot load {family.name} model {model_id!r}: {exc}") from exc
        if family.style == "chat" and not getattr(self.processor, "chat_template", None):
            raise CaptioningError(
                f"{model_id!r} has no chat template; {family.name} needs one to place the "
                "image / video tokens (use the model's -hf processor or save one with it)"
            )
        self.model.to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched decoder-only generation
        if self.model.generation_config.pad_token_id is None:
            self.model.generation_config.pad_token_id = self.tokenizer.pad_token_id

    def caption_images(self, images: Sequence[Image.Image]) -> list[str]:
        """Caption RGB images, one batched generate()."""
        return self.generate(list(images), "image").texts

    def caption_videos(self, videos: Sequence[np.ndarray]) -> list[str]:
        """Caption clips (uint8 [T, H, W, 3]) as videos; video-native families only."""
        if not self.supports_video:
            raise CaptioningError(f"{self.family.name} takes images, not videos")
        return self.generate(list(videos), "video").texts

    def generate(self, media: list[Any], kind: str, *, with_logits: bool = False) -> Generation:
        """One batched generate() over images or clips.

        Args:
            media: PIL images, or uint8 [T, H, W, 3] clips.
            kind: "image" or "video".
            with_logits: also return each item's raw per-step logits (for exactness tests).
        """
        import torch

        inputs = self._inputs(media, kind)
        prompt_length = inputs["input_ids"].shape[1] if "input_ids" in inputs else 0
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        for name, value in inputs.items():
            if torch.is_tensor(value) and value.is_floating_point():
                inputs[name] = value.to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=self.options.max_new_tokens,
                num_beams=self.options.num_beams,
                do_sample=False,
                return_dict_in_generate=True,
                output_logits=with_logits,
            )
        echoed = out.sequences[:, :prompt_length]
        self.last_echo_matches = bool(
            prompt_length
            and echoed.shape == inputs["input_ids"].shape
            and torch.equal(echoed, inputs["input_ids"])
        )
        # an encoder-decoder language model (BLIP-2 with Flan-T5) echoes nothing: strip the
        # prompt only when the output really starts with it
        skip = {
            "input": prompt_length if self.last_echo_matches else 0,
            "input-1": max(prompt_length - 1, 1),
            "none": 0,
        }
        new_tokens = out.sequences[:, skip[self.family.echo] :]  # [B, new]
        texts = [
            clean_caption(t)
            for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        ]
        logits = None
        if with_logits:
            steps = torch.stack(out.logits, dim=1).double().cpu().numpy()  # [B, steps, V]
            logits = [steps[i] for i in range(len(media))]
        return Generation(texts, logits)

    def _inputs(self, media: list[Any], kind: str) -> dict[str, Any]:
        style = self.family.style
        prompt = self.options.prompt
        if style == "prefix":
            return self._prefix_inputs(media)
        instruction = video_instruction(prompt) if kind == "video" else prompt.instruction
        if style == "question":
            if self.family.name == "instructblip-video":
                # instruction-tuned; its processor hard-codes 4 frames per clip
                clips = [_four_frames(m) for m in media]
                return self.processor(
                    images=clips, text=[instruction] * len(media), padding=True, return_tensors="pt"
                )
            text = "" if prompt.name == "short" else f"Question: {instruction} Answer:"
            return self.processor(
                images=media, text=[text] * len(media), padding=True, return_tensors="pt"
            )
        entry = {"type": kind}
        conversation = [{"role": "user", "content": [entry, {"type": "text", "text": instruction}]}]
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        visual = {"images": media} if kind == "image" else {"videos": media}
        return self.processor(**visual, text=[text] * len(media), padding=True, return_tensors="pt")

    def _prefix_inputs(self, media: list[Any]) -> dict[str, Any]:
        import torch

        prefix = self.options.prompt.prefix
        pixels = self.processor(images=media, return_tensors="pt")["pixel_values"]
        if self.family.name == "blip":
            if not prefix:
                return {"pixel_values": pixels}
            text = self.processor.tokenizer([prefix] * len(media), return_tensors="pt")
            return {
                "pixel_values": pixels,
                "input_ids": text["input_ids"],
                "attention_mask": text["attention_mask"],
            }
        # GIT: [CLS] + prefix tokens, no [SEP], and no attention mask needed (no padding)
        ids = [self.tokenizer.cls_token_id] + self.tokenizer(prefix, add_special_tokens=False)[
            "input_ids"
        ]
        return {"pixel_values": pixels, "input_ids": torch.tensor([ids] * len(media))}


INSTRUCTBLIP_VIDEO_FRAMES = 4  # InstructBlipVideoProcessor expands 4 frames' worth of queries


def _four_frames(media: Any) -> np.ndarray:
    """A clip of exactly 4 frames: evenly sampled from a clip, or an image repeated."""
    from media.video import frame_indices

    if isinstance(media, np.ndarray) and media.ndim == 4:
        return media[frame_indices(len(media), INSTRUCTBLIP_VIDEO_FRAMES)]  # [4, H, W, 3]
    return np.stack([np.asarray(media.convert("RGB"))] * INSTRUCTBLIP_VIDEO_FRAMES)
