"""The captioners shipped with the toolkit. Each builder imports its model code when called,
so listing them imports neither torch nor transformers."""

from __future__ import annotations

from collections.abc import Callable

from captioning.base import Captioner, CaptionerOptions, CaptionerSpec

BASELINE_VERSION = "baseline-v1"  # bump when the pixel algorithm changes: it re-keys captions


def _baseline(options: CaptionerOptions) -> Captioner:
    from captioning.baseline import BaselineCaptioner

    return BaselineCaptioner()


def _hf_builder(family: str) -> Callable[[CaptionerOptions], Captioner]:
    def build(options: CaptionerOptions) -> Captioner:
        from captioning.hf import FAMILIES, HFCaptioner

        return HFCaptioner(next(f for f in FAMILIES if f.name == family), options)

    return build


# name, default hub id, description; the hub ids are what a user gets without --model
_HF = (
    ("blip", "Salesforce/blip-image-captioning-base", "BLIP captioning (image)"),
    ("blip2", "Salesforce/blip2-opt-2.7b", "BLIP-2, Q-Former + OPT/Flan-T5 (image)"),
    ("git", "microsoft/git-base-coco", "GIT captioning (image)"),
    ("llava", "llava-hf/llava-1.5-7b-hf", "LLaVA-1.5, chat template (image)"),
    ("llava-next", "llava-hf/llava-v1.6-mistral-7b-hf", "LLaVA-NeXT (image, any resolution)"),
    ("llava-next-video", "llava-hf/LLaVA-NeXT-Video-7B-hf", "LLaVA-NeXT-Video (image, video)"),
    ("qwen2-vl", "Qwen/Qwen2-VL-2B-Instruct", "Qwen2-VL (image, video)"),
    ("qwen2.5-vl", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen2.5-VL (image, video)"),
    (
        "instructblip-video",
        "Salesforce/instructblip-vicuna-7b",
        "InstructBLIP-Video, 4 frames per clip (image, video)",
    ),
)

BUILTIN_CAPTIONERS: tuple[CaptionerSpec, ...] = (
    CaptionerSpec(
        "baseline",
        _baseline,
        needs_model=False,
        revision=BASELINE_VERSION,
        description="model-free: dominant colour, brightness, shape and motion from pixels",
    ),
    *(
        CaptionerSpec(name, _hf_builder(name), default_model=hub, description=text)
        for name, hub, text in _HF
    ),
)
