"""Images and video frames to text: captioner registry, batched generation, caption store.

Heavy libraries (torch, transformers) are imported only when a model captioner is built.
"""
