"""Images and video frames to text: captioner registry, batched generation, caption store.

Use::

    from captioning.api import MediaItem, caption_items, caption_key
    from captioning.store import CaptionStore

    summary = caption_items(
        [MediaItem("42", Path("covers/42.jpg"), "image"),
         MediaItem("42", Path("videos/42.mp4"), "video")],
        captioner="blip", model="Salesforce/blip-image-captioning-base", store=Path("captions"),
    )
    key = caption_key("blip", "Salesforce/blip-image-captioning-base")  # no model loaded
    captions = CaptionStore(Path("captions")).captions(key, [("42", media_sha256)])

Modules: `registry` (name -> builder; `captioner_names()`), `builtin` (shipped captioners),
`baseline` (model-free pixel captioner), `hf` (Hugging Face families), `prompts` (presets
short / detailed / title), `store` (JSONL caption store, fingerprint, merge, Parquet),
`api` (`caption_items`, sharding) and its steps: `items` (media items, folders, media
hashes), `job` (pending items, batches, store writes, summary), `batches` (decode and
generate one batch). Tiny random models of every family, for tests, are
built by `tests.support.tiny_captioners`.
Heavy libraries (torch, transformers) are imported only when a model captioner is built.
"""
