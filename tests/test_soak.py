"""The short variant of benchmarks/bench_soak.py: a long in-process FedAvg run whose memory stays flat."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_memory_stays_flat_over_many_rounds(tmp_path):
    """150 rounds of 50 clients (benchmarks/bench_soak.py runs 1,000): over the second half of the rounds the
    PSS of the run's process grows by less than 20 MB per 100 rounds (measured: ~2 MB; a run that kept each
    round's messages or rows would grow by tens of MB per 100 rounds here)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_soak import build, soak

    result = soak(build(50, tmp_path), tmp_path, rounds=150, engine="inprocess", every=0.1)
    assert result["exit_code"] == 0 and result["status"]["status"] == "complete", result
    assert result["rounds_done"] == 150
    assert result["pss_slope_mb_per_100_rounds"] < 20, result
