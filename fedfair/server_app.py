"""The fedfair ServerApp: builds the strategy named in run_config and runs it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedfair.api import check_dataset_fits, dataset_facts
from fedfair.registry import known_params, resolve_dataset, run_params, strategy_class
from fedfair.results import RunRecorder

__all__ = ["app", "known_params", "run_server"]

app = ServerApp()


def default_out_dir(strategy: str) -> Path:
    """``~/.fedfair/runs/<timestamp>-<strategy>``."""
    return Path.home() / ".fedfair" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{strategy}"


def run_server(grid: Grid, run_config: Mapping[str, Any], echo: bool = True) -> dict[str, Any]:
    """Validate parameters, resolve the dataset, run the strategy, write the results."""
    params, ignored = run_params(run_config)
    cls = strategy_class(params["strategy"])
    dataset_dir = ""
    if params["dataset"]:
        dataset_dir = str(resolve_dataset(params["dataset"], params["seed"], data_root=params["data-root"] or None))
    out_dir = params["out-dir"] or str(default_out_dir(params["strategy"]))
    if params["resume"]:  # the same dataset and parameters as the run it continues, before its directory is touched
        from fedfair.strategies.checkpoint import check_resume

        check_resume(Path(out_dir), params, dataset_dir)
    recorder = RunRecorder(Path(out_dir), {**params, "dataset-dir": dataset_dir}, echo=echo).open(resume=params["resume"])
    recorder.log(f"fedfair: {params['strategy']} on {params['dataset'] or 'node-config datasets'}, "
                 f"{params['rounds']} rounds, seed {params['seed']} -> {recorder.out_dir}")
    if ignored:
        recorder.log(f"[yellow]ignored: {', '.join(ignored)} (not parameters of {params['strategy']} or its "
                     f"plug-ins; see `fedfair params`)[/yellow]")
    try:
        if dataset_dir:  # the checks fedfair.run makes before Ray (cached there), for `flwr run .` and deployments
            check_dataset_fits(cls, params, dataset_facts(dataset_dir))
        return cls(params, recorder, dataset_dir).run(grid)
    except KeyboardInterrupt:  # the engine marks the run interrupted (resumable), not failed
        raise
    except BaseException as err:
        recorder.fail(err)
        raise


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point of ``flwr run .`` and of deployments (``fedfair run`` calls :func:`run_server` itself): the run,
    then the per-client table ``fedfair run`` prints (``flwr run . --stream`` shows it)."""
    summary = run_server(grid, dict(context.run_config))
    from fedfair.cli import print_summary

    print_summary(summary)
