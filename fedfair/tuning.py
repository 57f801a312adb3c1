"""``fedfair tune``: a seeded, budgeted hyper-parameter search of one method on the clients' validation splits.

A method compared at its defaults against a tuned one is compared at two stages of tuning, not as two methods
(issue 29). ``tune`` searches a space of run parameters for one strategy (and mitigation), each trial a run per
seed with ``eval-split=val``: every evaluation scores the clients' validation splits, never their test splits, so
the selection never sees the numbers a report states. The selected setting is then reported on the test splits
by ``fedfair compare`` with the ``entry`` tune writes (``fedfair compare --strategies ENTRY --seeds 5``).

Search: Optuna's TPE sampler, seeded (``--sampler-seed``), asked and told one trial at a time (trials run in
this process on the in-process engine: the clients' data are loaded once for all trials). Why Optuna: it is the
maintained standard for this (TPE, multi-objective, constraints) and keeps the whole search in memory without a
server; a grid would spend the budget on dimensions that do not matter.

Objectives (the mean over seeds of the clients' mean validation accuracy / gap, ``--objective``):

- ``accuracy``: the most accurate setting;
- ``accuracy:<metric><=<bound>`` (e.g. ``accuracy:sp<=0.05``): the most accurate setting whose mean gap of
  ``<metric>`` (sp, eqop, eo, aod, ad) on the run's sensitive attribute is at most ``bound`` (TPE with
  Optuna's constraints; a trial over the bound is infeasible); none feasible: the one with the smallest gap, so
  marked;
- ``pareto:<metric>``: accuracy up, gap down; every non-dominated trial is reported (the front).

Budget: ``trials`` x ``seeds`` runs. Outputs in OUT (fedfair's output-directory policy): ``tune.json`` (space,
objective, budget, every trial's parameters, validation figures and state, the selection and its compare entry),
``tune.md`` (the same as a table) and ``trials/<number>-seed<s>/`` (each trial's run directory). No Flower types.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fedfair.config import ParamError
from fedfair.metrics import json_safe

METRICS = ("sp", "eqop", "eo", "aod", "ad")
KINDS = ("float", "log", "int", "choice")

# what a method's own mechanism turns on, searched with lr and local-epochs (the run's loop) by default
DEFAULT_SPACES: dict[str, str] = {
    "fedavg": "",
    "fedprox": "proximal-mu=log:0.001:1",
    "fairfed": "fairfed-beta=log:0.01:10",
    "fairfed-af": "fairfed-beta=log:0.01:10",
    "fedfb": "fedfb-alpha=log:0.001:2",
    "fed-fairbatch": "fairbatch-alpha=log:0.0005:0.05",
    "fed-fairgrad": "fairgrad-eta=log:0.0001:1",
    "qffl": "qffl-q=float:0:5",
    "ditto": "ditto-lambda=log:0.01:10",
    "ifca": "",
    "fair-fca": "gamma=float:0:1",
    "puffle": "puffle-target=float:0.01:0.2,puffle-alpha=log:0.01:2",
    "fairif": "fairif-lambda=log:0.01:10",
}
LOOP_SPACE = "lr=log:0.001:0.5,local-epochs=int:1:5"


@dataclass(frozen=True)
class Dimension:
    """One searched run parameter: ``float`` / ``log`` (uniform on the log scale) / ``int`` in [low, high], or
    ``choice`` among ``choices``."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")


def parse_space(text: str) -> list[Dimension]:
    """``"lr=log:0.001:0.5,local-epochs=int:1:5,ifca-init=choice:client|random"`` -> dimensions; a malformed
    entry is a one-line ParamError naming it and the form."""
    form = "NAME=float:LOW:HIGH, NAME=log:LOW:HIGH, NAME=int:LOW:HIGH or NAME=choice:A|B"
    dimensions: dict[str, Dimension] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, _, rule = part.partition("=")
        kind, _, rest = rule.partition(":")
        name, kind = name.strip(), kind.strip()
        if not name or kind not in KINDS or not rest:
            raise ParamError(f"--space entry {part!r}: use {form}")
        if kind == "choice":
            choices = tuple(c.strip() for c in rest.split("|") if c.strip())
            if not choices:
                raise ParamError(f"--space entry {part!r}: give the choices as A|B")
            dimensions[name] = Dimension(name, kind, choices=choices)
            continue
        try:
            low, high = (float(x) for x in rest.split(":"))
        except ValueError:
            raise ParamError(f"--space entry {part!r}: use {form}") from None
        if not low < high or (kind == "log" and low <= 0) or (kind == "int" and (low, high) != (int(low), int(high))):
            raise ParamError(f"--space entry {part!r}: need LOW < HIGH (log: LOW > 0; int: integers)")
        dimensions[name] = Dimension(name, kind, low, high)
    return list(dimensions.values())


def default_space(strategy: str, mitigation: str = "none") -> str:
    """The loop (lr, local epochs) plus the strategy's and the mitigation's own parameters."""
    parts = [LOOP_SPACE, DEFAULT_SPACES.get(strategy, ""), DEFAULT_SPACES.get(mitigation, "") if mitigation != "none" else ""]
    return ",".join(p for p in parts if p)


@dataclass(frozen=True)
class Objective:
    """What a trial is scored by: ``accuracy``, ``constrained`` (accuracy with gap <= bound) or ``pareto``."""

    kind: str
    metric: str = ""
    bound: float = math.nan

    @property
    def text(self) -> str:
        return {"accuracy": "accuracy", "constrained": f"accuracy:{self.metric}<={self.bound:g}",
                "pareto": f"pareto:{self.metric}"}[self.kind]


def parse_objective(text: str) -> Objective:
    """``accuracy`` | ``accuracy:sp<=0.05`` | ``pareto:sp``; anything else a one-line ParamError."""
    text = str(text).strip()
    if text == "accuracy":
        return Objective("accuracy")
    constrained = re.fullmatch(r"accuracy:([a-z]+)<=([0-9.eE+-]+)", text)
    if constrained and constrained.group(1) in METRICS:
        try:
            return Objective("constrained", constrained.group(1), float(constrained.group(2)))
        except ValueError:
            pass
    pareto = re.fullmatch(r"pareto:([a-z]+)", text)
    if pareto and pareto.group(1) in METRICS:
        return Objective("pareto", pareto.group(1))
    raise ParamError(f"--objective {text!r}: use accuracy, accuracy:METRIC<=BOUND (e.g. accuracy:sp<=0.05) or "
                     f"pareto:METRIC, METRIC one of {', '.join(METRICS)}")


def trial_figures(summaries: Sequence[Mapping[str, Any]], metric: str, attribute: str) -> dict[str, float]:
    """The mean over seeds of the clients' mean validation accuracy and mean gap (``metric`` on ``attribute``)."""
    accuracy = [float(s["mean"]["accuracy"]) for s in summaries]
    out = {"accuracy": sum(accuracy) / len(accuracy)}
    if metric:
        gaps = [s["mean"].get("fairness", {}).get(attribute, {}).get(metric) for s in summaries]
        gaps = [float(g) for g in gaps if g is not None and math.isfinite(float(g))]
        out[metric] = sum(gaps) / len(gaps) if gaps else math.nan
    return out


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (accuracy up, gap down) points, in the given order."""
    front = []
    for i, (acc, gap) in enumerate(points):
        dominated = any(a >= acc and g <= gap and (a > acc or g < gap) for j, (a, g) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def select(trials: Sequence[Mapping[str, Any]], objective: Objective) -> dict[str, Any]:
    """The selection among the complete trials: the best (accuracy, or accuracy among the feasible trials, else
    the smallest gap, marked infeasible) or the Pareto front."""
    done = [t for t in trials if t["state"] == "complete" and math.isfinite(t["figures"]["accuracy"])]
    if not done:
        return {"kind": objective.kind, "trials": [], "note": "no trial completed"}
    if objective.kind == "pareto":
        usable = [t for t in done if math.isfinite(t["figures"].get(objective.metric, math.nan))]
        front = pareto_front([(t["figures"]["accuracy"], t["figures"][objective.metric]) for t in usable])
        return {"kind": "pareto", "trials": [usable[i]["number"] for i in front]}
    if objective.kind == "constrained":
        feasible = [t for t in done if t["figures"].get(objective.metric, math.inf) <= objective.bound]
        if not feasible:
            closest = min(done, key=lambda t: t["figures"].get(objective.metric, math.inf))
            return {"kind": "constrained", "trials": [closest["number"]], "feasible": False,
                    "note": f"no trial met {objective.metric} <= {objective.bound:g}: the smallest gap is reported"}
        best = max(feasible, key=lambda t: t["figures"]["accuracy"])
        return {"kind": "constrained", "trials": [best["number"]], "feasible": True}
    best = max(done, key=lambda t: t["figures"]["accuracy"])
    return {"kind": "accuracy", "trials": [best["number"]]}


def entry_text(strategy: str, params: Mapping[str, Any], fixed: Mapping[str, Any]) -> str:
    """The ``fedfair compare`` entry of a setting: ``strategy@key=value@...`` (floats to 4 significant digits)."""
    values = {**{k: v for k, v in fixed.items() if k == "mitigation" and v != "none"}, **params}
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()]
    return "@".join([strategy, *parts])


@dataclass(frozen=True)
class TuneSettings:
    strategy: str
    dataset: str
    space: tuple[Dimension, ...]
    objective: Objective
    trials: int
    seeds: tuple[int, ...]
    rounds: int
    overrides: tuple[tuple[str, Any], ...] = ()
    sampler_seed: int = 0
    data_root: str = ""


def _check_settings(settings: TuneSettings) -> None:
    if settings.trials < 1:
        raise ParamError("--trials must be >= 1")
    if not settings.seeds:
        raise ParamError("--seeds must be >= 1")
    if not settings.space:
        raise ParamError(f"nothing to search: give --space (e.g. {LOOP_SPACE})")
    taken = {"strategy", "dataset", "seed", "rounds", "out-dir", "eval-split", "resume"}
    clash = sorted(taken & {d.name for d in settings.space} | taken & dict(settings.overrides).keys())
    if clash:
        raise ParamError(f"{clash} cannot be searched or set here: tune sets them (--dataset, --seeds, --rounds, --out)")


def _trial_configs(settings: TuneSettings, params: Mapping[str, Any], out: Path, number: int,
                   overwrite: bool = False) -> list[dict[str, Any]]:
    return [{"strategy": settings.strategy, "dataset": settings.dataset, "rounds": settings.rounds, "seed": seed,
             "data-root": settings.data_root, "plots": False, "ci-resamples": 0, **dict(settings.overrides),
             **params, "eval-split": "val", "out-dir": str(out / "trials" / f"{number:03d}-seed{seed}"),
             **({"overwrite": True} if overwrite else {})} for seed in settings.seeds]


def _check_validation_splits(prepared: Any) -> None:
    from fedfair.data import read_manifest
    from fedfair.tasks import is_task_set

    root = prepared.dataset_dir
    if root is None or is_task_set(root):
        raise ParamError("fedfair tune searches single-model runs; a task set is not supported yet")
    clients = read_manifest(root).clients
    if not any(getattr(c, "n_val", 0) for c in clients):
        raise ParamError(f"the dataset {root} has no validation split, which tune selects on: rebuild it with one "
                         f"(fedfair data build --splits 0.7,0.15,0.15)")


def tune(settings: TuneSettings, out: str | Path, *, overwrite: bool = False, echo: bool = True) -> dict[str, Any]:
    """Run the search (see the module docstring); writes and returns tune.json's content."""
    try:
        import optuna
        from optuna.trial import TrialState
    except ImportError:
        raise ParamError("fedfair tune needs Optuna: pip install 'fedfair[tune]' (or pip install optuna)") from None

    from fedfair.api import prepare_runs, run_configs
    from fedfair.outdirs import check, claim

    _check_settings(settings)
    out = check(out, "tune", overwrite=overwrite)
    # every trial's checks before any run: the first trial's configs at a point of the space
    probe = {d.name: (d.choices[0] if d.kind == "choice" else int(d.low) if d.kind == "int" else d.low)
             for d in settings.space}
    prepared = prepare_runs(_trial_configs(settings, probe, out, 0, overwrite))
    _check_validation_splits(prepared[0])
    attribute = prepared[0].params.get("sensitive") or next(iter(_attributes(prepared[0].dataset_dir)), "")
    objective = settings.objective
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=settings.sampler_seed)  # constraints: Trial.set_constraint (Optuna 5)
    study = (optuna.create_study(directions=["maximize", "minimize"], sampler=sampler) if objective.kind == "pareto"
             else optuna.create_study(direction="maximize", sampler=sampler))
    trials: list[dict[str, Any]] = []
    with claim(out, "tune", overwrite=overwrite, clear_files=True) as held:
        for number in range(settings.trials):
            trial = study.ask()
            params = {d.name: d.suggest(trial) for d in settings.space}
            summaries = run_configs(_trial_configs(settings, params, out, number, overwrite), echo=False,
                                    keep_going=True)
            failed = [s["error"] for s in summaries if "error" in s]
            record: dict[str, Any] = {"number": number, "params": params, "runs": len(summaries)}
            if failed:
                record.update(state="failed", error=str(failed[0]))
                study.tell(trial, state=TrialState.FAIL)
            else:
                figures = trial_figures(summaries, objective.metric, attribute)
                record.update(state="complete", figures=figures)
                if objective.kind == "pareto":
                    gap = figures[objective.metric]
                    study.tell(trial, [figures["accuracy"], gap if math.isfinite(gap) else math.inf])
                else:
                    if objective.kind == "constrained":  # <= 0: feasible (TPE then prefers the feasible region)
                        gap = figures[objective.metric]
                        trial.set_constraint(objective.metric, gap - objective.bound if math.isfinite(gap) else math.inf)
                    study.tell(trial, figures["accuracy"])
            trials.append(record)
            if echo:
                print(f"tune {number + 1}/{settings.trials}: {_brief(params)} -> "
                      f"{_brief(record.get('figures', {})) or record.get('error', '')}", flush=True)
        chosen = select(trials, objective)
        fixed = dict(settings.overrides)
        chosen["entries"] = [entry_text(settings.strategy, trials[n]["params"], fixed) for n in chosen["trials"]]
        result = {"strategy": settings.strategy, "dataset": settings.dataset, "attribute": attribute,
                  "objective": objective.text, "space": [asdict(d) for d in settings.space],
                  "budget": {"trials": settings.trials, "seeds": list(settings.seeds),
                             "runs": settings.trials * len(settings.seeds), "rounds": settings.rounds},
                  "sampler": {"name": "optuna TPESampler", "seed": settings.sampler_seed,
                              "optuna": optuna.__version__},
                  "selected_on": "validation splits (eval-split=val)", "overrides": fixed,
                  "trials": trials, "selection": chosen}
        (out / "tune.json").write_text(json.dumps(json_safe(result), indent=1, sort_keys=True) + "\n")
        (out / "tune.md").write_text(render_markdown(result))
        held.done()
    return result


def _attributes(dataset: str | Path) -> list[str]:
    from fedfair.data import read_manifest

    return list(read_manifest(dataset).sensitive)


def _brief(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def render_markdown(result: Mapping[str, Any]) -> str:
    """tune.md from tune.json's content: settings, every trial, the selection and how to report it on test."""
    metric = result["objective"].split(":")[-1].split("<=")[0] if result["objective"] != "accuracy" else ""
    names = [d["name"] for d in result["space"]]
    chosen = set(result["selection"]["trials"])
    lines = [f"# fedfair tune: {result['strategy']} on {result['dataset']}", "",
             f"Objective {result['objective']} on the validation splits (mean over seeds {result['budget']['seeds']} of "
             f"the clients' mean; gaps on {result['attribute'] or 'the first attribute'}); budget "
             f"{result['budget']['trials']} trials x {len(result['budget']['seeds'])} seeds = {result['budget']['runs']} "
             f"runs of {result['budget']['rounds']} rounds; {result['sampler']['name']} seed {result['sampler']['seed']}. "
             f"Selected trials are marked *.", "",
             "| trial | " + " | ".join(names) + " | val accuracy" + (f" | val {metric}" if metric else "") + " |",
             "|" + "---|" * (len(names) + 2 + bool(metric))]
    for t in result["trials"]:
        figures = t.get("figures") or {}
        cells = [f"{t['number']}{' *' if t['number'] in chosen else ''}"]
        cells += [f"{t['params'][n]:.4g}" if isinstance(t["params"][n], float) else str(t["params"][n]) for n in names]
        cells.append("failed" if t["state"] != "complete" else f"{figures['accuracy']:.4f}")
        if metric:
            value = figures.get(metric)
            cells.append("" if value is None or t["state"] != "complete" else f"{value:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    selection = result["selection"]
    lines += ["", *([selection["note"], ""] if selection.get("note") else []),
              "Report the selection on the test splits (5 seeds, paired against a reference entry):", "",
              "```bash", f"fedfair compare --dataset {result['dataset']} --seeds 5 --rounds {result['budget']['rounds']} "
              f"--strategies '{','.join(selection.get('entries', []))}'", "```", ""]
    return "\n".join(lines)
