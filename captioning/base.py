"""What every captioner is given and what it must provide."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from captioning.prompts import Prompt

if TYPE_CHECKING:  # annotations only: listing captioners must stay free of heavy imports
    import numpy as np
    from PIL import Image


class CaptioningError(Exception):
    """A captioning job cannot run (bad option, unknown captioner, model that will not load)."""


@dataclass(frozen=True)
class CaptionerOptions:
    """Resolved options handed to a captioner builder.

    Attributes:
        model: hub id or local folder (None for model-free captioners).
        prompt: the resolved prompt.
        max_new_tokens: generation length limit.
        num_beams: beam count (1 = greedy); sampling is always off.
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        dtype: "float32", "float16" or "bfloat16".
        num_frames: frames sampled per video.
    """

    model: str | None
    prompt: Prompt
    max_new_tokens: int = 30
    num_beams: int = 1
    device: str = "auto"
    dtype: str = "float32"
    num_frames: int = 8


class Captioner(Protocol):
    """A loaded captioner. Both methods return one cleaned caption per input, in order."""

    supports_video: bool  # True: caption_videos takes the frames as a clip

    def caption_images(self, images: Sequence[Image.Image]) -> list[str]:
        """Caption a batch of RGB images."""
        ...

    def caption_videos(self, videos: Sequence[np.ndarray]) -> list[str]:
        """Caption a batch of clips, each uint8 [T, H, W, 3]."""
        ...


Builder = Callable[[CaptionerOptions], Captioner]


@dataclass(frozen=True)
class CaptionerSpec:
    """A registered captioner.

    Attributes:
        name: registry name.
        builder: options -> loaded captioner.
        default_model: hub id used when the caller gives none (None: model-free or required).
        needs_model: whether the captioner loads weights (False for the pixel baseline).
        description: one line for `--help`.
        revision: the caption key's revision for a model-free captioner (its algorithm
            version); model captioners take theirs from the model id or folder.
    """

    name: str
    builder: Builder
    default_model: str | None = None
    needs_model: bool = True
    description: str = ""
    revision: str = ""


def clean_caption(text: str) -> str:
    """Collapse whitespace and strip stray quotes and separators a model leaves around text."""
    cleaned = " ".join(text.replace("\n", " ").split())
    return cleaned.strip(" \"'`:;-")


def merge_frame_captions(captions: Sequence[str]) -> str:
    """Merge per-frame captions of one clip for image-only models.

    Distinct captions are kept in frame order and joined with "; then "; repeated captions
    (a static shot) collapse to one, so a still clip reads like an image caption.
    """
    distinct: list[str] = []
    for caption in captions:
        if caption and caption not in distinct:
            distinct.append(caption)
    return "; then ".join(distinct)


def frames_for_image_model(num_frames: int) -> list[int]:
    """Which of the sampled frames an image-only model captions: first, middle and last."""
    if num_frames <= 3:
        return list(range(num_frames))
    return [0, num_frames // 2, num_frames - 1]
