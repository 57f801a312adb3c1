"""The public Python API: run, compare, load a run, build a dataset.

Every caller of a simulation goes through here: ``fedfair run`` / ``compare`` / ``bench``, the benchmark
scripts and a researcher's notebook::

    import fedfair

    result = fedfair.run("ifca", "synthetic-gaussian-8", rounds=3, seed=0, num_clusters=2)
    result.clients          # DataFrame: one row per client (accuracy, <metric>_<attribute>, intervals)
    result.rounds           # DataFrame: one row per (round, client, model) of metrics.jsonl
    result.summary          # summary.json as a dict

    comparison = fedfair.compare(["fedavg", "ifca@num-clusters=2"], "synthetic-gaussian-8", seeds=2, rounds=5)
    comparison.table        # DataFrame: one row per entry, mean / std over seeds, intervals

    fedfair.load_run("runs/ifca-synthetic-gaussian-8-seed0")   # the same tables for a finished run

Parameters are the run parameters of ``fedfair params`` (``num_clusters=2`` and ``**{"num-clusters": 2}``
are the same). The number of clients comes from the dataset. Every check that can be made before Ray starts
is made before Ray starts (:func:`prepare_run`): parameter names and values, and those that need the dataset
(the strategy's :meth:`check_dataset`, a sensitive attribute the dataset has, a model that fits its inputs).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedfair.config import ParamError

__all__ = ["Comparison", "DatasetFacts", "PreparedRun", "RunResult", "build_dataset", "compare", "load_run",
           "prepare_run", "prepare_runs", "run", "run_configs"]


# ----- what a dataset offers, read before any training ----------------------------------------------
@dataclass(frozen=True)
class DatasetFacts:
    """What the pre-flight checks need from a dataset (or task set): its clients and their sizes, its sensitive
    attributes, label classes and input shape."""

    root: Path
    clients: list[str]
    n_train: dict[str, int] = field(default_factory=dict)
    sensitive: dict[str, list[Any]] = field(default_factory=dict)
    num_classes: int = 2
    input_shape: tuple[int, ...] | None = None
    task_set: bool = False

    @property
    def training_clients(self) -> int:
        """Clients with training rows (cross-device held-out test clients have none)."""
        return sum(1 for c in self.clients if self.n_train.get(c, 1) > 0)


def dataset_facts(root: str | os.PathLike[str]) -> DatasetFacts:
    """Load every client once (bad data fails here, before training) and read the manifest's facts; once per
    process and dataset version (a rebuilt dataset is read again)."""
    from fedfair.data import MANIFEST

    path = Path(root).resolve()
    marker = path / MANIFEST if (path / MANIFEST).is_file() else path / "tasks.json"
    stamp = marker.stat().st_mtime_ns if marker.is_file() else 0
    return _dataset_facts(str(path), stamp)


@functools.lru_cache(maxsize=64)
def _dataset_facts(root: str, stamp: int) -> DatasetFacts:
    from fedfair.data import read_manifest
    from fedfair.tasks import is_task_set, load_task_set, validate_clients

    clients = validate_clients(root)
    if is_task_set(root):
        return DatasetFacts(Path(root), list(clients), task_set=True, num_classes=max(
            read_manifest(t.dataset_dir).num_classes for t in load_task_set(root).tasks))
    manifest = read_manifest(root)
    sizes = {c.name: 1 if c.n_train is None else int(c.n_train) for c in manifest.clients}
    return DatasetFacts(Path(root), list(clients), sizes, manifest.sensitive_values, manifest.num_classes,
                        manifest.input_shape)


# ----- one run, prepared -------------------------------------------------------------------------------
@dataclass
class PreparedRun:
    """A run that passed every check: its run config (as sent to the ServerApp), validated parameters, the
    dataset directory and its facts."""

    config: dict[str, Any]
    params: dict[str, Any]
    dataset_dir: Path | None
    facts: DatasetFacts | None

    @property
    def num_clients(self) -> int:
        """SuperNodes the simulation starts: one per client of the dataset (``min-nodes`` when set)."""
        return int(self.params.get("min-nodes") or 0) or (len(self.facts.clients) if self.facts else 1)

    @property
    def out_dir(self) -> Path:
        return Path(self.config["out-dir"])


def _kebab(params: Mapping[str, Any]) -> dict[str, Any]:
    """Python keyword names (``num_clusters``) as run-parameter keys (``num-clusters``)."""
    return {key.replace("_", "-"): value for key, value in params.items()}


def default_out_dir(strategy: str, dataset: str, seed: int) -> Path:
    """``runs/<strategy>-<dataset>-seed<seed>`` (a dataset directory by its folder name; a plugin strategy
    ``pkg.mod:Name`` by ``Name``)."""
    name = Path(dataset).name if Path(dataset).exists() else dataset
    return Path("runs") / f"{strategy.rsplit(':', 1)[-1]}-{name}-seed{seed}"


def check_dataset_fits(cls: Any, params: Mapping[str, Any], facts: DatasetFacts) -> None:
    """The checks that need the dataset, before any work: a fair strategy's ``sensitive`` attribute exists, the
    model fits the inputs, and the strategy's own :meth:`check_dataset` (e.g. num-clusters <= clients)."""
    from fedfair.registry import check_model_fits

    check_model_fits(params, facts.root)
    chosen = params.get("sensitive")
    if chosen and not facts.task_set and chosen not in facts.sensitive:
        raise ParamError(f"sensitive attribute {chosen!r} is not in the dataset; available: "
                         f"{', '.join(facts.sensitive) or 'none'}")
    if "fairness" in params and not facts.task_set:  # a strategy with fairness terms (SP / EqOp / EO)
        if facts.num_classes > 2:
            raise ParamError(f"{params['strategy']} measures SP / EqOp / EO, which need a binary label; this dataset's "
                             f"label has {facts.num_classes} classes: use a binary dataset or a strategy without "
                             f"fairness terms")
        if not facts.sensitive:
            raise ParamError(f"{params['strategy']} needs a sensitive attribute, but the dataset declares none: "
                             f"rebuild it with --sensitive")
    cls.check_dataset(params, facts)


def prepare_run(run_config: Mapping[str, Any], *, check_out: bool = True) -> PreparedRun:
    """Validate a run config completely, creating nothing but the (cached) builtin dataset: the parameters
    (names, types, ranges, the strategy's cross-checks), the dataset (every client loads) and the checks that
    need it. A ParamError / DatasetError names the problem and the fix."""
    from fedfair.registry import check_min_nodes, resolve_dataset, run_params, strategy_class
    from fedfair.results import RunRecorder

    config = dict(run_config)
    params, _ = run_params(config)  # the run itself notes ignored keys
    if config.get("out-dir"):
        config["out-dir"] = str(Path(config["out-dir"]).expanduser().resolve())
        if check_out and not params.get("resume"):
            RunRecorder.check_out_dir(config["out-dir"], overwrite=bool(params.get("overwrite")))
    root = facts = None
    if params["dataset"]:
        root = resolve_dataset(params["dataset"], params["seed"], data_root=params["data-root"] or None)
        facts = dataset_facts(root)
        check_min_nodes(params, len(facts.clients), params["dataset"])  # a simulation has one node per client
        check_dataset_fits(strategy_class(params["strategy"]), params, facts)
    _check_device(params)
    return PreparedRun(config, params, root, facts)


def _check_device(params: Mapping[str, Any]) -> None:
    """The ``device`` parameter names a device this machine has (:func:`fedfair.device.check_device`); with
    ``RAY_ADDRESS`` the cluster's machines decide."""
    if "device" in params and not os.environ.get("RAY_ADDRESS"):
        from fedfair.device import check_device

        check_device(params["device"])


def prepare_runs(run_configs: Sequence[Mapping[str, Any]], *, check_out: bool = True) -> list[PreparedRun]:
    """:func:`prepare_run` for every config of one simulation; they must have the same number of clients."""
    from fedfair.device import simulation_resources

    prepared = [prepare_run(c, check_out=check_out) for c in run_configs]
    simulation_resources([p.params for p in prepared])  # the runs of one simulation share its Ray resources
    sizes = sorted({p.num_clients for p in prepared})
    if len(sizes) > 1:
        raise ParamError(f"the runs of one simulation need the same number of clients, got {sizes}: run them "
                         f"separately")
    return prepared


def run_configs(run_configs_: Sequence[Mapping[str, Any]], *, verbose: bool = False, echo: bool = True,
                keep_going: bool = True, on_done: Any = None, prepared: Sequence[PreparedRun] | None = None,
                ) -> list[dict[str, Any]]:
    """Run several validated configs in one simulation (one SuperNode per client of their dataset); one summary
    per run (``{"error": ...}`` for a failed run with ``keep_going``)."""
    from fedfair.simulation import simulate_many

    prepared = list(prepared) if prepared is not None else prepare_runs(run_configs_)
    if not prepared:
        return []
    return simulate_many([p.config for p in prepared], num_supernodes=prepared[0].num_clients, verbose=verbose,
                         echo=echo, keep_going=keep_going, on_done=on_done)


def run(strategy: str = "fedavg", dataset: str | os.PathLike[str] = "synthetic-gaussian-8", *, rounds: int = 10,
        seed: int = 0, out: str | os.PathLike[str] | None = None, data_root: str | os.PathLike[str] | None = None,
        resume: bool = False, verbose: bool = False, echo: bool = False, plot_format: str = "png",
        **params: Any) -> RunResult:
    """Run one federated simulation and return its results.

    ``strategy`` is a name of ``fedfair strategies`` or a plugin ``package.module:Name``; ``dataset`` a builtin
    name or a dataset directory; ``params`` any run parameter (``num_clusters=2``, ``lr=0.1``,
    ``mitigation="fairif"``). ``out`` defaults to ``runs/<strategy>-<dataset>-seed<seed>``. ``echo`` prints
    the rounds; ``verbose`` shows Flower's and Ray's logs; ``plot_format`` the figures' files: png, svg or pdf.
    Raises ParamError / DatasetError (before Ray starts) on bad input, and the run's error if it fails (its run
    directory then says ``failed``).
    """
    from fedfair.figures import check_format

    dataset = str(dataset)
    for key, argument in (("out-dir", "out"), ("data-root", "data_root"), ("resume", "resume")):
        if key in _kebab(params):  # the function's own argument would silently win
            raise ParamError(f"fedfair.run: {key.replace('-', '_')}= is not a run parameter here; pass {argument}=...")
    out_dir = Path(out) if out is not None else default_out_dir(strategy, dataset, seed)
    config = {"strategy": strategy, "dataset": dataset, "rounds": rounds, "seed": seed, **_kebab(params),
              "out-dir": str(out_dir.expanduser().resolve()), "resume": bool(resume)}
    if data_root is not None:
        config["data-root"] = str(data_root)
    if check_format(plot_format) != "png":  # the run parameter plot-format
        config["plot-format"] = plot_format
    prepared = prepare_run(config)
    run_configs([prepared.config], verbose=verbose, echo=echo, keep_going=False, prepared=[prepared])
    return load_run(prepared.out_dir)


# ----- results -------------------------------------------------------------------------------------------
_ROUND_COLUMNS = ("round", "stage", "client", "partition_id", "task", "model", "cluster", "accuracy", "loss")
_CLIENT_COLUMNS = ("client", "partition_id", "task", "n_train", "n_test", "cluster", "model", "accuracy", "loss")


def _flat_fairness(row: dict[str, Any], fairness: Mapping[str, Mapping[str, Any]],
                   ci: Mapping[str, Mapping[str, Sequence[float]]] | None = None) -> None:
    """``fairness[attribute][metric]`` as columns ``<metric>_<attribute>`` (+ ``_lo`` / ``_hi`` with intervals)."""
    for attribute, metrics in fairness.items():
        for metric, value in metrics.items():
            row[f"{metric}_{attribute}"] = math.nan if value is None else value
            bounds = (ci or {}).get(attribute, {}).get(metric)
            if bounds is not None:
                row[f"{metric}_{attribute}_lo"], row[f"{metric}_{attribute}_hi"] = bounds


def client_rows(clients: Iterable[Mapping[str, Any]], task: str = "") -> list[dict[str, Any]]:
    """Tidy rows of summary.json clients: identity, accuracy (+ interval), loss, ``<metric>_<attribute>``."""
    rows = []
    for client in clients:
        row = {key: client[key] for key in _CLIENT_COLUMNS if key in client and key != "loss"}
        if task:
            row["task"] = task
        ci = client.get("ci") or {}
        if ci.get("accuracy") is not None:
            row["accuracy_lo"], row["accuracy_hi"] = ci["accuracy"]
        row["loss"] = client.get("loss")
        _flat_fairness(row, client.get("fairness") or {}, ci.get("fairness"))
        rows.append(row)
    return rows


def round_rows(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tidy rows of metrics.jsonl: every key but the group tables, fairness as ``<metric>_<attribute>``."""
    rows = []
    for line in lines:
        first = {key: line[key] for key in _ROUND_COLUMNS if key in line}
        row = {**first, **{key: value for key, value in line.items() if key not in ("fairness", "groups")}}
        _flat_fairness(row, line.get("fairness") or {})
        rows.append(row)
    return rows


@dataclass
class RunResult:
    """A finished (or failed / interrupted) run directory, read back: summary.json, config.json, metrics.jsonl."""

    out_dir: Path
    summary: dict[str, Any]
    config: dict[str, Any]
    status: dict[str, Any]

    @property
    def complete(self) -> bool:
        return self.status.get("status") == "complete"

    @property
    def clients(self):  # noqa: ANN201 (pandas is imported lazily)
        """One row per client (per task in a task set): client, partition_id, n_train, n_test, cluster, model,
        accuracy, accuracy_lo / _hi, loss, and ``<metric>_<attribute>`` (sp, eqop, eo, aod, ad) with ``_lo`` /
        ``_hi`` interval columns."""
        import pandas as pd

        if "tasks" in self.summary:
            rows = [r for task, part in self.summary["tasks"].items() for r in client_rows(part["clients"], task)]
        else:
            rows = client_rows(self.summary.get("clients", []))
        return pd.DataFrame(rows)

    @functools.cached_property
    def rounds(self):  # noqa: ANN201
        """metrics.jsonl as a tidy table: one row per (round, client, model) evaluation (``stage`` evaluate), and
        per failed reply (``stage`` failed)."""
        import pandas as pd
        from fedfair.results import METRICS

        path = self.out_dir / METRICS
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
        return pd.DataFrame(round_rows(lines))

    @property
    def mean(self) -> dict[str, Any]:
        """The means over clients (per task in a task set): accuracy, loss, fairness, their intervals."""
        if "tasks" in self.summary:
            return {task: part["mean"] for task, part in self.summary["tasks"].items()}
        return dict(self.summary.get("mean", {}))

    @property
    def plots(self) -> dict[str, Path]:
        """The run's figures by file name (png, svg or pdf)."""
        return {p.name: p for p in sorted(self.out_dir.iterdir()) if p.suffix in (".png", ".svg", ".pdf")}

    def __repr__(self) -> str:
        what = f"{self.summary.get('strategy', self.config.get('strategy'))} on {self.config.get('dataset', '?')}"
        return f"RunResult({what}, {self.status.get('status', '?')}, {self.out_dir})"


def load_run(out_dir: str | os.PathLike[str]) -> RunResult:
    """Read a run directory written by ``fedfair run``, :func:`run`, compare, bench or ``flwr run .``."""
    from fedfair.data import DatasetError
    from fedfair.results import CONFIG, STATUS, SUMMARY

    root = Path(out_dir).expanduser().resolve()
    if not (root / STATUS).is_file() or not (root / CONFIG).is_file():
        raise DatasetError(f"{root} is not a fedfair run directory (no {STATUS} / {CONFIG}): give the --out of a run")

    def read(name: str) -> dict[str, Any]:
        path = root / name
        return json.loads(path.read_text()) if path.is_file() else {}

    return RunResult(root, read(SUMMARY), read(CONFIG), read(STATUS))


# ----- comparisons ---------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """A comparison's table (one row per entry: mean and std over seeds, intervals) and its runs."""

    out_dir: Path
    rows: list[dict[str, Any]]
    runs: dict[str, list[RunResult]]

    @property
    def table(self):  # noqa: ANN201
        """One row per entry: runs, failed, accuracy mean / std / interval, ``<metric>_<attribute>`` mean / std
        / interval, MB down / up."""
        import pandas as pd

        records = []
        for row in self.rows:
            record: dict[str, Any] = {"entry": row["label"], "runs": row["runs"], "failed": row["failed"]}
            ci = row.get("ci") or {}
            record["accuracy"], record["accuracy_std"] = row["accuracy"]
            if ci.get("accuracy"):
                record["accuracy_lo"], record["accuracy_hi"] = ci["accuracy"]
            for attribute, metrics in row["fairness"].items():
                for metric, (mean, std) in metrics.items():
                    key = f"{metric}_{attribute}"
                    record[key], record[f"{key}_std"] = mean, std
                    bounds = ci.get("fairness", {}).get(attribute, {}).get(metric)
                    if bounds:
                        record[f"{key}_lo"], record[f"{key}_hi"] = bounds
            record["mb_down"], record["mb_up"] = row["down_mb"][0], row["up_mb"][0]
            record["differs"] = ",".join(row.get("differs", []))
            records.append(record)
        return pd.DataFrame(records)

    @property
    def markdown(self) -> str:
        return (self.out_dir / "table.md").read_text()


def compare(entries: Sequence[str], dataset: str | os.PathLike[str] = "synthetic-gaussian-8", *,
            seeds: int | Sequence[int] = 3, rounds: int = 10, out: str | os.PathLike[str] | None = None,
            data_root: str | os.PathLike[str] | None = None, verbose: bool = False, echo: bool = False,
            plot_format: str = "png", **params: Any) -> Comparison:
    """Run every entry (``NAME`` or ``NAME@KEY=VALUE@...``, a name may be a plugin ``pkg.mod:Name``) for every
    seed in one simulation and tabulate them; ``params`` apply to every run. Writes ``out`` (default
    ``runs/compare-<dataset>``): table.md, table.csv, results.json, scatter.png, curves.png (``plot_format`` svg or
    pdf: .svg / .pdf), runs/."""
    from fedfair.comparison import run_comparison, safe_name

    dataset = str(dataset)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    name = Path(dataset).name if Path(dataset).exists() else dataset
    out_dir = (Path(out) if out is not None else Path("runs") / f"compare-{name}").expanduser().resolve()
    rows = run_comparison(dataset, list(entries), seed_list, rounds, _kebab(params), out_dir,
                          data_root=str(data_root or ""), verbose=verbose, echo=echo, fmt=plot_format)
    runs = {entry: [load_run(out_dir / "runs" / f"{safe_name(entry)}-seed{seed}") for seed in seed_list
                    if (out_dir / "runs" / f"{safe_name(entry)}-seed{seed}" / "status.json").is_file()]
            for entry in entries}
    return Comparison(out_dir, rows, runs)


def tune(strategy: str, dataset: str | os.PathLike[str] = "synthetic-gaussian-8", *, space: str | None = None,
         objective: str = "accuracy", trials: int = 20, seeds: int = 1, rounds: int = 10,
         out: str | os.PathLike[str] | None = None, sampler_seed: int = 0, data_root: str | os.PathLike[str] | None = None,
         overwrite: bool = False, echo: bool = False, **params: Any) -> dict[str, Any]:
    """Search ``strategy``'s run parameters on the clients' validation splits (``fedfair tune``,
    :mod:`fedfair.tuning`): ``space`` as ``"lr=log:0.001:0.5,local-epochs=int:1:5"`` (default: the loop and the
    strategy's / mitigation's own parameters), ``objective`` ``accuracy``, ``accuracy:sp<=0.05`` or
    ``pareto:sp``, ``trials`` x ``seeds`` runs; ``params`` fixed for every run. Returns tune.json's content; its
    ``selection["entries"]`` are ``fedfair.compare`` entries that report the selection on the test splits."""
    from fedfair.tuning import TuneSettings, default_space, parse_objective, parse_space
    from fedfair.tuning import tune as run_tune

    dataset = str(dataset)
    fixed = _kebab(params)
    settings = TuneSettings(strategy=strategy, dataset=dataset,
                            space=tuple(parse_space(space if space is not None
                                                    else default_space(strategy, str(fixed.get("mitigation", "none"))))),
                            objective=parse_objective(objective), trials=int(trials), seeds=tuple(range(int(seeds))),
                            rounds=int(rounds), overrides=tuple(fixed.items()), sampler_seed=int(sampler_seed),
                            data_root=str(data_root or ""))
    name = Path(dataset).name if Path(dataset).exists() else dataset
    out_dir = (Path(out) if out is not None else Path("runs") / f"tune-{strategy}-{name}").expanduser().resolve()
    return run_tune(settings, out_dir, overwrite=overwrite, echo=echo)


# ----- datasets --------------------------------------------------------------------------------------------
def build_dataset(spec: str | os.PathLike[str] | Mapping[str, Any], out: str | os.PathLike[str] | None = None, *,
                  seed: int = 0, data_root: str | os.PathLike[str] | None = None) -> Path:
    """A federated dataset directory: a builtin name (built once and cached; ``out`` copies nothing, the cached
    directory is returned), a build spec as a dict, or a build-spec file (.json / .toml, as ``fedfair data
    build --spec``) written to ``out``."""
    from fedfair.registry import DATASETS, resolve_dataset

    if isinstance(spec, (str, os.PathLike)) and str(spec) in DATASETS:
        return resolve_dataset(str(spec), seed, data_root=str(data_root) if data_root else None)
    from fedfair.partitioners.builder import BuildSpec, build_dataset as build, read_table_file

    if isinstance(spec, Mapping):
        data = dict(spec)
    else:
        path = Path(spec)
        if not path.is_file():
            raise ParamError(f"build_dataset: {spec!r} is neither a builtin dataset ({', '.join(sorted(DATASETS))}) "
                             f"nor a build-spec file")
        data = read_table_file(path, "build spec")
    if out is None:
        raise ParamError("build_dataset: give out=DIR for a build spec (where the dataset is written)")
    return Path(build(BuildSpec.from_dict(data), Path(out)))
