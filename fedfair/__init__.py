"""fedfair: fairness-aware federated learning on Flower, with per-client accuracy and group fairness.

The Python API (:mod:`fedfair.api`)::

    import fedfair
    result = fedfair.run("ifca", "synthetic-gaussian-8", rounds=3, seed=0)
    result.clients        # one row per client: accuracy, each fairness metric per attribute, intervals
    result.rounds         # one row per (round, client, model) of metrics.jsonl
    fedfair.load_run("runs/ifca-synthetic-gaussian-8-seed0")

Server algorithms are ``fedfair.strategies``, dataset builders ``fedfair.partitioners``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The sub-packages kept in the repository's top-level folders strategies/ and partitioners/: an install maps
# them into fedfair/ (pyproject.toml, package-dir); a source checkout or a Flower app bundle (`flwr run .`)
# has them beside fedfair/, where they are mounted under the same names.
_SIBLING_PACKAGES = ("strategies", "partitioners")


def _mount_sibling_packages() -> None:
    here = Path(__file__).resolve().parent
    for name in _SIBLING_PACKAGES:
        full = f"{__name__}.{name}"
        if full in sys.modules or (here / name / "__init__.py").is_file():
            continue
        init = here.parent / name / "__init__.py"
        if not init.is_file():
            continue  # an editable install's finder serves it
        spec = importlib.util.spec_from_file_location(full, init, submodule_search_locations=[str(init.parent)])
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(sys.modules[__name__], name, module)


_mount_sibling_packages()

_API = ("run", "compare", "tune", "load_run", "build_dataset", "RunResult", "Comparison", "prepare_run")

if TYPE_CHECKING:
    from fedfair.api import Comparison, RunResult, build_dataset, compare, load_run, prepare_run, run, tune

__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    """The API is imported on first use, so ``import fedfair`` (every Ray worker does) stays light."""
    if name in _API:
        from fedfair import api

        return getattr(api, name)
    raise AttributeError(f"module 'fedfair' has no attribute {name!r}")
