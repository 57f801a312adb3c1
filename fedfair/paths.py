"""Where fedfair keeps cached datasets and raw downloads, and where it looks for local raw files."""

from __future__ import annotations

import os
from pathlib import Path


def data_folders(data_root: str | os.PathLike[str] | None, subfolder: str) -> list[Path]:
    """Where a raw source's local files may be: ``data_root`` and ``$FEDFAIR_DATA_ROOT``, each itself and its
    ``subfolder`` (e.g. ``adult/``), in that order."""
    folders = []
    for root in (data_root, os.environ.get("FEDFAIR_DATA_ROOT")):
        if root:
            folders += [Path(root).expanduser(), Path(root).expanduser() / subfolder]
    return folders


def cache_dir() -> Path:
    """``$FEDFAIR_CACHE`` or ``~/.cache/fedfair``."""
    return Path(os.environ.get("FEDFAIR_CACHE", Path.home() / ".cache" / "fedfair")).expanduser()
