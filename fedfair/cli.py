"""The ``fedfair`` command: run simulations, audit predictions, create datasets."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fedfair.config import COMMON_PARAMS, ParamError, parse_assignments
from fedfair.data import DatasetError
from fedfair.plugins import PluginError
from fedfair.registry import DATASETS, STRATEGIES, UnknownNameError
from fedfair.results import console_width

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="fedfair: fairness-aware federated learning on Flower. Every run reports each client's accuracy and group fairness.",
)
data_app = typer.Typer(help="Build, inspect and audit federated datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
# the terminal's width (or $COLUMNS); 100 columns for a file or a pipe (every table fits 100 columns)
console = Console(width=console_width(sys.stdout))
err_console = Console(stderr=True, width=console_width(sys.stderr))
USER_ERRORS = (ParamError, UnknownNameError, PluginError, DatasetError, FileExistsError, PermissionError)


def _fail(err: Exception) -> None:
    message = " ".join(str(err).split())  # one line, whatever the error text holds (newlines, markup)
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=2)


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def print_summary(summary: dict[str, Any], worst: int = 0) -> None:
    """Per-client table plus the averages; one table per task when clients deploy several models; ``worst`` > 0:
    only that many clients, the worst (:func:`print_task_summary`)."""
    from fedfair.results import task_views

    for _, view in task_views(summary):
        print_task_summary(view, worst)
    if "tasks" in summary:
        console.print(f"across {len(summary['tasks'])} tasks: min accuracy {_fmt(summary.get('min_accuracy'))}, "
                      f"mean {_fmt(summary.get('mean_accuracy'))}, variance {_fmt(summary.get('accuracy_variance'))}",
                      highlight=False)
    if summary.get("clusters"):
        console.print(f"clusters: {summary['clusters']}")
    if summary.get("mitigation"):
        m = summary["mitigation"]
        fallbacks = m.get("fallbacks", {})
        rounds = [r["round"] for r in m["rounds"]] or "none"
        console.print(f"mitigation {m['name']}: clients reported numbers in rounds {rounds} (summary.json)"
                      + (f"; trained without it: {fallbacks}" if fallbacks else ""), highlight=False)
    if summary.get("privacy"):
        console.print(f"DP-SGD: epsilon spent per client max {summary['privacy']['max_epsilon']:.3g}, "
                      f"mean {summary['privacy']['mean_epsilon']:.3g}", highlight=False)
    if summary.get("communication"):
        c = summary["communication"]
        console.print(f"communication: {c['down_bytes'] / 1e6:.3f} MB to the clients, {c['up_bytes'] / 1e6:.3f} MB "
                      f"from them, {c['messages']} messages", highlight=False)
    if summary.get("failures"):
        f = summary["failures"]
        console.print(f"failures: {f['count']} replies missing or failed, per client {f['per_client']} "
                      f"(metrics.jsonl rows with stage 'failed')", highlight=False)
    if summary.get("synthesis"):
        records = summary["synthesis"].values()
        console.print(f"synthesis: {sum(r['n-synthetic'] for r in records)} synthetic rows from {len(records)} clients, "
                      f"min distance to a real row {min(r['min-distance'] for r in records):.3g}, slowest client "
                      f"{max(r['seconds'] for r in records):.1f} s", highlight=False)
    if summary.get("recruitment"):
        r = summary["recruitment"]
        take_up = ", ".join(f"{t} {x:g}" for t, x in r["take_up"].items())
        console.print(f"recruitment {r['mechanism']} (budget {r['budget']}, spent {r['spent']:.4g}): take-up {take_up}",
                      highlight=False)
        for warning in r.get("warnings", []):
            console.print(f"warning: {warning}", highlight=False, markup=False)


def _pm(value: Any, interval: Sequence[float] | None) -> str:
    """``0.8123±0.022``: a value and half the width of its confidence interval (when there is one)."""
    if not interval or value is None or (isinstance(value, float) and math.isnan(value)):
        return _fmt(value)
    return f"{_fmt(value)}±{(interval[1] - interval[0]) / 2:.3f}"


def _largest_gap(client: dict[str, Any], attribute: str) -> float:
    """A client's largest defined gap (SP, EqOp, EO) on an attribute; -inf when none is defined."""
    gaps = [client["fairness"].get(attribute, {}).get(m) for m in ("sp", "eqop", "eo")]
    defined = [g for g in gaps if g is not None and not (isinstance(g, float) and math.isnan(g))]
    return max(defined, default=-math.inf)


def _worst(clients: list[dict[str, Any]], worst: int, key: Any, what: str) -> tuple[list[dict[str, Any]], str]:
    """The ``worst`` clients by ``key`` (largest first) and a title note; every client, in order, when worst <= 0."""
    if worst <= 0 or worst >= len(clients):
        return clients, ""
    return sorted(clients, key=key, reverse=True)[:worst], f"; the {worst} worst of {len(clients)} clients by {what}"


def print_task_summary(summary: dict[str, Any], worst: int = 0) -> None:
    """One task's per-client tables plus their averages: accuracy and loss, then one block per sensitive
    attribute (SP, EqOp, EO), so that a 47-state, 3-attribute run fits 100 columns; ``±`` is half the width of the
    bootstrap interval (the interval itself is in summary.json). ``worst`` > 0: only the ``worst`` clients, worst
    first: of lowest accuracy in the first table, of largest gap (any notion) in each attribute's."""
    attributes = sorted({a for c in summary["clients"] for a in c["fairness"]})
    clustered = any(c.get("cluster") is not None for c in summary["clients"])
    mean = summary["mean"]
    shown, note = _worst(summary["clients"], worst, lambda c: -c["accuracy"], "accuracy")
    title = escape(f"{summary['strategy']} on {summary['dataset']}: {summary['rounds']} rounds, seed {summary['seed']}"
                   + note)
    table = Table(title=title)
    for col in ["client", "n_train", "n_test", *(["cluster"] if clustered else []), "accuracy", "loss"]:
        table.add_column(col, justify="left" if col == "client" else "right", overflow="fold")
    for c in shown:
        table.add_row(escape(str(c["client"])), str(c["n_train"]), str(c["n_test"]),
                      *([_fmt(c.get("cluster"))] if clustered else []),
                      _pm(c["accuracy"], (c.get("ci") or {}).get("accuracy")), _fmt(c["loss"]))
    table.add_row(f"[bold]mean{' (all)' if note else ''}[/bold]", "", "", *([""] if clustered else []),
                  _pm(mean["accuracy"], (mean.get("ci") or {}).get("accuracy")), _fmt(mean["loss"]), end_section=True)
    console.print(table)
    for attr in attributes:  # one block per attribute: three gap columns each
        clients, note = _worst(summary["clients"], worst, lambda c, a=attr: _largest_gap(c, a), "largest gap")
        block = Table(title=escape(f"fairness gaps on {attr} (lower = fairer){note}"))
        for col in ("client", "SP", "EqOp", "EO"):
            block.add_column(col, justify="left" if col == "client" else "right", overflow="fold")
        rows = [(escape(str(c["client"])), c) for c in clients] + [(f"[bold]mean{' (all)' if note else ''}[/bold]", mean)]
        for name, c in rows:
            bounds = (c.get("ci") or {}).get("fairness", {}).get(attr, {})
            gaps = c["fairness"].get(attr, {})
            block.add_row(name, *(_pm(gaps.get(m), bounds.get(m)) for m in ("sp", "eqop", "eo")))
        console.print(block)
    if summary.get("ci"):
        console.print(f"±: half the width of the {summary['ci']['level']:.0%} bootstrap interval "
                      f"({summary['ci']['resamples']} resamples of each client's test rows; of the clients for the "
                      f"mean); the intervals are in summary.json", highlight=False, markup=False)
    skipped = {a: {m: k for m, k in v.items() if k} for a, v in mean.get("undefined", {}).items()}
    skipped = {a: v for a, v in skipped.items() if v}
    if skipped:
        console.print(f"undefined values skipped in the means (clients per metric): {skipped}")


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())


@app.command()
def run(
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help=f"one of: {', '.join(sorted(STRATEGIES))}, an installed "
                                           f"plugin (`fedfair strategies`) or package.module:Name "
                                           f"(default {COMMON_PARAMS['strategy'].default})"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help=f"builtin name ({', '.join(sorted(DATASETS))}) or a "
                                          f"dataset directory (default {COMMON_PARAMS['dataset'].default})"),
    rounds: Optional[int] = typer.Option(None, "--rounds", "-r", help=f"federated rounds (default {COMMON_PARAMS['rounds'].default})"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed of data generation, initialisation and shuffling (default 0)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory (default runs/<strategy>-<dataset>-seed<seed>)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML / JSON file of run parameters (the keys of "
                                          "--set; a run's config.json repeats that run); flags override it"),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE run parameter, repeatable (see `fedfair params`)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="directory with raw files (adult.data, ...); also $FEDFAIR_DATA_ROOT"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue the interrupted run in this directory "
                                          "from its last checkpoint, as it was configured (its config.json): other "
                                          "options that differ from it are an error, except --data-root and the "
                                          "--set keys that decide only where and how fast it runs (engine, "
                                          "batch-clients, device, client-num-cpus, client-num-gpus, timeout, "
                                          "round-timeout)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a complete run in --out (fedfair's files of "
                                   "it; other files stay); without it a complete run is never replaced"),
    fmt: str = typer.Option("png", "--format", help="figure files: png, svg or pdf"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show Flower and Ray logs"),
    worst: int = typer.Option(0, "--worst", "-w", help="print only the K worst clients, worst first: of lowest "
                              "accuracy, and per sensitive attribute of largest gap (0 = every client; summary.json "
                              "holds them all)", min=0, metavar="K"),
) -> None:
    """Run a federated simulation (one SuperNode per client) and report every client's accuracy and fairness.

    Writes OUT/config.json, OUT/metrics.jsonl (one row per round, client and model),
    OUT/summary.json and OUT/accuracy_vs_fairness.png; OUT/checkpoint.json + checkpoint-<round>.npz after every round, from which
    `fedfair run --resume OUT` continues a run that crashed or was interrupted.
    """
    from fedfair.api import default_out_dir, prepare_run, run_configs

    try:
        if resume is not None:
            out_dir = resume
            run_config = resume_with_options(resume, resume_config(resume), {"strategy": strategy, "dataset": dataset,
                                             "rounds": rounds, "seed": seed}, config, set_, out, data_root, overwrite)
        else:
            overrides = parse_assignments(set_)
            clash = sorted(set(overrides) & {"strategy", "dataset", "rounds", "seed", "out-dir", "data-root", "resume"})
            if clash:
                raise ParamError(f"use the dedicated flags instead of --set for {clash}")
            run_config = command_config(config, {"strategy": strategy, "dataset": dataset, "rounds": rounds, "seed": seed,
                                                 "data-root": None if data_root is None else str(data_root)}, overrides)
            out_dir = out or (Path(run_config["out-dir"]) if run_config.get("out-dir") else
                              default_out_dir(run_config["strategy"], run_config["dataset"], run_config["seed"]))
            if overwrite:
                run_config["overwrite"] = True
            run_config["out-dir"] = str(out_dir.resolve())
        from fedfair.outdirs import check, claim
        from fedfair.registry import run_params

        from fedfair.figures import check_format

        if check_format(fmt) != "png":  # the run parameter plot-format
            run_config["plot-format"] = fmt
        params, _ = run_params(run_config)  # parameter errors come before any other output
        # the run directory (fedfair.outdirs: never a directory of other files, a complete run only with --overwrite,
        # one writer at a time) before any work
        where = {"overwrite": bool(params.get("overwrite")), "resume": resume is not None,
                 "flag": "--resume" if resume is not None else "--out", "what": "the run directory"}
        check(out_dir, "run", **where)
        from fedfair.results import status

        with status(f"preparing dataset {params['dataset']!r} ..."):
            prepared = prepare_run(run_config)  # every check that needs no Ray, before Ray starts
        held = claim(out_dir, "run", **where)  # locked until the run ends: a second writer fails at once
    except USER_ERRORS as err:
        _fail(err)
    from fedfair.strategies.nodes import ClientError  # imports Flower: only once a run starts

    try:
        summary = run_configs([prepared.config], verbose=verbose, keep_going=False, prepared=[prepared])[0]
    except (*USER_ERRORS, ClientError) as err:  # a round without enough replies, training that diverged, ...
        _fail(err)
    finally:
        held.release()
    print_summary(summary, worst)
    plots = ", ".join(sorted(p.name for p in out_dir.resolve().glob(f"*.{fmt}")))
    console.print(f"results: {out_dir.resolve()} (summary.json, metrics.jsonl{', ' + plots if plots else ''}); "
                  f"{summary['wall_seconds']:.1f} s", highlight=False)


def command_config(config: Path | None, flags: dict[str, Any], overrides: dict[str, Any],
                   unused: Sequence[str] = ()) -> dict[str, Any]:
    """The run config of `run` / `compare`: the defaults of the dedicated flags, the config file's keys (less
    the ``unused`` ones, which are named on stderr), the flags given (None = not given), then --set."""
    from fedfair.registry import read_config_file

    defaults = {key: COMMON_PARAMS[key].default for key in ("strategy", "dataset", "rounds", "seed", "data-root")}
    from_file = read_config_file(config) if config else {}
    ignored = sorted(set(unused) & set(from_file))
    if ignored:
        err_console.print(f"--config: {', '.join(ignored)} not used here", highlight=False)
    given = {key: value for key, value in flags.items() if value is not None}
    return {**defaults, **{k: v for k, v in from_file.items() if k not in ignored}, **given, **overrides}


# the dedicated flags of `run` and the parameter each sets
_RUN_FLAGS = {"strategy": "--strategy", "dataset": "--dataset", "rounds": "--rounds", "seed": "--seed"}


def resume_with_options(run_dir: Path, stored: dict[str, Any], flags: dict[str, Any], config: Path | None,
                        assignments: Sequence[str], out: Path | None, data_root: Path | None,
                        overwrite: bool) -> dict[str, Any]:
    """The run config of `run --resume DIR` given other options too: the run continues as it was configured
    (``stored``, its config.json), so an option whose value differs from the stored one (a dedicated flag
    (None = not given), a --config key, a --set key, --out naming another directory, --overwrite) is a
    ParamError naming it; options equal to the stored values are fine. --data-root and the parameters of
    :data:`fedfair.strategies.checkpoint.RESUME_MAY_DIFFER` (where and how fast the run runs, not what it
    computes) may differ and are applied."""
    from fedfair.registry import read_config_file, run_params
    from fedfair.strategies.checkpoint import RESUME_MAY_DIFFER

    where = run_dir.expanduser().resolve()
    if overwrite:
        raise ParamError(f"--resume {where} continues the run; --overwrite replaces a complete one: give one of them")
    given: list[tuple[str, str, Any]] = []  # (the option as given, parameter, value); later ones override earlier
    if config is not None:
        given += [(f"--config {config} ({key} = {value!r})", key, value) for key, value in read_config_file(config).items()]
    given += [(f"--set {key}={value}", key, value) for key, value in parse_assignments(assignments).items()]
    given += [(f"{_RUN_FLAGS[key]} {value}", key, value) for key, value in flags.items() if value is not None]
    if data_root is not None:
        given.append((f"--data-root {data_root}", "data-root", str(data_root)))
    stored_params, _ = run_params(stored)
    applied: dict[str, Any] = {}
    differ: list[tuple[str, str]] = []  # (the option as given, the run's value)
    if out is not None and out.expanduser().resolve() != where:
        differ.append((f"--out {out}", f"directory {where}"))
    for option, key, value in given:
        if key in RESUME_MAY_DIFFER or key == "data-root":
            applied[key] = value
        elif key in ("resume", "dataset-dir") or (key == "overwrite" and value is False):
            continue  # a run's own config.json given as --config
        elif key == "out-dir":
            if Path(str(value)).expanduser().resolve() != where:
                differ.append((option, f"directory {where}"))
        elif key == "dataset":
            before = str(stored_params["dataset"])
            if str(value) != before and Path(str(value)).expanduser().resolve() != Path(before).expanduser().resolve():
                differ.append((option, f"dataset {before}"))
        elif key == "strategy":
            if str(value) != str(stored_params["strategy"]):
                differ.append((option, f"strategy {stored_params['strategy']}"))
        elif key not in stored_params:
            differ.append((option, f"{key}: not a parameter of {stored_params['strategy']}"))
        elif run_params({**stored, key: value})[0][key] != stored_params[key]:  # compared as the run reads them
            differ.append((option, f"{key} {stored_params[key]!r}" if isinstance(stored_params[key], str)
                           else f"{key} {stored_params[key]}"))
    if differ:
        options = ", ".join(option for option, _ in differ)
        raise ParamError(f"--resume {where} continues the run as it was configured ({'; '.join(w for _, w in differ)}); "
                         f"{options} {'differs' if len(differ) == 1 else 'differ'}: start a new run with another --out "
                         f"(or leave {'it' if len(differ) == 1 else 'them'} out to resume)")
    return {**stored, **applied}


def resume_config(run_dir: Path) -> dict[str, Any]:
    """The run config of an interrupted run (its config.json) with resume on; errors name the fix."""
    status_path, config_path = run_dir / "status.json", run_dir / "config.json"
    if not status_path.is_file() or not config_path.is_file():
        raise DatasetError(f"--resume {run_dir}: not a fedfair run directory (no status.json / config.json)")
    status = json.loads(status_path.read_text()).get("status")
    if status == "complete":
        raise ParamError(f"--resume {run_dir}: the run is already complete; nothing to resume")
    from fedfair.registry import read_config_file

    return {**read_config_file(config_path, "--resume"), "resume": True, "out-dir": str(run_dir.resolve())}


@app.command()
def compare(
    strategies_: str = typer.Option("fedavg,standalone,ifca,fair-fca", "--strategies", "-s",
                                    help="comma-separated entries NAME or NAME@KEY=VALUE@..., e.g. fedavg,fair-fca@gamma=0.3"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="builtin name or a dataset directory "
                                          f"(default {COMMON_PARAMS['dataset'].default})"),
    seeds: int = typer.Option(3, "--seeds", "-n", help="number of seeds (0 .. N-1) per strategy", min=1),
    rounds: Optional[int] = typer.Option(None, "--rounds", "-r", help="federated rounds of every run "
                                         f"(default {COMMON_PARAMS['rounds'].default})"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output directory (default runs/compare-<dataset>)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML / JSON file of run parameters for every run "
                                          "(the keys of --set; its strategy, seed and out-dir are not used); flags override it"),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE for every run, repeatable; per entry use NAME@KEY=VALUE"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="directory with raw files; also $FEDFAIR_DATA_ROOT"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an earlier comparison's complete runs and "
                                   "tables in --out (fedfair's files; other files stay)"),
    fmt: str = typer.Option("png", "--format", help="figure files: png, svg or pdf"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show every run's rounds and Flower's and Ray's "
                                 "logs (without it: one progress bar over the runs)"),
) -> None:
    """Run several strategies for several seeds; table of mean ± std local accuracy and SP / EqOp / EO, and a scatter.

    Writes OUT/table.md, OUT/table.csv, OUT/results.json, OUT/scatter.png and one run directory per
    (strategy, seed) under OUT/runs. All runs share one simulation.
    """
    from fedfair.comparison import run_comparison

    entries = [e.strip() for e in strategies_.split(",") if e.strip()]
    try:
        overrides = parse_assignments(set_)
        clash = sorted(set(overrides) & {"strategy", "dataset", "rounds", "seed", "out-dir", "data-root"})
        if clash:
            raise ParamError(f"use the dedicated flags instead of --set for {clash}")
        if overwrite:
            overrides["overwrite"] = True
        merged = command_config(config, {"dataset": dataset, "rounds": rounds,
                                         "data-root": None if data_root is None else str(data_root)}, overrides,
                                unused=("strategy", "seed", "out-dir"))  # compare runs --strategies x --seeds into --out
        dataset = merged["dataset"]
        safe_name = Path(dataset).name if Path(dataset).exists() else dataset
        out_dir = (out or Path("runs") / f"compare-{safe_name}").resolve()
        common = {k: v for k, v in merged.items() if k not in ("strategy", "dataset", "rounds", "seed", "out-dir", "data-root")}
        # run_comparison validates every entry before anything runs
        rows = run_comparison(dataset, entries, list(range(seeds)), int(merged["rounds"]), common, out_dir,
                              data_root=str(merged["data-root"] or ""), verbose=verbose, echo=verbose, progress=True,
                              fmt=fmt)
    except USER_ERRORS as err:
        _fail(err)
    print_comparison(rows, f"fedfair compare: {safe_name}, {merged['rounds']} rounds, {seeds} seed(s)", seeds)
    for row in rows:
        if any(row["clusters"]):
            console.print(f"{row['label']} clusters per seed: {row['clusters']}", highlight=False, markup=False)
    console.print(f"results: {out_dir} (table.md, table.csv, results.json, scatter.{fmt}, runs/)", highlight=False)


def print_comparison(rows: Sequence[dict[str, Any]], title: str, seeds: int) -> None:
    """compare's / bench's tables for the terminal (:func:`fedfair.comparison.terminal_report`); table.md keeps
    the Markdown."""
    from fedfair.comparison import terminal_report

    for part in terminal_report(rows, title, seeds):
        if isinstance(part, str):
            console.print(part, highlight=False, markup=False)
        else:
            console.print(part)


@app.command()
def tune(
    strategy: str = typer.Argument(..., help="strategy name (see `fedfair strategies`) or a plugin package.module:Name"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="builtin name or a dataset directory with "
                                          "validation splits (default " f"{COMMON_PARAMS['dataset'].default})"),
    space: Optional[str] = typer.Option(None, "--space", help="what to search: NAME=log:LOW:HIGH, NAME=float:LOW:HIGH, "
                                        "NAME=int:LOW:HIGH or NAME=choice:A|B, comma separated (default: lr, "
                                        "local-epochs and the strategy's / mitigation's own parameters)"),
    objective: str = typer.Option("accuracy", "--objective", help="accuracy, accuracy:METRIC<=BOUND (e.g. "
                                  "accuracy:sp<=0.05) or pareto:METRIC; METRIC sp, eqop, eo, aod or ad"),
    trials: int = typer.Option(20, "--trials", "-t", help="trials (the budget is trials x seeds runs)", min=1),
    seeds: int = typer.Option(1, "--seeds", "-n", help="seeds (0 .. N-1) per trial", min=1),
    rounds: Optional[int] = typer.Option(None, "--rounds", "-r", help="federated rounds of every run "
                                         f"(default {COMMON_PARAMS['rounds'].default})"),
    sampler_seed: int = typer.Option(0, "--sampler-seed", help="seed of the search (Optuna's TPE sampler)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output directory (default runs/tune-<strategy>-<dataset>)"),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE for every run (not searched), repeatable"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="directory with raw files; also $FEDFAIR_DATA_ROOT"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an earlier complete search in --out"),
) -> None:
    """Search one strategy's run parameters on the clients' validation splits (seeded, budgeted in runs).

    Every trial runs each seed with eval-split=val, so the selection never reads a test split. Writes
    OUT/tune.json (space, budget, every trial, the selection and its compare entry), OUT/tune.md and the trials'
    run directories under OUT/trials; prints the `fedfair compare` command that reports the selection on test.
    """
    from fedfair.tuning import TuneSettings, default_space, parse_objective, parse_space
    from fedfair.tuning import tune as run_tune

    try:
        overrides = parse_assignments(set_)
        dataset = dataset or COMMON_PARAMS["dataset"].default
        settings = TuneSettings(strategy=strategy, dataset=dataset,
                                space=tuple(parse_space(space if space is not None else
                                                        default_space(strategy, str(overrides.get("mitigation", "none"))))),
                                objective=parse_objective(objective), trials=trials, seeds=tuple(range(seeds)),
                                rounds=int(rounds or COMMON_PARAMS["rounds"].default), overrides=tuple(overrides.items()),
                                sampler_seed=sampler_seed, data_root=str(data_root or ""))
        safe_name = Path(dataset).name if Path(dataset).exists() else dataset
        out_dir = (out or Path("runs") / f"tune-{strategy}-{safe_name}").resolve()
        result = run_tune(settings, out_dir, overwrite=overwrite)
    except USER_ERRORS as err:
        _fail(err)
    console.print((out_dir / "tune.md").read_text(), highlight=False, markup=False)
    console.print(f"results: {out_dir} (tune.json, tune.md, trials/); selected: "
                  f"{', '.join(result['selection'].get('entries', [])) or 'none'}", highlight=False, markup=False)


def _suites_help() -> str:
    from fedfair.bench import SUITES

    return "; ".join(f"{name}: {s.description}" for name, s in SUITES.items())


@app.command()
def bench(
    suite_name: Optional[str] = typer.Argument(None, metavar="SUITE", help="feda4fair, seed000 or mmfl (omit to list them)"),
    seeds: int = typer.Option(2, "--seeds", "-n", help="number of seeds (0 .. N-1) per entry", min=1),
    rounds: Optional[int] = typer.Option(None, "--rounds", "-r", help="federated rounds of every run (default: the suite's)"),
    strategies_: Optional[str] = typer.Option(None, "--strategies", "-s", help="comma-separated entries "
                                              "NAME or NAME@KEY=VALUE@... instead of the suite's strategies"),
    mitigations: Optional[str] = typer.Option(None, "--mitigations", "-m", help="comma-separated subset of none,fairif,puffle "
                                              "crossed with every strategy (default: the suite's)"),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="comma-separated subset of the suite's datasets"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output directory (default runs/bench-<suite>); "
                                       "run again with the same --out to resume"),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE for every run, repeatable"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="directory with raw files (feda4fair/, adult/, "
                                             "mnist/ ...); also $FEDFAIR_DATA_ROOT"),
    max_train: int = typer.Option(1000, "--max-train", help="feda4fair: at most this many training rows per client "
                                  "(0 = all)", min=0),
    max_test: int = typer.Option(500, "--max-test", help="feda4fair: at most this many test rows per client (0 = all)", min=0),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="also export every run to OUT/tensorboard "
                                     "(tensorboard --logdir OUT/tensorboard)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="redo a complete run of --out whose parameters "
                                   "differ (replacing fedfair's files of it); without it such a run is an error"),
    fmt: str = typer.Option("png", "--format", help="figure files: png, svg or pdf"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show Flower and Ray logs"),
) -> None:
    """Run a named suite (datasets x strategies x mitigations x seeds) and write one self-contained HTML report.

    Suites: feda4fair, seed000, mmfl (run `fedfair bench` without SUITE to list what each holds).
    Every run is validated before any starts, with one simulation per dataset. A finished run (same
    parameters) is never redone, so the same command resumes an interrupted suite.

    Writes OUT/report.html, OUT/bench.json, OUT/<dataset>/table.md (compare's table, with intervals) and
    the run directories under OUT/<dataset>/runs.
    """
    from fedfair.bench import SUITES, run_suite, suite
    from fedfair.tracking import TrackingError

    if suite_name is None:
        for name, s in SUITES.items():
            console.print(f"[bold]{name}[/bold]: {escape(s.description)}; datasets {', '.join(s.dataset_titles())}; "
                          f"strategies {', '.join(s.strategies)}; mitigations {', '.join(s.mitigations)}; "
                          f"{s.rounds} rounds", highlight=False)
        return
    split = lambda text: [x.strip() for x in text.split(",") if x.strip()] if text is not None else None  # noqa: E731
    try:
        chosen = suite(suite_name)
        overrides = parse_assignments(set_)
        clash = sorted(set(overrides) & {"strategy", "dataset", "rounds", "seed", "out-dir", "data-root"})
        if clash:
            raise ParamError(f"use the dedicated flags instead of --set for {clash}")
        out_dir = (out or Path("runs") / f"bench-{suite_name}").resolve()
        if overwrite:
            overrides["overwrite"] = True
        root = str(data_root) if data_root is not None else ""
        meta = run_suite(chosen, list(range(seeds)), out_dir, verbose=verbose, tensorboard=tensorboard, fmt=fmt,
                         rounds=rounds, strategies=split(strategies_), mitigations=split(mitigations),
                         datasets=split(datasets), overrides=overrides, data_root=root, max_train=max_train,
                         max_test=max_test)
    except USER_ERRORS as err:
        _fail(err)
    except TrackingError as err:  # --tensorboard without the tensorboard package
        _fail(err)
    for title, dataset in meta["datasets"].items():  # compare's rows of each dataset, from its results.json
        rows = json.loads((Path(dataset["table"]).parent / "results.json").read_text())["rows"]
        print_comparison(rows, f"{title}: {meta['rounds']} rounds, {len(meta['seeds'])} seed(s)", len(meta["seeds"]))
    runs = meta["runs"]
    console.print(f"{runs['ran']} runs ran, {runs['reused']} reused, {runs['failed']} failed in {meta['wall_seconds']:.0f} s; "
                  f"report: {out_dir / 'report.html'}", highlight=False)
    failed = [(title, r) for title, d in meta["datasets"].items() for r in d.get("runs", []) if r.get("state") == "failed"]
    if failed:  # a suite with a failed run is not a result: say which, exit non-zero (the same command resumes it)
        for title, r in failed:
            err_console.print(f"failed: {title}: {r['label']} seed {r['seed']}: {r.get('error', '')}", highlight=False,
                                markup=False)
        raise typer.Exit(1)


@app.command("tensorboard")
def tensorboard_export(
    run_dirs: list[Path] = typer.Argument(..., exists=True, file_okay=False, help="finished run directories"),
    logdir: Path = typer.Option(Path("runs/tensorboard"), "--logdir", help="where the event files go"),
) -> None:
    """Export finished runs (summary.json + metrics.jsonl) as TensorBoard event files, offline."""
    from fedfair.tracking import TrackingError, export_tensorboard

    try:
        export_tensorboard(run_dirs, logdir)
    except (TrackingError, *USER_ERRORS) as err:
        _fail(err)
    console.print(f"{len(run_dirs)} runs exported; view with: tensorboard --logdir {logdir}", highlight=False)


@app.command()
def metrics(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV file with label, prediction and sensitive columns"),
    label: str = typer.Option(..., "--label", help="true label column"),
    pred: str = typer.Option(..., "--pred", help="prediction column"),
    sensitive: str = typer.Option(..., "--sensitive", help="sensitive column(s), comma separated"),
    intersectional: bool = typer.Option(False, "--intersectional", help="also report the intersection of all sensitive columns"),
    positive: Optional[str] = typer.Option(None, "--positive", help="value of label / prediction meaning positive (for non 0/1 columns)"),
    pairs: bool = typer.Option(False, "--pairs", help="include every value pair (attribute-value level); at most "
                               "20,000 pairs (200 values) per attribute"),
) -> None:
    """Audit predictions: SP, EqOp, EO, AOD and AD per sensitive attribute, printed as JSON."""
    import pandas as pd

    from fedfair.metrics import as_binary, check_pair_count, fairness_report, json_safe

    attrs = [a.strip() for a in sensitive.split(",") if a.strip()]
    try:
        try:
            frame = pd.read_csv(file)
        except pd.errors.EmptyDataError:
            raise DatasetError(f"{file} is empty: expected a CSV with a header row and the columns "
                               f"{[label, pred, *attrs]}") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DatasetError(f"{file} cannot be read as CSV ({str(err).splitlines()[0]})") from None
        missing = [c for c in [label, pred, *attrs] if c not in frame.columns]
        if missing:
            raise DatasetError(f"{file}: column(s) {missing} not found; columns are {list(frame.columns)}")
        if len(frame) == 0:
            raise DatasetError(f"{file} has a header but no rows: nothing to audit")
        for column in [label, pred, *attrs]:
            gaps = frame[column].isna().to_numpy()
            if gaps.any():
                rows = (frame.index[gaps] + 2).tolist()  # file line numbers (line 1 is the header)
                raise DatasetError(f"{file}: column {column!r} has missing values on {int(gaps.sum())} row(s) "
                                   f"(lines {rows[:5]}); fill or drop them")
        y_true = as_binary(frame[label].to_numpy(), positive, name=f"label column {label!r}")
        y_pred = as_binary(frame[pred].to_numpy(), positive, name=f"prediction column {pred!r}")
        groups = {a: frame[a].to_numpy() for a in attrs}
        if pairs:
            check_pair_count(groups, intersectional)
    except (ValueError, DatasetError) as err:
        _fail(err)
    report = fairness_report(y_true, y_pred, groups, intersectional=intersectional, with_pairs=pairs)
    typer.echo(json.dumps(json_safe(report), indent=2))


@app.command()
def certificates(
    out: Path = typer.Option(..., "--out", "-o", help="directory to write the CA, the SuperLink's certificate and keys"),
    host: list[str] = typer.Option(..., "--host", help="the SuperLink's address as SuperNodes reach it (IP or DNS "
                                   "name); repeatable"),
    nodes: int = typer.Option(2, "--nodes", help="SuperNode key pairs to write (node-1.key / node-1.pub, ...)", min=0),
    days: int = typer.Option(365, "--days", help="validity of the certificates", min=1),
    force: bool = typer.Option(False, "--force", help="replace the certificates and keys an earlier call wrote to "
                               "--out (every deployed site then needs the new ones); without it they are never "
                               "overwritten"),
) -> None:
    """Write a CA, a TLS certificate for the SuperLink and SuperNode key pairs for a secure deployment (README:
    "Secure deployment")."""
    from fedfair.certificates import write_certificates

    try:
        written = write_certificates(out, host, nodes, days, force=force)
    except (ValueError, OSError) as err:
        _fail(err)
    console.print(f"wrote {', '.join(p.name for p in written)} to {out.resolve()}; keep ca.key and the .key files "
                  f"private", highlight=False)


def _description(doc: str) -> str:
    """A docstring's first paragraph as one line of plain text, papers by name (``seed 000`` -> ``Yang et al.``)."""
    import re

    from fedfair.registry import cite

    first = " ".join(doc.strip().split("\n\n")[0].split())
    return cite(re.sub(r":\w+:`~?([^`]+)`|``([^`]+)``", lambda m: m.group(1) or m.group(2), first))


@app.command()
def strategies() -> None:
    """List the strategies `--strategy` accepts: fedfair's and the installed plugins' (entry points of the group
    fedfair.strategies), with where each comes from. Any `package.module:Name` is accepted too."""
    from fedfair.registry import builtin_strategy_doc, strategy_class, strategy_names

    names = strategy_names()
    modules = [origin.target.split(":")[0] for origin in names.values()]
    for name, origin in sorted(names.items()):
        # fedfair's own are read from their source, not imported (Flower and torch take seconds to import)
        doc = builtin_strategy_doc(name, of_class=modules.count(origin.target.split(":")[0]) > 1)
        if doc is None:
            try:
                cls = strategy_class(name)
            except USER_ERRORS as err:  # a broken plugin is listed with its problem, the others still are
                console.print(f"[bold]{escape(name)}[/bold] ({escape(origin.source)}): [red]{escape(str(err))}[/red]")
                continue
            shared = modules.count(cls.__module__) > 1  # two strategies in one module: the class says which is which
            doc = (cls.__doc__ if shared else sys.modules[cls.__module__].__doc__) or ""
        where = "" if origin.source == "fedfair" else f" [dim]({escape(origin.source)}: {escape(origin.target)})[/dim]"
        console.print(f"[bold]{escape(name)}[/bold]{where}: {escape(_description(doc))}", highlight=False)


@app.command()
def params(
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help="only the parameters a run of this strategy reads"),
) -> None:
    """List the run parameters (`--set KEY=VALUE`, `flwr run . --run-config`) by component, with defaults and ranges.

    Components: common (every run), each strategy's own, each client-side plug-in's (local ...).
    """
    from fedfair.config import accepted
    from fedfair.registry import param_catalogue, strategy_components

    try:
        components = strategy_components(strategy) if strategy else param_catalogue()
    except USER_ERRORS as err:
        _fail(err)
    from fedfair.local import objective_names
    from fedfair.registry import cite, strategy_names

    origins = {**{f"strategy {n}": o for n, o in strategy_names().items()},
               **{f"local {n}": o for n, o in objective_names().items()}}
    # one table per component, the same columns in each: the meaning (and the accepted values under it) gets
    # what is left of the width, so that 100 columns read without a word cut
    key_width = max((len(key) for specs in components.values() for key in specs), default=3)
    for component, specs in components.items():
        origin = origins.get(component)
        if origin is not None and origin.source != "fedfair":  # a plugin says where it comes from
            component = f"{component} ({origin.source})"
        table = Table(title=escape(component), title_justify="left", title_style="bold", expand=True)
        table.add_column("key", width=key_width, no_wrap=True)
        table.add_column("default", width=12, overflow="fold")
        table.add_column("meaning; accepted values", ratio=1)
        for key, spec in specs.items():
            allowed = accepted(spec)
            table.add_row(escape(key), escape(repr(spec.default)), escape(cite(spec.help))
                          + (f"\n[dim]accepted: {escape(allowed)}[/dim]" if allowed else ""))
        console.print(table)


@app.command()
def auction(
    mechanism: Optional[str] = typer.Option(None, "--mechanism", "-m", help="budget-fair, mmfl-max-min, gmm-fair, "
                                            "val-threshold, greedy-within-budget or random-within-budget"),
    budget: Optional[float] = typer.Option(None, "--budget", "-b", help="total budget B shared by the tasks (bids "
                                           "are in [0, 1]); not used by val-threshold"),
    bids: Optional[Path] = typer.Option(None, "--bids", help="CSV with columns user,task,bid, one row per bid"),
    seed: int = typer.Option(0, "--seed", help="random-within-budget's order"),
    no_fractional: bool = typer.Option(False, "--no-fractional", help="mmfl-max-min: end without the fractional "
                                       "last round (Algorithm 3 lines 17-21)"),
    price: float = typer.Option(0.4, "--price", help="val-threshold's posted price"),
    simulate_: bool = typer.Option(False, "--simulate", help="run Experiment 5 instead: every mechanism at every "
                                   "budget on drawn bids"),
    users: int = typer.Option(100, "--users", help="--simulate: users bidding for every task", min=1),
    tasks: str = typer.Option("gauss:0.5:0.2,linear", "--tasks", help="--simulate: one bid law per task: "
                              "gauss:MEAN:STD (truncated to [0, 1]), linear (density 2x), uniform"),
    budgets: str = typer.Option("1:40:40", "--budgets", help="--simulate: START:STOP:COUNT or B1,B2,..."),
    seeds: int = typer.Option(5, "--seeds", help="--simulate: bid draws (seeds 0 .. N-1)", min=1),
    out: Path = typer.Option(Path("runs/auction"), "--out", "-o", help="--simulate: output directory"),
    overwrite: bool = typer.Option(False, "--overwrite", help="--simulate: replace an earlier simulation's files "
                                   "in --out (other files stay)"),
) -> None:
    """Recruit users per task with a budget (Siew et al., Section V): winners, payments and take-up as JSON.

    `fedfair auction -m mmfl-max-min -b 10 --bids bids.csv` runs one mechanism on the bids of a CSV
    (user,task,bid; bids in [0, 1]). `fedfair auction --simulate` runs Experiment 5 and writes
    OUT/take_up.csv, OUT/take_up_difference.png and OUT/take_up_min.png (Fig. 7 (a), (b)).
    """
    from fedfair.recruitment import (
        EXPERIMENT_5, MECHANISMS, auction_report, mean_over_seeds, parse_budgets, parse_distributions, read_bids,
        simulate_take_up, write_take_up,
    )
    from fedfair.strategies.auctions import run_mechanism

    try:
        if simulate_:
            from fedfair.outdirs import check, claim

            laws = parse_distributions(tasks)
            check(out, "auction", overwrite=overwrite)  # before the simulation
            rows = simulate_take_up(users, laws, parse_budgets(budgets), seeds, fractional=not no_fractional)
            with claim(out, "auction", overwrite=overwrite, clear_files=True) as held:
                written = write_take_up(rows, held.path, [f"task{s + 1}" for s in range(len(laws))])
                held.done()
            table = Table("mechanism", "budget", "min take-up", "difference", title="mean over seeds (a few budgets)")
            minimum, spread = mean_over_seeds(rows, "min_take_up"), mean_over_seeds(rows, "difference")
            for label, _, _ in EXPERIMENT_5:
                b, values = minimum[label]
                for j in sorted({0, len(b) // 2, len(b) - 1}):
                    table.add_row(label, f"{b[j]:.4g}", f"{values[j]:.2f}", f"{spread[label][1][j]:.2f}")
            console.print(table)
            console.print(f"results: {', '.join(str(p) for p in written)}", highlight=False)
            return
        if mechanism is None or bids is None:
            raise ValueError("give --mechanism and --bids (or --simulate); mechanisms: " + ", ".join(MECHANISMS))
        if mechanism != "val-threshold" and budget is None:
            raise ValueError(f"{mechanism} needs --budget B > 0")
        if budget is not None and not math.isfinite(budget):
            raise ValueError(f"--budget {budget}: the budget must be > 0 and finite (bids are in [0, 1]; a budget "
                             f"as large as the sum of the bids recruits every bidder)")
        if not math.isfinite(price):
            raise ValueError(f"--price {price}: val-threshold's posted price must be in (0, 1], like the bids")
        table_ = read_bids(bids)
        result = run_mechanism(mechanism, table_.bids, budget, seed=seed, fractional=not no_fractional, price=price)
    except ValueError as err:
        _fail(err)
    report = auction_report(mechanism, budget, result, table_.users, table_.tasks)
    for warning in report.get("warnings", []):
        err_console.print(f"[bold yellow]warning:[/bold yellow] {escape(str(warning))}", highlight=False)
    typer.echo(json.dumps(report, indent=2))


@app.command()
def fairif(
    dataset: str = typer.Option(..., "--dataset", "-d", help="dataset directory (with val splits) or builtin name"),
    client: Optional[str] = typer.Option(None, "--client", "-c", help="one client's data: its name, or a partition id "
                                         "0..N-1 when no client has that name"),
    pooled: bool = typer.Option(False, "--pooled", help="all clients' rows together (the paper's centralised setting)"),
    sensitive: str = typer.Option("", "--sensitive", help="sensitive attribute (default: the dataset's first)"),
    epochs: int = typer.Option(250, "--epochs", help="at most this many epochs per model (stops at convergence)", min=1),
    lr: float = typer.Option(2e-4, "--lr", help="learning rate (Appendix B: 0.0002 with Adam)"),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam or sgd"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    hidden: str = typer.Option("64", "--hidden", help="MLP hidden sizes (Appendix B: one layer of 64)"),
    lam: float = typer.Option(0.1, "--lambda", help="eq. 14's lambda (Appendix B: 0.1)", min=0.0),
    seed: int = typer.Option(0, "--seed"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="directory with raw files; also $FEDFAIR_DATA_ROOT"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """FairIF (Wang et al.) in its centralised setting: ERM vs FairIF on one client or the pooled clients.

    Trains ERM to convergence, computes FairIF's row weights from it and the validation split's groups,
    retrains from the same start with the weighted loss, and prints Acc, AD, AOD and EOD of both on the
    test split.
    """
    from fedfair.centralised import pooled_client, run_centralised
    from fedfair.config import hidden_sizes
    from fedfair.data import load_client
    from fedfair.registry import resolve_dataset

    try:
        if pooled == (client is not None):
            raise DatasetError("give exactly one of --client NAME and --pooled")
        root = resolve_dataset(dataset, seed, data_root=str(data_root) if data_root else None)
        if pooled:
            data = pooled_client(str(root))
        else:  # a client's name wins over a partition id: --client 1 is the client named '1' when there is one
            from fedfair.data import read_manifest

            named = client in read_manifest(root).client_names
            data = load_client(root, client if named or not client.isdigit() else int(client))
        result = run_centralised(data, sensitive, {"model": "mlp", "hidden": hidden_sizes(hidden)}, lr=lr,
                                 epochs=epochs, batch_size=batch_size, lam=lam, seed=seed, optimizer=optimizer)
    except (*USER_ERRORS, ValueError) as err:
        _fail(err)
    if as_json:
        typer.echo(json.dumps({"rows": result.rows, "weights": result.weights}, indent=2))
        return
    table = Table("model", "Acc", "AD (%)", "AOD", "EOD", "epochs", title=f"FairIF on {data.name} ({dataset})")
    for name, row in result.rows.items():
        table.add_row(name, f"{100 * row['accuracy']:.2f}", f"{row['ad']:.2f}", f"{row['aod']:.4f}", f"{row['eod']:.4f}",
                      str(row["epochs"]))
    console.print(table)
    w = result.weights
    console.print(f"weights: {w['method']} iHVP (damping {w['damping']:g}, residual {w['residual']:.2g}), range {w['min']:.3g}-{w['max']:.3g}, "
                  f"{w['clipped']} clipped at 0", highlight=False)


@data_app.command("create")
def data_create(
    name: str = typer.Argument(..., help=f"builtin dataset: {', '.join(sorted(DATASETS))}"),
    out: Path = typer.Option(..., "--out", "-o", help="directory to write"),
    seed: int = typer.Option(0, "--seed"),
    splits: Optional[str] = typer.Option(None, "--splits", help="train,val,test fractions instead of the builtin's own "
                                         "split, e.g. 0.7,0.15,0.15 for a val split"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="directory with raw files; also $FEDFAIR_DATA_ROOT"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the dataset an earlier call wrote to --out "
                                   "(fedfair's files; other files stay)"),
) -> None:
    """Write a builtin dataset to a directory (e.g. to hand it to SuperNodes in a deployment, or with a val split)."""
    from fedfair.data_cli import claim_output
    from fedfair.registry import DATASETS as BUILTINS, build_builtin_dataset

    try:
        fractions = None
        if splits:
            try:
                fractions = [float(x) for x in splits.split(",")]
            except ValueError:
                raise DatasetError(f"--splits expects three fractions train,val,test, got {splits!r}") from None
        if name in BUILTINS:  # an unknown name is reported first
            from fedfair.partitioners.task_sets import TASK_SETS
            from fedfair.results import status

            kind = "task-set" if name in TASK_SETS or name == "acs-tasks" else "dataset"
            with claim_output(out, kind, overwrite) as held, status(f"building {kind} {name} ..."):
                root = build_builtin_dataset(name, held.path, seed, data_root=str(data_root) if data_root else None,
                                             splits=fractions)
        else:
            root = build_builtin_dataset(name, out, seed, data_root=str(data_root) if data_root else None, splits=fractions)
    except USER_ERRORS as err:
        _fail(err)
    console.print(f"wrote {root}", highlight=False)


@data_app.command("list")
def data_list() -> None:
    """List the builtin datasets."""
    for name in sorted(DATASETS):
        console.print(f"[bold]{name}[/bold]: {DATASETS[name]}", highlight=False)


def _register_data_commands() -> None:
    from fedfair.data_cli import register

    register(data_app, console, _fail, USER_ERRORS)


_register_data_commands()


def _reflow(doc: str) -> str:
    """A docstring for a command's help: each paragraph on one line (typer keeps a paragraph's line breaks, which
    break lines twice at 100 columns), lists and indented blocks as they are, papers by name."""
    import inspect

    from fedfair.registry import cite

    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return cite("\n\n".join(p if any(line.startswith((" ", "- ", "* ", "|")) for line in p.splitlines())
                              else " ".join(p.split()) for p in paragraphs))


def _readable_help(group: typer.Typer) -> None:
    """Every command's docstring reflowed (:func:`_reflow`) as its help, and its options' help with the papers by
    name, in ``group`` and its sub-groups."""
    import inspect

    from fedfair.registry import cite

    for info in group.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _reflow(info.callback.__doc__)
        for parameter in inspect.signature(info.callback).parameters.values() if info.callback else ():
            if isinstance(parameter.default, typer.models.ParameterInfo) and parameter.default.help:
                parameter.default.help = cite(parameter.default.help)
    for sub in group.registered_groups:
        _readable_help(sub.typer_instance)


_readable_help(app)


def main() -> None:
    """Console-script entry point."""
    from fedfair import simulation

    simulation.set_offline_env()
    simulation.EXIT_ON_INTERRUPT = True
    simulation.STATUS_LINES = True
    try:
        app()
    finally:  # the exit's garbage collection skips what the command built (seconds over a 1,000-client run's objects)
        import gc

        gc.freeze()


if __name__ == "__main__":
    main()
