"""Video through a vision encoder: evenly sampled frames, per-layer states averaged over frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsys.encoders.base import Encoder


class VideoEncoder(Encoder):
    """Wraps an image encoder; an item is a video path or a `[k, H, W, 3]` uint8 frame array.

    Frames come from `media.video.sample_frames` (decord, PyAV fallback, `np.linspace`
    indices, short clips repeat frames), `spec.num_frames` per video.

    Args:
        vision: the image encoder applied to every frame (its spec carries `num_frames`).
    """

    modality = "video"

    def __init__(self, vision: Encoder) -> None:
        super().__init__(vision.spec, vision.for_training)
        self.vision = vision
        self.model_id = vision.model_id
        self.revision = vision.revision
        self.num_blocks = vision.num_blocks
        self.width = vision.width
        self.selected_layers = vision.selected_layers
        self.pooling = vision.pooling
        self.num_frames = vision.spec.num_frames
        self.train(vision.for_training)

    def load(self, item: Any) -> np.ndarray:
        if isinstance(item, np.ndarray):
            frames = item
        elif isinstance(item, (str, Path)):
            from media.video import sample_frames

            frames = sample_frames(item, self.num_frames)
        else:
            from media.errors import MediaError

            raise MediaError(str(item), f"no video (got {type(item).__name__})")
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            from media.errors import MediaError

            raise MediaError(str(item)[:80], f"frames must be [k, H, W, 3], got {frames.shape}")
        index = np.linspace(0, len(frames) - 1, self.num_frames).round().astype(int)
        return frames[index]  # [num_frames, H, W, 3]

    def prepare(self, loaded: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        images = [self.vision.load(frame) for video in loaded for frame in video]
        return self.vision.prepare(images)  # pixel_values [B * num_frames, 3, H, W]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:  # -> [B, steps, width]
        states = self.vision(pixel_values=pixel_values)  # [B * k, steps, width]
        k = self.num_frames
        return states.view(-1, k, *states.shape[1:]).mean(dim=1)

    def describe(self) -> dict[str, Any]:
        return {**self.vision.describe(), "modality": "video", "num_frames": self.num_frames}
