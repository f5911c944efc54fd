"""The toolkit's user-level cache folder: large things built once per user, not per project.

Assembled model folders (the `mpnet` encoder alias) live under `user_cache_dir() / "models"`
so that every project and every scenario of one user shares one copy.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MMREC_TOOLKIT_CACHE"  # overrides the whole folder (an absolute or relative path)
APP_NAME = "mmrec-toolkit"


def user_cache_dir() -> Path:
    """The user-level cache folder; nothing is created.

    `$MMREC_TOOLKIT_CACHE` when set and non-empty (a relative path is taken from the working
    directory), else `$XDG_CACHE_HOME/mmrec-toolkit` when that is an absolute path (the XDG
    base-directory rule: an empty or relative value is ignored), else
    `~/.cache/mmrec-toolkit`.
    """
    override = os.environ.get(CACHE_ENV, "")
    if override:
        return Path(override).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / APP_NAME
    return Path.home() / ".cache" / APP_NAME
