"""Tiny randomly initialised captioning models, saved as ordinary Hugging Face folders.

Tests build one per family (`SMALL` / `VISION` sizes: hidden 32, 2 layers, 32-pixel
images, patch 8), `save_pretrained` it with a matching processor, and load it back through
the same `from_pretrained` path a hub id takes. The words these models emit are random; the plumbing
(chat templates, image/video tokens, padding, decoding) is the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.tiny_models import SMALL, VISION

_WORD_TEXT = (
    "a an the of on in with and is red green blue yellow purple orange pink brown black white "
    "grey circle square triangle stripes shape video photo picture image product title moving "
    "left right up down light dark background small large man woman dog cat car tree sky "
    "USER ASSISTANT user assistant system Question Answer"
)
WORDS = tuple(_WORD_TEXT.split())
LLM_SPECIALS = (
    "<pad>",
    "<unk>",
    "<s>",
    "</s>",
    "<image>",
    "<video>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|im_start|>",
    "<|im_end|>",
)
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")

LLAVA_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'video' %}<video>\n"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FAMILIES = (
    "blip",
    "blip2",
    "git",
    "llava",
    "llava-next",
    "llava-next-video",
    "qwen2-vl",
    "qwen2.5-vl",
    "instructblip-video",
)


def llm_tokenizer(image_token: str | None = "<image>", video_token: str = "<video>") -> Any:
    """A word-level fast tokenizer with every special token the decoder-only families use.

    Args:
        image_token: the tokenizer's declared image token (None: let the processor add one,
            as the BLIP-2 processors do); video_token goes with it.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*LLM_SPECIALS, *WORDS, ":", ".", ","])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        padding_side="left",
        extra_special_tokens={"image_token": image_token, "video_token": video_token}
        if image_token
        else {},
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(LLM_SPECIALS[4:])})
    return tokenizer


def bert_tokenizer() -> Any:
    """A BERT word-piece tokenizer over a small vocabulary (BLIP, GIT, Q-Former)."""
    from transformers import BertTokenizer

    vocab = {token: i for i, token in enumerate([*BERT_SPECIALS, *WORDS])}
    return BertTokenizer(vocab=vocab, bos_token="[DEC]")


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _llama_text(tokenizer: Any, **extra: Any) -> dict[str, Any]:
    pad, bos, eos = _ids(tokenizer, "<pad>", "<s>", "</s>")
    return {
        **SMALL,
        "vocab_size": len(tokenizer),
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "pad_token_id": pad,
        "bos_token_id": bos,
        "eos_token_id": eos,
        **extra,
    }


def build_tiny(family: str, folder: str | Path, *, seed: int = 0) -> Path:
    """Build, save and return a tiny random model folder for `family` (see FAMILIES)."""
    import torch

    builders = {
        "blip": _blip,
        "blip2": _blip2,
        "git": _git,
        "llava": _llava,
        "llava-next": _llava_next,
        "llava-next-video": _llava_next_video,
        "qwen2-vl": _qwen2_vl,
        "qwen2.5-vl": _qwen25_vl,
        "instructblip-video": _iblip_video,
    }
    if family not in builders:
        raise ValueError(f"unknown tiny family {family!r}; valid: {', '.join(builders)}")
    torch.manual_seed(seed)
    model, processor = builders[family]()
    target = Path(folder)
    model.generation_config.pad_token_id = model.config.get_text_config().pad_token_id
    model.save_pretrained(target)
    processor.save_pretrained(target)
    return target


def _blip() -> tuple[Any, Any]:
    import transformers as tf

    tok = bert_tokenizer()
    pad, sep, dec = _ids(tok, "[PAD]", "[SEP]", "[DEC]")
    text = {
        **SMALL,
        "vocab_size": len(tok),
        "bos_token_id": dec,
        "sep_token_id": sep,
        "eos_token_id": sep,
        "pad_token_id": pad,
        "max_position_embeddings": 64,
    }
    config = tf.BlipConfig(text_config=text, vision_config=VISION, projection_dim=32)
    processor = tf.BlipProcessor(
        image_processor=tf.BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok
    )
    return tf.BlipForConditionalGeneration(config), processor


def _git() -> tuple[Any, Any]:
    import transformers as tf

    tok = bert_tokenizer()
    pad, cls, sep = _ids(tok, "[PAD]", "[CLS]", "[SEP]")
    config = tf.GitConfig(
        vision_config=VISION,
        vocab_size=len(tok),
        **SMALL,
        max_position_embeddings=64,
        bos_token_id=cls,
        eos_token_id=sep,
        pad_token_id=pad,
    )
    image_processor = tf.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    return tf.GitForCausalLM(config), tf.GitProcessor(image_processor, tok)


def _qformer() -> dict[str, Any]:
    return {**SMALL, "encoder_hidden_size": 32, "vocab_size": len(bert_tokenizer())}


def _blip2() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer(image_token=None)
    text = tf.OPTConfig(
        vocab_size=len(tok),
        hidden_size=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        word_embed_proj_dim=32,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    config = tf.Blip2Config(
        vision_config=VISION,
        qformer_config=_qformer(),
        text_config=text.to_dict(),
        num_query_tokens=4,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    image_processor = tf.BlipImageProcessor(size={"height": 32, "width": 32})
    processor = tf.Blip2Processor(image_processor, tok, num_query_tokens=4)
    return tf.Blip2ForConditionalGeneration(config), processor


def _iblip_video() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer(image_token=None)
    config = tf.InstructBlipVideoConfig(
        vision_config=VISION,
        qformer_config=_qformer(),
        text_config=_llama_text(tok),
        num_query_tokens=4,
        video_token_index=tok.convert_tokens_to_ids("<video>"),
    )
    config.text_config.model_type = "llama"
    video_processor = tf.InstructBlipVideoVideoProcessor(size={"height": 32, "width": 32})
    processor = tf.InstructBlipVideoProcessor(
        video_processor, tok, bert_tokenizer(), num_query_tokens=4
    )
    return tf.InstructBlipVideoForConditionalGeneration(config), processor


GRID = [[32, 32], [32, 64], [64, 32]]
# what every LLaVA-style processor needs to count image tokens (patch 8, plus the CLS token)
LLAVA_PROCESSOR = {
    "patch_size": 8,
    "num_additional_image_tokens": 1,
    "vision_feature_select_strategy": "default",
    "chat_template": LLAVA_TEMPLATE,
}


def _llava_next_image_processor(tf: Any) -> Any:
    return tf.LlavaNextImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=GRID
    )


def _clip_vision() -> dict[str, Any]:
    return {**VISION, "model_type": "clip_vision_model", "projection_dim": 32}


def _llava() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer()
    config = tf.LlavaConfig(
        vision_config=_clip_vision(),
        text_config=_llama_text(tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
    )
    image_processor = tf.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = tf.LlavaProcessor(image_processor, tok, **LLAVA_PROCESSOR)
    return tf.LlavaForConditionalGeneration(config), processor


def _llava_next() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer()
    config = tf.LlavaNextConfig(
        vision_config=_clip_vision(),
        text_config=_llama_text(tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=GRID,
        vision_feature_layer=-1,
    )
    processor = tf.LlavaNextProcessor(_llava_next_image_processor(tf), tok, **LLAVA_PROCESSOR)
    return tf.LlavaNextForConditionalGeneration(config), processor


def _llava_next_video() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer()
    config = tf.LlavaNextVideoConfig(
        vision_config=_clip_vision(),
        text_config=_llama_text(tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=GRID,
        vision_feature_layer=-1,
        spatial_pool_stride=2,
    )
    video_processor = tf.LlavaNextVideoVideoProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = tf.LlavaNextVideoProcessor(
        video_processor=video_processor,
        image_processor=_llava_next_image_processor(tf),
        tokenizer=tok,
        **LLAVA_PROCESSOR,
    )
    return tf.LlavaNextVideoForConditionalGeneration(config), processor


def _qwen_processor(tf: Any, tok: Any) -> Any:
    sizes = {"shortest_edge": 32 * 32, "longest_edge": 64 * 64}
    image_processor = tf.Qwen2VLImageProcessor(
        patch_size=8, merge_size=2, temporal_patch_size=2, size=sizes
    )
    video_processor = tf.Qwen2VLVideoProcessor(
        patch_size=8, merge_size=2, temporal_patch_size=2, size=sizes
    )
    return tf.Qwen2VLProcessor(image_processor, tok, video_processor, chat_template=QWEN_TEMPLATE)


def _qwen_ids(tok: Any) -> dict[str, int]:
    return {
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }


def _qwen_text(tok: Any) -> dict[str, Any]:
    # head_dim 16: the three M-RoPE sections (time, height, width) must sum to head_dim / 2
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    return _llama_text(tok, rope_parameters=rope)


# the vision tower both Qwen VL generations share (2.5 adds windowed attention)
QWEN_VISION = {
    "depth": 2,
    "hidden_size": 32,
    "num_heads": 2,
    "patch_size": 8,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}


def _qwen2_vl() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer("<|image_pad|>", "<|video_pad|>")
    vision = {**QWEN_VISION, "embed_dim": 32, "mlp_ratio": 2}
    config = tf.Qwen2VLConfig(text_config=_qwen_text(tok), vision_config=vision, **_qwen_ids(tok))
    return tf.Qwen2VLForConditionalGeneration(config), _qwen_processor(tf, tok)


def _qwen25_vl() -> tuple[Any, Any]:
    import transformers as tf

    tok = llm_tokenizer("<|image_pad|>", "<|video_pad|>")
    vision = {
        **QWEN_VISION,
        "intermediate_size": 64,
        "out_hidden_size": 32,
        "window_size": 32,
        "fullatt_block_indexes": [1],
    }
    config = tf.Qwen2_5_VLConfig(
        text_config=_qwen_text(tok), vision_config=vision, **_qwen_ids(tok)
    )
    return tf.Qwen2_5_VLForConditionalGeneration(config), _qwen_processor(tf, tok)
