"""Run a fedfair ServerApp + ClientApp on Flower's simulation engine, in process."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import signal
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
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
    keep_going: bool = True, on_done: Callable[[int, Mapping[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Several runs, one after the other, in one simulation (Ray starts once); one summary per run.

    Every run has its own run directory and its own client state (``run-tag``).
    With ``keep_going`` a failed run gives ``{"error": "..."}`` (its run
    directory says ``failed``) and the next one starts; otherwise the error is raised.
    ``on_done(index, summary)`` is called after each run (e.g. to advance a progress bar).
    """
    set_offline_env()
    if simulation_engine(run_configs) == "inprocess":
        from fedfair.device import simulation_resources

        simulation_resources(run_configs)  # the device checks (the resources themselves are Ray's)
        return _simulate_inprocess(run_configs, num_supernodes, verbose=verbose, echo=echo, keep_going=keep_going,
                                   on_done=on_done)
    from fedfair.device import simulation_resources

    resources = simulation_resources(run_configs)  # checked against this machine before any Ray process starts
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from fedfair.client_app import app as client_app
    from fedfair.server_app import run_server

    summaries: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    server_app = ServerApp()

    current: dict[str, str] = {}

    @server_app.main()
    def _main(grid, context) -> None:  # noqa: ANN001 (Flower's signature)
        for run_config in run_configs:
            current["out"] = str(run_config.get("out-dir", ""))
            try:
                summaries.append(run_server(grid, run_config, echo=echo))
            except Exception as err:  # noqa: BLE001 (reported per run)
                if not keep_going:
                    errors.append(err)
                    return
                summaries.append({"error": f"{type(err).__name__}: {err}", "run_config": dict(run_config)})
            if on_done is not None:
                on_done(len(summaries) - 1, summaries[-1])

    if not verbose:  # a client's error reaches the run as a recorded failure with its message (--verbose: tracebacks)
        logging.getLogger("flwr").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    if STATUS_LINES:  # Ray's start is silent for 30-55 s
        from fedfair.results import note

        where = f"joining the Ray cluster at {os.environ['RAY_ADDRESS']}" if os.environ.get("RAY_ADDRESS") else "starting Ray"
        note(f"{where} with {num_supernodes} SuperNodes for {len(run_configs)} run(s) (about 30-60 s before the first "
             f"round{'' if verbose else '; --verbose shows its log'}) ...")
    with _interruptible(current):
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=num_supernodes,
                       backend_config=backend_config(verbose, resources["num_cpus"], resources["num_gpus"]),
                       verbose_logging=verbose)
    if errors:
        raise errors[0]
    if len(summaries) < len(run_configs):
        raise RuntimeError("the simulation ended without a summary: run again with --verbose for Flower's log")
    return summaries


def simulation_engine(run_configs: Sequence[Mapping[str, Any]]) -> str:
    """``inprocess`` or ``ray``: the runs' ``engine`` parameter (one for all the runs of a simulation); ``auto``
    is ``ray`` when ``RAY_ADDRESS`` names a cluster to join, else ``inprocess`` (it starts in seconds and, on
    one machine, trains small clients several times faster: see README "Simulation engines")."""
    from fedfair.config import ENGINES, ParamError

    engines = {str(c.get("engine", "auto")) for c in run_configs} or {"auto"}
    unknown = sorted(engines - set(ENGINES))
    if unknown:
        raise ParamError(f"parameter 'engine' = {unknown[0]!r} is out of range: accepted {', '.join(ENGINES)}")
    if len(engines) > 1:
        raise ParamError(f"the runs of one simulation need one engine, got {sorted(engines)}: run them separately")
    engine = engines.pop()
    if engine == "auto":
        return "ray" if os.environ.get("RAY_ADDRESS") else "inprocess"
    return engine


def _simulate_inprocess(
    run_configs: Sequence[Mapping[str, Any]], num_supernodes: int, verbose: bool, echo: bool, keep_going: bool,
    on_done: Callable[[int, Mapping[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    """:func:`simulate_many` on the in-process engine (:mod:`fedfair.engine`): the same ``run_server`` and
    ClientApp, no Ray. Ctrl-C / SIGTERM: the running run says ``interrupted`` and KeyboardInterrupt propagates
    (the CLI exits 130; a notebook keeps its kernel)."""
    from fedfair.client_app import app as client_app
    from fedfair.client_app import (prepare_evaluate, prepare_evaluate_models, prepare_train, score_replies,
                                    train_jobs)
    from flwr.app import MessageType

    from fedfair import protocol as p
    from fedfair.engine import InProcessGrid
    from fedfair.server_app import run_server

    if not verbose:
        logging.getLogger("flwr").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    batched = {bool(c.get("batch-clients", True)) for c in run_configs}
    together = {MessageType.TRAIN: (prepare_train, train_jobs), MessageType.EVALUATE: (prepare_evaluate, score_replies),
                p.EVALUATE_MODELS: (prepare_evaluate_models, score_replies)}
    grid = InProcessGrid(client_app, num_supernodes, together=together if all(batched) else None)
    summaries: list[dict[str, Any]] = []
    out = ""
    try:
        with _terminate_as_interrupt():
            for run_config in run_configs:
                out = str(run_config.get("out-dir", ""))
                try:
                    summaries.append(run_server(grid, run_config, echo=echo))
                except Exception as err:  # noqa: BLE001 (reported per run)
                    if not keep_going:
                        raise
                    summaries.append({"error": f"{type(err).__name__}: {err}", "run_config": dict(run_config)})
                if on_done is not None:
                    on_done(len(summaries) - 1, summaries[-1])
    except KeyboardInterrupt:
        status = mark_interrupted(Path(out)) if out else None
        if EXIT_ON_INTERRUPT:  # the command line: a message and exit code 130, no traceback
            where = f"after round {status['last_round']}; resume with: {status['resume']}" if status else ""
            print(f"fedfair: interrupted {where}".rstrip(), file=sys.stderr)
            sys.exit(130)
        raise
    return summaries


# set by the command line (fedfair.cli.main): an interrupt ends the process with 130 instead of raising
EXIT_ON_INTERRUPT = False
# set by the command line (fedfair.cli.main): a status line on stderr while Ray starts
STATUS_LINES = False


@contextlib.contextmanager
def _on_interrupt_signals(handler: Callable[[int, Any], None]):
    """``handler`` for SIGINT and SIGTERM while the block runs (set explicitly: a process started in the
    background by a shell inherits SIGINT ignored, and Python then keeps it ignored), the previous ones restored
    afterwards; nothing outside the main thread (only it may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _terminate_as_interrupt():
    """While the in-process engine runs, SIGINT and SIGTERM raise KeyboardInterrupt in the main thread."""

    def interrupt(signum, frame) -> None:  # noqa: ANN001 (signal handler signature)
        raise KeyboardInterrupt(f"signal {signum}")

    return _on_interrupt_signals(interrupt)


def backend_config(verbose: bool = False, client_num_cpus: float = 1.0, client_num_gpus: float = 0.0) -> dict[str, Any]:
    """Flower's Ray backend settings: each ClientApp gets ``client_num_cpus`` cores and ``client_num_gpus`` GPUs
    (fractional: a share of one GPU; the run parameters ``client-num-cpus`` / ``client-num-gpus``, see
    :func:`fedfair.device.simulation_resources`), so cores / client_num_cpus clients run at once. With ``RAY_ADDRESS`` set
    (e.g. ``auto`` or ``HEAD_IP:6379``) the simulation joins that running Ray cluster, whose machines' cores and
    GPUs it uses (Ray refuses a core count when joining a cluster), else it starts Ray on this machine's cores
    (Ray finds its GPUs itself)."""
    init_args: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.DEBUG if verbose else logging.ERROR,
                                 "log_to_driver": verbose}
    if os.environ.get("RAY_ADDRESS"):
        init_args["address"] = os.environ["RAY_ADDRESS"]
    else:
        init_args["num_cpus"] = max(1, os.cpu_count() or 1)
    resources = {"num_cpus": client_num_cpus, "num_gpus": float(client_num_gpus)}
    return {"client_resources": resources, "init_args": init_args}


def _interruptible(current: Mapping[str, str]):
    """Ctrl-C (SIGINT) or SIGTERM during a simulation: mark the running run ``interrupted`` with its last
    checkpointed round, stop Ray's processes (no worker left behind) and exit with 130. Flower's simulation does not
    return on its own after an interrupt, hence the hard exit once everything is written."""

    def stop(signum, frame) -> None:  # noqa: ANN001 (signal handler signature)
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not interrupt the cleanup
                signal.signal(sig, signal.SIG_IGN)
            out = current.get("out")
            if out:
                mark_interrupted(Path(out))
            stop_ray_processes()
        except BaseException as err:  # noqa: BLE001 (the exit code must stay 130 whatever happened)
            print(f"fedfair: while stopping: {type(err).__name__}: {err}", file=sys.stderr)
        finally:
            os._exit(130)

    return _on_interrupt_signals(stop)


def _descendants(pid: int) -> list[int] | None:
    """Every process below ``pid`` (children first found, grandchildren after), from /proc; None without /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return None
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def stop_ray_processes() -> None:
    """Stop the Ray processes this driver started (GCS, raylet, workers: its descendants) before a hard exit.
    Killing them, rather than ``ray.shutdown()`` from a signal handler, keeps Flower's threads from touching a
    shut-down core worker, which ends the process with exit code 1 before ours (seen under load). Without /proc,
    or when joined to a cluster (``RAY_ADDRESS``: nothing of it is ours), ``ray.shutdown()``."""
    pids = None if os.environ.get("RAY_ADDRESS") else _descendants(os.getpid())
    if pids is None:
        import ray

        ray.shutdown()
        return
    for pid in pids:
        try:
            if b"ray" in Path(f"/proc/{pid}/cmdline").read_bytes():  # Ray's own, not a user's other children
                os.kill(pid, signal.SIGKILL)
        except OSError:
            continue


def mark_interrupted(out_dir: Path) -> dict[str, Any] | None:
    """status.json ``interrupted`` with the last completed (checkpointed) round and the command that resumes."""
    from fedfair.results import STATUS, _atomic_write
    from fedfair.strategies.checkpoint import CheckpointError, read_meta

    if not (out_dir / STATUS).is_file():
        return None
    try:
        payload = read_meta(out_dir)
    except CheckpointError:
        payload = None
    status = {"status": "interrupted", "last_round": int(payload["round"]) if payload else 0,
              "resume": f"fedfair run --resume {out_dir}"}
    _atomic_write(out_dir / STATUS, json.dumps(status, indent=2))
    return status
