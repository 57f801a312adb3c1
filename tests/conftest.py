"""Shared fixtures: an isolated cache, the shared real-data folder, small datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fedfair.simulation import set_offline_env

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FEDFAIR_SHARED_DATA", REPO.parent / "shared" / "data"))
ADULT_DIR = SHARED_DATA / "adult"

set_offline_env()


EXAMPLE_PLUGIN = REPO / "examples" / "plugin"


@pytest.fixture(autouse=True, scope="session")
def _example_plugin_installed() -> None:
    """The example plugin package (examples/plugin) is installed, as a user installs theirs, before any Ray
    worker starts (workers find it through its entry points and its path, like SuperNodes do). .ci/run
    installs it; a developer's environment gets it here once."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("fedfair_example") is None:
        import tempfile

        from filelock import FileLock

        with FileLock(Path(tempfile.gettempdir()) / "fedfair-example-plugin.lock"):  # xdist workers install once
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e",
                            str(EXAMPLE_PLUGIN)], check=True)
        sys.path.insert(0, str(EXAMPLE_PLUGIN / "src"))  # this process read its .pth files already
        from fedfair import plugins

        plugins.refresh()


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Builtin datasets are cached in a per-session folder, never in ~/.cache."""
    os.environ["FEDFAIR_CACHE"] = str(tmp_path_factory.mktemp("fedfair-cache"))


@pytest.fixture(autouse=True, scope="session")
def _one_ray_for_the_session():
    """Simulations in this process share one Ray instance. Flower starts Ray for every simulation and shuts it
    down afterwards (about 5 s each on 2 cores); here Ray stays up between simulations and is shut down once,
    at the end. Each simulation still creates and removes its own ClientApp actors, so runs stay independent
    (the pinned summaries are unchanged). Subprocesses (`fedfair run`, `flwr run .`) start their own Ray."""
    from flwr.server.superlink.fleet.vce.backend import raybackend

    original = raybackend.RayBackend.terminate

    def terminate(self) -> None:  # Flower's terminate without ray.shutdown()
        if self.pool:
            self.pool.terminate_all_actors()

    raybackend.RayBackend.terminate = terminate
    yield
    raybackend.RayBackend.terminate = original
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fedfair.partitioners.builtins import build_builtin

    return build_builtin("synthetic-gaussian-8", tmp_path_factory.mktemp("ds") / "synthetic", seed=0)


def needs_adult() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (ADULT_DIR / "adult.data").is_file(),
        reason=f"UCI Adult raw files not found at {ADULT_DIR} (../shared/data/adult); set FEDFAIR_SHARED_DATA",
    )


def linked_dataset(root, source, name, change):
    """A copy of the dataset ``source`` at ``root / name`` whose client directories are links to the source's and
    whose manifest.json is the source's after ``change(manifest_dict)`` (a sound dataset, broken on purpose)."""
    import json as _json

    manifest = _json.loads((Path(source) / "manifest.json").read_text())
    target = Path(root) / name
    target.mkdir()
    for entry in manifest["clients"]:
        (target / entry["dir"]).symlink_to(Path(source) / entry["dir"])
    change(manifest)
    (target / "manifest.json").write_text(_json.dumps(manifest))
    return target
