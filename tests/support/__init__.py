"""Test support shared by the tests and the benchmarks: tiny models built from configs.

* `tests.support.tiny_models`: tiny random encoders written as Hugging Face folders (BERT,
  MPNet, LLaMA, ViT, an open_clip config) and `write_tiny_zoo`, every one by role.
* `tests.support.tiny_captioners`: one tiny random captioning model per family
  (`build_tiny(family, folder)`).

None of this is library code: what the demo itself needs (the tiny-vit config) ships with
the package (`scenarios/model_configs/tiny-vit/config.json`, built by `scenarios.models`).
"""
