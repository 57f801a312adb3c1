"""Run a fedfair ServerApp + ClientApp on Flower's simulation engine, in process."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

OFFLINE_ENV = {
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "HF_DATASETS_OFFLINE": "1",
    "RAY_DEDUP_LOGS": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}


def set_offline_env() -> None:
    """Environment variables that keep Flower, Ray and datasets off the network."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def simulate(run_config: Mapping[str, Any], num_supernodes: int, verbose: bool = False, echo: bool = True) -> dict[str, Any]:
    """Run the app with one SuperNode per client; return the run's summary.

    The ServerApp is the same ``run_server`` that ``flwr run .`` executes; the
    run_config is passed to it directly instead of through pyproject.toml.
    """
    return simulate_many([run_config], num_supernodes, verbose=verbose, echo=echo, keep_going=False)[0]


def simulate_many(
    run_configs: Sequence[Mapping[str, Any]], num_supernodes: int, verbose: bool = False, echo: bool = True,
    keep_going: bool = True,
) -> list[dict[str, Any]]:
    """Several runs, one after the other, in one simulation (Ray starts once); one summary per run.

    Every run has its own run directory and its own client state (``run-tag``).
    With ``keep_going`` a failed run gives ``{"error": "..."}`` (its run
    directory says ``failed``) and the next one starts; otherwise the error is raised.
    """
    set_offline_env()
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from fedfair.client_app import app as client_app
    from fedfair.server_app import run_server

    summaries: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    server_app = ServerApp()

    @server_app.main()
    def _main(grid, context) -> None:  # noqa: ANN001 (Flower's signature)
        for run_config in run_configs:
            try:
                summaries.append(run_server(grid, run_config, echo=echo))
            except Exception as err:  # noqa: BLE001 (reported per run)
                if not keep_going:
                    errors.append(err)
                    return
                summaries.append({"error": f"{type(err).__name__}: {err}", "run_config": dict(run_config)})

    if not verbose:  # a client's error reaches the run as a recorded failure with its message (--verbose: tracebacks)
        logging.getLogger("flwr").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    backend_config = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": max(1, os.cpu_count() or 1), "include_dashboard": False,
                      "logging_level": logging.DEBUG if verbose else logging.ERROR, "log_to_driver": verbose},
    }
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=num_supernodes,
                   backend_config=backend_config, verbose_logging=verbose)
    if errors:
        raise errors[0]
    if len(summaries) < len(run_configs):
        raise RuntimeError("the simulation ended without a summary: run again with --verbose for Flower's log")
    return summaries
