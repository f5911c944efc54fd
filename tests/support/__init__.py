"""Test support shared by the tests and the benchmarks: tiny models built from configs.

* `tests.support.tiny_models`: tiny random encoders written as Hugging Face folders (BERT,
  MPNet, LLaMA, ViT, an open_clip config) and `write_tiny_zoo`, every one by role.
* `tests.support.tiny_captioners`: one tiny random captioning model per family
  (`build_tiny(family, folder)`).
* `tests.support.runs`: a run folder's file snapshot, and a crash after a chosen checkpoint.

None of this is library code: what the demo itself needs (the tiny-vit config) ships with
the package (`scenarios/shipped/model_configs/tiny-vit/config.json`, built by
`scenarios.schema.models`).
"""
