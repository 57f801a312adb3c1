"""``fedfair bench``: a named suite of runs (datasets x strategies x mitigations x seeds), resumable, one report.

A suite names its datasets, its strategies and the mitigations crossed with them (every entry is a
``fedfair compare`` entry, ``NAME[@KEY=VALUE...]``). ``fedfair bench SUITE``

1. plans every (dataset, entry, seed) run and validates them all before anything runs;
2. reuses the runs a previous call finished (status ``complete``, same parameters): a finished run is never
   redone, an interrupted or failed one is run again;
3. runs the rest with one Flower simulation per dataset (Ray starts once per dataset, not once per run), with
   a progress bar;
4. writes, per dataset, compare's outputs (table.md / table.csv / results.json / scatter.png: means over seeds
   and clients with their two-level bootstrap intervals) and, for the suite, one self-contained
   ``report.html`` (:mod:`fedfair.bench_report`); ``--tensorboard`` also exports every run for TensorBoard
   (:mod:`fedfair.tracking`).

Layout of OUT::

    bench.json                      the plan (suite, seeds, rounds, overrides), per run: reused / ran / failed
    report.html                     the report (figures inline, opens offline)
    <dataset>/table.md ...          compare's outputs for that dataset
    <dataset>/runs/<entry>-seed<s>  one run directory per run
    datasets/<release>              the FeDa4Fair releases as built for the suite (feda4fair)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedfair.config import ParamError, did_you_mean
from fedfair.data import DatasetError
from fedfair.paths import data_folders

MITIGATION_LABELS = {"none": "", "fairif": "FairIF", "puffle": "PUFFLE"}
# keys of a stored config.json that say where things are or what is drawn, not what was run (a run finished with
# the per-run plots, before compare / bench turned them off, is still finished)
_LOCATION_KEYS = {"out-dir", "data-root", "dataset-dir", "resume", "overwrite", "plots"}


# The ACS code columns COW and SCHL one-hot (categories shared by all clients), as FeDa4Fair's evaluation code
# (evaluations/experiments/acs_income/pre_processing.py) encodes them; every feature then z-scored over the
# union of the train splits. FeDa4Fair's code min-max scales the other columns to [0, 1] instead
# (``standardise="global-minmax"``): with the suite's MLP at lr 0.05 that model did not leave the majority class
# in 10 rounds on the attribute-silo release (accuracy 0.674 every round; lr 0.5: 0.772), while z-scores reach
# 0.754 at lr 0.05 (issue 29; tuning the lr is `fedfair tune`'s job). Before this, the codes were standardised as
# plain numbers per client (0.752 after 10 rounds).
FEDA4FAIR_ENCODING = {"categorical": ["COW", "SCHL"], "standardise": "global"}
ENCODING_TAG = "onehot-zscore"


@dataclass(frozen=True)
class FeDa4FairRelease:
    """One of FeDa4Fair's four benchmark releases (ACSIncome 2018 by state), built by the suite with ``csv-dir``."""

    title: str
    folder: str
    value_labels: Mapping[str, str] = field(default_factory=dict)

    def locate(self, data_root: str) -> Path | None:
        """The release's folder: DATA_ROOT/<folder> or DATA_ROOT/feda4fair/<folder> (also $FEDFAIR_DATA_ROOT)."""
        return next((root / self.folder for root in data_folders(data_root, "feda4fair")
                     if (root / self.folder).is_dir()), None)

    def build(self, data_root: str, out: Path, max_train: int, max_test: int) -> Path:
        """Build (once) into OUT/datasets/<folder>-<encoding>-train<max>-test<max>: label PINCP, sensitive SEX and
        RAC1P, 70 / 15 / 15 splits per state, at most ``max_train`` / ``max_test`` rows per client (0 = all),
        the ACS code columns encoded as FeDa4Fair's evaluation code encodes them (:data:`FEDA4FAIR_ENCODING`)."""
        from fedfair.partitioners.builder import BuildSpec, build_dataset

        root = out / "datasets" / f"{self.folder}-{ENCODING_TAG}-train{max_train or 'all'}-test{max_test or 'all'}"
        if not (root / "manifest.json").is_file():
            check_releases([self], data_root)
            spec = BuildSpec(source="csv-dir", source_options={"path": str(self.locate(data_root))}, label="PINCP",
                             sensitive=["SEX", "RAC1P"], value_labels=dict(self.value_labels), seed=0,
                             max_train=max_train or None, max_test=max_test or None, **FEDA4FAIR_ENCODING)
            build_dataset(spec, root)
        return root


def check_releases(releases: Sequence[FeDa4FairRelease], data_root: str) -> None:
    """One error naming every release folder that is not under the data roots, and the fix."""
    missing = [r.folder for r in releases if r.locate(data_root) is None]
    if missing:
        roots = [str(r) for r in data_folders(data_root, "feda4fair")] or ["(no --data-root, no FEDFAIR_DATA_ROOT)"]
        raise DatasetError(f"FeDa4Fair release folder(s) {', '.join(missing)} not found in {', '.join(roots)}: pass "
                           f"--data-root DIR (the folder holding feda4fair/<release>) or set FEDFAIR_DATA_ROOT, or "
                           f"leave them out with --datasets")


@dataclass(frozen=True)
class Suite:
    """A named benchmark: datasets (builtin names or FeDa4Fair releases) x strategies x mitigations x seeds."""

    name: str
    description: str
    datasets: Sequence[str | FeDa4FairRelease]
    strategies: Sequence[str]
    mitigations: Sequence[str] = ("none",)
    rounds: int = 10
    overrides: Mapping[str, Any] = field(default_factory=dict)
    families: Mapping[str, str] = field(default_factory=dict)  # strategy -> the family it stands for

    def dataset_titles(self) -> list[str]:
        return [d if isinstance(d, str) else d.title for d in self.datasets]


FEDA4FAIR_RELEASES = (
    FeDa4FairRelease("attribute-silo", "cross_silo_attribute_final"),
    FeDa4FairRelease("value-silo", "cross_silo_value_final", {"RAC1P": "race-5"}),
    FeDa4FairRelease("attribute-device", "cross_device_attribute_final"),
    FeDa4FairRelease("value-device", "cross_device_value_final", {"RAC1P": "race-5"}),
)
# one strategy per single-model family (each client deploys one model)
SINGLE_MODEL_FAMILIES = {
    "fedavg": "global model (FedAvg)",
    "fedprox": "proximal local objective",
    "ditto": "personalised models",
    "ifca": "clustered",
    "fairfed": "fairness-aware aggregation",
    "qffl": "performance fairness across clients",
    "fedfb": "server-set group reweighting",
}

SUITES: dict[str, Suite] = {
    "feda4fair": Suite(
        "feda4fair",
        "FeDa4Fair's four benchmark releases (ACSIncome 2018 by state: attribute- / value-level bias, cross-silo / "
        "cross-device) x one strategy per single-model family x no mitigation / FairIF / PUFFLE; MLP (32), sensitive SEX",
        FEDA4FAIR_RELEASES, tuple(SINGLE_MODEL_FAMILIES), ("none", "fairif", "puffle"), rounds=10,
        overrides={"model": "mlp", "hidden": "32", "lr": 0.05, "batch-size": 64},
        families=SINGLE_MODEL_FAMILIES),
    "seed000": Suite(
        "seed000",
        "Yang et al. (personalization and fairness): its eleven strategies on the synthetic Gaussian benchmark "
        "(Table 2, offline) and on UCI Adult unbalanced by race (local adult.data / adult.test)",
        ("synthetic-gaussian-8", "adult"),
        ("fedavg", "standalone", "fedprox", "maml", "ifca", "fair-fca", "flhc", "fair-flhc", "cfl-cosine", "fairfed",
         "fairfed-af"), rounds=20),
    "mmfl": Suite(
        "mmfl",
        "FedFairMMFL (Siew et al.): three image tasks trained at once by 20 shared clients, alpha-fair allocation "
        "against random, round-robin and q-FFL allocation (local MNIST / Fashion-MNIST files)",
        ("mmfl-3",), ("fedfair-mmfl", "mmfl-random", "mmfl-round-robin", "mmfl-qffl"), rounds=20),
}


def suite(name: str) -> Suite:
    if name not in SUITES:
        raise ParamError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)} (see fedfair bench --help)"
                         f"{did_you_mean([name], SUITES)}")
    return SUITES[name]


def entry_label(entry: str) -> str:
    """``fedavg@mitigation=puffle`` -> ``fedavg + PUFFLE``; other entries are their own label."""
    name, _, rest = entry.partition("@mitigation=")
    mitigation, _, more = rest.partition("@")
    if not rest:
        return entry
    return f"{name}{'@' + more if more else ''} + {MITIGATION_LABELS.get(mitigation, mitigation)}"


def suite_entries(strategies: Sequence[str], mitigations: Sequence[str]) -> list[str]:
    """Every strategy entry crossed with every mitigation, the mitigation-free entry first."""
    from fedfair import plugins

    for m in mitigations:
        if not plugins.known("local objective", m, MITIGATION_LABELS):
            raise ParamError(f"unknown mitigation {m!r} in --mitigations; valid: {', '.join(MITIGATION_LABELS)}, or a "
                             f"local-objective plugin")
    return [s if m == "none" else f"{s}@mitigation={m}" for s in strategies for m in mitigations]


@dataclass
class DatasetPlan:
    """The runs of one dataset of a suite."""

    title: str
    dataset: str  # builtin name or a built directory
    num_clients: int
    configs: list[dict[str, Any]]
    labels: list[str]
    attributes: list[str] | None  # the sensitive attributes in the manifest's order; None for task sets


def plan_suite(
    chosen: Suite, seeds: Sequence[int], out: Path, rounds: int | None = None, strategies: Sequence[str] | None = None,
    mitigations: Sequence[str] | None = None, datasets: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
    data_root: str = "", max_train: int = 1000, max_test: int = 500,
) -> list[DatasetPlan]:
    """Every run of the suite, validated (compare's checks per entry, the model against each dataset), before any
    runs; FeDa4Fair releases are built here (once per OUT)."""
    from fedfair.comparison import check_dataset, plan_runs
    from fedfair.data import read_manifest
    from fedfair.registry import resolve_dataset

    titles = chosen.dataset_titles()
    for flag, given, example in (("--datasets", datasets, titles[0]),
                                 ("--strategies", strategies, chosen.strategies[0]),
                                 ("--mitigations", mitigations, chosen.mitigations[0])):
        if given is not None and not list(given):  # e.g. --datasets , : nothing chosen is not "all of them"
            raise ParamError(f"{flag} names nothing: give a comma-separated list (e.g. {flag} {example}), or leave "
                             f"{flag} out for the suite's own")
    wanted = list(datasets) if datasets is not None else titles
    unknown = [d for d in wanted if d not in titles]
    if unknown:
        raise ParamError(f"--datasets: {unknown} not in suite {chosen.name}; its datasets: {', '.join(titles)}")
    entries = suite_entries(list(strategies) if strategies is not None else list(chosen.strategies),
                            list(mitigations) if mitigations is not None else list(chosen.mitigations))
    common = {**chosen.overrides, **(overrides or {})}
    n_rounds = chosen.rounds if rounds is None else rounds  # --rounds 0 is refused (run_params), not the default
    plans = []
    # a missing release fails here, before any dataset is built
    check_releases([d for d in chosen.datasets if isinstance(d, FeDa4FairRelease) and d.title in wanted], data_root)
    for source, title in zip(chosen.datasets, titles):
        if title not in wanted:
            continue
        dataset = source if isinstance(source, str) else str(source.build(data_root, out, max_train, max_test))
        configs = plan_runs(dataset, entries, seeds, n_rounds, common, dataset_folder(out, title), data_root)
        num_clients = check_dataset(dataset, configs, seeds, data_root)
        root = resolve_dataset(dataset, seeds[0], data_root=data_root or None)
        attributes = list(read_manifest(root).sensitive) if (root / "manifest.json").is_file() else None
        labels = [entry_label(c.pop("_label")) for c in configs]
        plans.append(DatasetPlan(title, dataset, num_clients, configs, labels, attributes))
    return plans


def dataset_folder(out: Path, title: str) -> Path:
    """Where a suite dataset's tables and run directories go: OUT/<title as a file name>."""
    from fedfair.comparison import safe_name

    return out / safe_name(title)


def finished_summary(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The summary of a run this config already finished (status complete, the same parameters), else None."""
    from fedfair.registry import run_params

    out = Path(config["out-dir"])
    try:
        status = json.loads((out / "status.json").read_text()).get("status")
        stored = json.loads((out / "config.json").read_text())
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError, AttributeError):
        return None
    if status != "complete":
        return None
    params, _ = run_params(config)
    if any(stored.get(key) != value for key, value in params.items() if key not in _LOCATION_KEYS):
        return None
    return summary


def run_suite(
    chosen: Suite, seeds: Sequence[int], out: Path, verbose: bool = False, progress: bool = True,
    tensorboard: bool = False, fmt: str = "png", **options: Any,
) -> dict[str, Any]:
    """Plan, run what is not finished (one simulation per dataset), write every dataset's tables and the report.

    ``out`` follows fedfair's output-directory policy (:mod:`fedfair.outdirs`): a new or empty directory or an
    earlier bench's (which this call resumes), locked while this call writes; a complete run with other parameters
    is replaced only with the ``overwrite`` parameter in ``overrides``. ``fmt``: the figures' format (png, svg,
    pdf; :func:`fedfair.bench_report.write_report`). Returns bench.json's content."""
    from fedfair.figures import check_format
    from fedfair.outdirs import claim

    check_format(fmt)

    with claim(out, "bench") as held:
        try:
            meta = _run_suite(chosen, seeds, out, verbose, progress, tensorboard, fmt, **options)
        except BaseException:
            held.abandon()
            raise
        held.done()
    return meta


def _run_suite(
    chosen: Suite, seeds: Sequence[int], out: Path, verbose: bool = False, progress: bool = True,
    tensorboard: bool = False, fmt: str = "png", **options: Any,
) -> dict[str, Any]:
    from fedfair.bench_report import DatasetResult, write_report
    from fedfair.outdirs import check
    from fedfair.api import run_configs
    from fedfair.comparison import summarise, write_outputs
    from fedfair.results import progress_bar, status

    out = Path(out).expanduser().resolve()
    started = time.time()
    if tensorboard:  # a missing package fails now, not after the runs
        from fedfair.tracking import writer_class

        writer_class()
    with status(f"preparing dataset(s) of suite {chosen.name}: building and checking every run before any starts ...",
                progress):
        plans = plan_suite(chosen, seeds, out, **options)
    finished = {p.title: [finished_summary(c) for c in p.configs] for p in plans}
    overwrite = bool((options.get("overrides") or {}).get("overwrite"))
    for plan in plans:  # before any run: a run to redo may replace a complete one (other parameters) only with overwrite
        for config, summary in zip(plan.configs, finished[plan.title]):
            if summary is None:
                check(config["out-dir"], "run", overwrite=overwrite, what="the run directory")
    total = sum(s is None for summaries in finished.values() for s in summaries)
    meta: dict[str, Any] = {"suite": chosen.name, "description": chosen.description, "seeds": list(seeds),
                            "rounds": plans[0].configs[0]["rounds"] if plans else chosen.rounds,
                            "overrides": {k: v for k, v in {**chosen.overrides, **(options.get("overrides") or {})}.items()
                                          if k != "overwrite"},
                            "families": dict(chosen.families), "datasets": {}}
    results = []
    with progress_bar(total, progress, "bench") as advance:
        for plan in plans:
            summaries = finished[plan.title]
            pending = [i for i, s in enumerate(summaries) if s is None]
            if pending:
                def done(index: int, summary: Mapping[str, Any], plan: DatasetPlan = plan, pending: list[int] = pending) -> None:
                    config = plan.configs[pending[index]]
                    advance(f"{plan.title}: {plan.labels[pending[index]]} seed {config['seed']}")

                ran = run_configs([plan.configs[i] for i in pending], verbose=verbose, echo=False, on_done=done)
                for i, summary in zip(pending, ran):
                    summaries[i] = summary
            done_summaries = [s if s is not None else {"error": "no summary"} for s in summaries]
            rows = summarise(plan.labels, done_summaries, [c["out-dir"] for c in plan.configs])
            folder = dataset_folder(out, plan.title)
            write_outputs(folder, rows, done_summaries, {"dataset": plan.dataset, "rounds": plan.configs[0]["rounds"],
                                                          "seeds": list(seeds), "strategies": list(dict.fromkeys(plan.labels)),
                                                          "overrides": meta["overrides"]}, fmt=fmt)
            meta["datasets"][plan.title] = {
                "dataset": plan.dataset, "clients": plan.num_clients, "table": str(folder / "table.md"),
                "runs": [{"label": label, "seed": c["seed"], "out-dir": c["out-dir"],
                          "state": "failed" if "error" in s else "ran" if i in pending else "reused",
                          "wall_seconds": s.get("wall_seconds"), **({"error": s["error"]} if "error" in s else {})}
                         for i, (label, c, s) in enumerate(zip(plan.labels, plan.configs, done_summaries))]}
            results.append(DatasetResult(plan.title, plan.labels, rows, done_summaries,
                                         (folder / "table.md").read_text(), plan.attributes,
                                         run_dirs=[c["out-dir"] for c in plan.configs]))
    meta["wall_seconds"] = round(time.time() - started, 2)
    counts = [r["state"] for d in meta["datasets"].values() for r in d["runs"]]
    meta["runs"] = {state: counts.count(state) for state in ("ran", "reused", "failed")}
    # the runs' own wall time, this call's or the earlier call's that ran them
    meta["run_seconds"] = round(sum(r.get("wall_seconds") or 0 for d in meta["datasets"].values() for r in d["runs"]), 1)
    if tensorboard:
        from fedfair.tracking import export_tensorboard

        meta["tensorboard"] = str(export_tensorboard(
            [Path(r["out-dir"]) for d in meta["datasets"].values() for r in d["runs"] if r["state"] != "failed"],
            out / "tensorboard", base=out))
    write_report(out / "report.html", meta, results, fmt=fmt)
    (out / "bench.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta
