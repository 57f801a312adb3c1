"""Where fedfair keeps cached datasets and raw downloads, and where it looks for local raw files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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


@contextlib.contextmanager
def cache_at(folder: str | os.PathLike[str] | None) -> Iterator[None]:
    """``$FEDFAIR_CACHE`` = ``folder`` while the block runs (None: unchanged), restored after: e.g. a benchmark's
    smoke mode builds its datasets in its own directory, never in the user's cache (whose keys leave out the data
    root, so a dataset built from stand-in files could take the real one's place)."""
    if folder is None:
        yield
        return
    before = os.environ.get("FEDFAIR_CACHE")
    os.environ["FEDFAIR_CACHE"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FEDFAIR_CACHE", None)
        else:
            os.environ["FEDFAIR_CACHE"] = before
