"""Hidden-state cache: selected layers of every item computed once, stored fp16, memory-mapped."""

from recsys.cache.build import build_or_load_cache
from recsys.cache.keys import cache_folder, content_hash, fingerprint_fields
from recsys.cache.reuse import open_current_cache
from recsys.cache.states import CachedStates, open_cache

__all__ = [
    "CachedStates",
    "build_or_load_cache",
    "cache_folder",
    "content_hash",
    "fingerprint_fields",
    "open_cache",
    "open_current_cache",
]
