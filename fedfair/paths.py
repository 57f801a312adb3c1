"""Where fedfair keeps cached datasets and raw downloads."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$FEDFAIR_CACHE`` or ``~/.cache/fedfair``."""
    return Path(os.environ.get("FEDFAIR_CACHE", Path.home() / ".cache" / "fedfair")).expanduser()
