"""Primitives shared by `captioning` and `recsys`: safe media loading, hashing, atomic writes."""
