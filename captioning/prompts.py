"""Shipped prompt presets, and how each family turns one into model input.

Instruction-following models (LLaVA, Qwen2-VL, InstructBLIP-Video, BLIP-2 in question mode)
get `instruction` through the model's chat template; pure captioning models (BLIP, GIT) are
conditioned on `prefix`, a caption opening the model completes (empty = unconditional).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    """One prompt, in the two forms the families need.

    Attributes:
        name: preset name, or "custom" for a user string.
        instruction: what an instruction-following model is asked.
        prefix: caption opening for prefix-conditioned captioners ("" = unconditional).
    """

    name: str
    instruction: str
    prefix: str

    @property
    def key_text(self) -> str:
        """The text that enters the caption key: changing either form re-keys the captions."""
        return f"{self.name}|{self.instruction}|{self.prefix}"


PRESETS: dict[str, Prompt] = {
    "short": Prompt(
        name="short",
        instruction="Describe this image in one short sentence.",
        prefix="",
    ),
    "detailed": Prompt(
        name="detailed",
        instruction="Describe this image in detail: the objects, their colours, "
        "shapes and positions, and the setting.",
        prefix="a detailed picture of",
    ),
    "title": Prompt(
        name="title",
        instruction="Write a short product title (at most ten words) for the item shown. "
        "Answer with the title only.",
        prefix="a product photo of",
    ),
}

VIDEO_INSTRUCTIONS: dict[str, str] = {
    "short": "Describe this video in one short sentence.",
    "detailed": "Describe this video in detail: what appears, how it moves, and the setting.",
    "title": "Write a short title (at most ten words) for this video. Answer with the title only.",
}


def resolve_prompt(prompt: str) -> Prompt:
    """A preset by name, or a custom instruction (used as-is, no caption prefix).

    Args:
        prompt: "short", "detailed", "title", or any other text taken as the instruction.
    """
    if prompt in PRESETS:
        return PRESETS[prompt]
    if not prompt.strip():
        raise ValueError(f"empty prompt; use a preset ({', '.join(PRESETS)}) or some text")
    return Prompt(name="custom", instruction=prompt.strip(), prefix="")


def video_instruction(prompt: Prompt) -> str:
    """The instruction to give a video-native model for this prompt."""
    return VIDEO_INSTRUCTIONS.get(prompt.name, prompt.instruction)
