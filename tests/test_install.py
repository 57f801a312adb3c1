"""The installed distribution: everything lives under ``fedfair.`` in site-packages, nothing generic at the top."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_pip_install_puts_only_fedfair_at_the_top_of_site_packages(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the repository (and reads no stale build/)
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                                                 "runs", ".pytest_cache", ".hypothesis", "examples"))
    site = tmp_path / "site-packages"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-cache-dir",
                           "--target", str(site), str(source)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    top = sorted(p.name for p in site.iterdir() if p.name not in ("bin", "__pycache__"))
    assert [name for name in top if not name.startswith("fedfair-")] == ["fedfair"], top
    assert (site / "fedfair" / "strategies" / "ifca.py").is_file()
    assert (site / "fedfair" / "partitioners" / "builder.py").is_file()
    # the installed copy imports its sub-packages by their fedfair. names, away from the repository
    probe = subprocess.run([sys.executable, "-c", "import fedfair.strategies.ifca as m, fedfair.partitioners.builder as b; "
                            "print(m.__file__); print(b.__file__)"], capture_output=True, text=True, cwd=tmp_path,
                           env={"PYTHONPATH": str(site), "PATH": ""}, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert all(line.startswith(str(site)) for line in probe.stdout.split()), probe.stdout
