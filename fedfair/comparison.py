"""``fedfair compare``: several strategies x several seeds on one dataset, one table, one scatter.

Each entry of ``--strategies`` is a strategy name, optionally with its own
parameters after ``@``: ``fair-fca@gamma=0.3@fairness=eqop``. The entry text
is the row label. All runs share one Flower simulation (Ray starts once) and
each writes its own run directory under ``OUT/runs/<label>-seed<s>``.

Outputs in OUT:

- ``table.md`` / ``table.csv``: per entry, mean +- std over seeds of the
  clients' mean local accuracy and mean local SP / EqOp / EO per attribute;
- ``results.json``: the same numbers plus every run's per-client results;
- ``scatter.png``: local accuracy (y) against the local fairness gap (x), one
  point per entry with the table's 95 % interval bars, one panel per attribute and
  notion (seed 000, Figs. 1-5 and 8), every entry named next to its point;
- ``curves.png``: every entry's mean accuracy per round.

``--format svg`` / ``pdf`` writes the figures in that format instead (scatter.svg, ...).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedfair.config import ParamError, parse_assignments
from fedfair.metrics import json_safe
from fedfair.uncertainty import (generator, overlap, paired_differences, paired_interval,
                                 seeds_and_clients_interval)

NOTIONS = ("sp", "eqop", "eo")


# keys an entry may not set: the runs of a compare / bench share them (one dataset and one simulation, seeds
# 0..N-1 of --seeds, their run directories under --out)
SHARED_KEYS = {"strategy": "the entry's name is its strategy", "dataset": "every entry runs on --dataset (one "
               "simulation for all of them); compare each dataset separately", "seed": "--seeds runs seeds 0..N-1 "
               "of every entry", "rounds": "--rounds sets every run's rounds", "out-dir": "each run gets its "
               "directory under --out", "data-root": "--data-root serves every run", "resume": "not per entry"}


def parse_entry(entry: str) -> tuple[str, dict[str, Any]]:
    """``"fair-fca@gamma=0.3"`` -> ``("fair-fca", {"gamma": 0.3})``."""
    name, *assignments = [part.strip() for part in entry.split("@")]
    if not name:
        raise ParamError(f"empty strategy name in {entry!r}")
    own = parse_assignments(assignments)
    shared = [key for key in own if key in SHARED_KEYS]
    if shared:
        raise ParamError(f"--strategies entry {entry!r}: @{shared[0]}= cannot be set per entry "
                         f"({SHARED_KEYS[shared[0]]}); remove @{shared[0]}={own[shared[0]]}")
    return name, own


def plan_runs(
    dataset: str, entries: Sequence[str], seeds: Sequence[int], rounds: int, overrides: Mapping[str, Any],
    out: Path, data_root: str = "",
) -> list[dict[str, Any]]:
    """Validated run configs, one per (entry, seed); errors name the entry and the problem."""
    from fedfair.registry import strategy_class
    from fedfair.registry import run_params

    if not entries:
        raise ParamError("--strategies is empty: give e.g. fedavg,standalone,ifca")
    if len(set(entries)) != len(entries):
        raise ParamError(f"--strategies lists an entry twice: {list(entries)}")
    configs = []
    for entry in entries:
        name, own = parse_entry(entry)
        strategy_class(name)
        for seed in seeds:
            # plots=false unless asked: the per-run figures cost about a second a run and the report draws its own
            config = {"strategy": name, "dataset": dataset, "rounds": rounds, "seed": seed, "data-root": data_root,
                      "plots": False, **overrides, **own, "out-dir": str(out / "runs" / f"{safe_name(entry)}-seed{seed}")}
            try:
                params, _ = run_params(config)
            except ParamError as err:
                raise ParamError(f"{entry}: {err}") from None
            foreign = sorted(set(own) - set(params))
            if foreign:
                raise ParamError(f"{entry}: {foreign} not parameter(s) of {name} or its plug-ins (see `fedfair params`)")
            configs.append({**config, "_label": entry})
    return configs


def safe_name(label: str) -> str:
    """A label as a file name: letters, digits and - _ . kept, anything else _."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(arr) == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=0))


def entry_intervals(label: str, runs: Sequence[Mapping[str, Any]], attributes: Sequence[str]) -> dict[str, Any]:
    """An entry's intervals of the mean accuracy and gaps over its seeds and clients (two-level bootstrap at the
    runs' ``ci-level`` / ``ci-resamples``); {} for task sets or runs without intervals."""
    settings = next((s["ci"] for s in runs if s.get("ci")), None)
    if not settings or any("clients" not in s for s in runs):
        return {}
    level, resamples = float(settings["level"]), int(settings["resamples"])
    rng = generator(0, "compare", label)
    clients = [s["clients"] for s in runs]
    return {"level": level, "accuracy": seeds_and_clients_interval([[c["accuracy"] for c in cs] for cs in clients],
                                                                   level, resamples, rng),
            "fairness": {a: {n: seeds_and_clients_interval([[c["fairness"].get(a, {}).get(n) for c in cs] for cs in clients],
                                                           level, resamples, rng) for n in NOTIONS} for a in attributes}}


# fewer seeds than this: a paired difference is reported, but is no claim that one entry beats another
CLAIM_SEEDS = 5
# a run still gains more than this much mean accuracy over its last quarter of rounds: "still improving"
PLATEAU = 0.005


def accuracy_curve(run_dir: str | Path) -> list[tuple[int, float]]:
    """(round, the clients' mean accuracy) of every evaluated round of a run (its metrics.jsonl)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    per_round: dict[int, list[float]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("stage") == "evaluate" and row.get("accuracy") is not None:
            per_round.setdefault(int(row["round"]), []).append(float(row["accuracy"]))
    return [(r, float(np.mean(v))) for r, v in sorted(per_round.items())]


def still_improving(curve: Sequence[tuple[int, float]]) -> float | None:
    """The gain in mean accuracy over the last quarter of the evaluated rounds (at least one step back) when it
    exceeds :data:`PLATEAU`: the run had not reached its plateau; None when it had (or too few rounds to say)."""
    if len(curve) < 3:
        return None
    back = max(1, len(curve) // 4)
    gain = curve[-1][1] - curve[-1 - back][1]
    return gain if gain > PLATEAU else None


def inactive_mechanism(summary: Mapping[str, Any]) -> str | None:
    """Why a run's fairness or clustering mechanism never acted, read from its summary; None when it did (or the
    strategy has none to check): a CFL run that never split, group multipliers that did not move, PUFFLE whose
    lambda stayed 0 on every client, FairIF that fell back on every client."""
    if str(summary.get("strategy", "")).startswith("cfl") and len(summary.get("clusters") or []) <= 1:
        return "never split (one cluster: FedAvg)"
    weighting = summary.get("group_weights") or {}
    states = [r.get("state", {}) for r in weighting.get("rounds", [])]
    if len(states) >= 2:
        first, last = (np.asarray(next(iter(s.values())), dtype=float) if s else np.zeros(0) for s in (states[0], states[-1]))
        if first.shape == last.shape and first.size and float(np.abs(last - first).max()) < 1e-3:
            return "multipliers did not move (< 0.001)"
    mitigation = summary.get("mitigation") or {}
    reports = [c for r in mitigation.get("rounds", []) for c in (r.get("clients") or {}).values()]
    if mitigation.get("name") == "puffle" and reports and all(float(c.get("puffle-lambda", 0)) == 0 for c in reports):
        return "PUFFLE's lambda stayed 0"
    if mitigation.get("name") == "fairif" and not any("fairif-weight-max" in c for c in reports):
        return "FairIF computed no weights (every client fell back)"
    return None


def run_checks(runs: Sequence[Mapping[str, Any]], run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """An entry's convergence and mechanism checks: per seed the gain over the last quarter of rounds when still
    improving, and why a mechanism was inactive; ``curve``: the mean over seeds of the accuracy per round."""
    curves = [accuracy_curve(d) for d in run_dirs]
    gains = [still_improving(c) for c in curves]
    inactive = sorted({why for why in (inactive_mechanism(s) for s in runs) if why})
    rounds = sorted({r for c in curves for r, _ in c})
    mean_curve = [[r, float(np.mean([a for c in curves for rr, a in c if rr == r]))] for r in rounds]
    return {"still_improving": [g for g in gains if g is not None], "improving_seeds": sum(g is not None for g in gains),
            "seeds": len(curves), "inactive": inactive, "curve": mean_curve}


def _by_seed(runs: Sequence[Mapping[str, Any]], value: Any) -> dict[int, dict[str, float | None]]:
    """{seed: {client: value(client entry)}} of an entry's runs (single-model runs with per-client results)."""
    return {int(s.get("seed", k)): {c["client"]: value(c) for c in s["clients"]}
            for k, s in enumerate(runs) if "clients" in s}


def paired_against(label: str, runs: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]],
                   attributes: Sequence[str]) -> dict[str, Any]:
    """An entry's paired differences from the reference entry over the seeds and clients both have: per metric
    (``accuracy``, ``<notion>:<attribute>``) the mean difference, its interval (two-level bootstrap of the
    differences, :func:`fedfair.uncertainty.paired_interval`) and whether it excludes 0; {} for task sets or
    runs without intervals."""
    settings = next((s["ci"] for s in runs if s.get("ci")), None)
    if not settings or not reference or any("clients" not in s for s in [*runs, *reference]):
        return {}
    level, resamples = float(settings["level"]), int(settings["resamples"])
    rng = generator(0, "compare-paired", label)
    metrics = {"accuracy": lambda c: c.get("accuracy")}
    for attribute in attributes:
        for notion in NOTIONS:
            metrics[f"{notion}:{attribute}"] = (lambda a, n: lambda c: c.get("fairness", {}).get(a, {}).get(n))(attribute,
                                                                                                              notion)
    out: dict[str, Any] = {"level": level, "metrics": {}}
    for name, value in metrics.items():
        mine, theirs = _by_seed(runs, value), _by_seed(reference, value)
        seeds = sorted(set(mine) & set(theirs))
        result = paired_interval(paired_differences([mine[s] for s in seeds], [theirs[s] for s in seeds]),
                                 level, resamples, rng)
        if result is not None:
            out["metrics"][name] = result
    return out


def mark_differences(rows: Sequence[dict[str, Any]]) -> None:
    """``differs``: per entry, the metrics whose paired difference from the first entry (the reference) has an
    interval that excludes 0 (``paired``, :func:`paired_against`); without paired results, those whose own
    interval does not overlap the reference's."""
    if not rows:
        return
    reference = rows[0].get("ci") or {}
    for row in rows:
        paired = (row.get("paired") or {}).get("metrics")
        if row is rows[0]:
            row["differs"] = []
        elif paired is not None:
            row["differs"] = [name for name, result in paired.items() if result["excludes_zero"]]
        else:
            ci, differs = row.get("ci") or {}, []
            if ci and reference:
                if not overlap(ci.get("accuracy"), reference.get("accuracy")):
                    differs.append("accuracy")
                for attr, notions in ci.get("fairness", {}).items():
                    differs += [f"{n}:{attr}" for n, bounds in notions.items()
                                if not overlap(bounds, reference.get("fairness", {}).get(attr, {}).get(n))]
            row["differs"] = differs


def summarise(labels: Sequence[str], summaries: Sequence[Mapping[str, Any]],
              run_dirs: Sequence[str | Path] | None = None) -> list[dict[str, Any]]:
    """One row per entry: mean +- std over seeds of the client-averaged accuracy and gaps; with the runs'
    directories also the convergence and mechanism checks (``checks``, :func:`run_checks`)."""
    rows = []
    order = list(dict.fromkeys(labels))
    reference = [s for lab, s in zip(labels, summaries) if order and lab == order[0] and "error" not in s]
    for label in order:
        runs = [s for lab, s in zip(labels, summaries) if lab == label]
        ok = [s for s in runs if "error" not in s]
        row: dict[str, Any] = {"label": label, "runs": len(runs), "failed": len(runs) - len(ok),
                               "errors": [s["error"] for s in runs if "error" in s]}
        # a task-set run: accuracy = the mean over tasks of the client-mean accuracy, plus min / variance over tasks
        row["accuracy"] = _mean_std([s["mean_accuracy"] if "tasks" in s else s["mean"]["accuracy"] for s in ok])
        row["min_accuracy"] = _mean_std([s.get("min_accuracy", math.nan) for s in ok])
        row["accuracy_variance"] = _mean_std([s.get("accuracy_variance", math.nan) for s in ok])
        means = [s.get("mean", {}) for s in ok]
        attributes = sorted({a for m in means for a in m.get("fairness", {})})
        row["fairness"] = {a: {n: _mean_std([m.get("fairness", {}).get(a, {}).get(n, math.nan) for m in means])
                               for n in NOTIONS} for a in attributes}
        row["clusters"] = [s.get("clusters") for s in ok]
        row["ci"] = entry_intervals(label, ok, attributes)
        if label != order[0]:
            row["paired"] = paired_against(label, ok, reference, attributes)
        if run_dirs is not None:
            dirs = [d for lab, s, d in zip(labels, summaries, run_dirs) if lab == label and "error" not in s]
            row["checks"] = run_checks(ok, dirs)
        # communication over the run, all clients: server -> clients (down) and clients -> server (up), in MB
        for way in ("down", "up"):
            row[f"{way}_mb"] = _mean_std([s.get("communication", {}).get(f"{way}_bytes", math.nan) / 1e6 for s in ok])
        rows.append(row)
    mark_differences(rows)
    return rows


def _cell(pair: tuple[float, float], interval: Sequence[float] | None = None, differs: bool = False) -> str:
    mean, std = pair
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:.4f} ± {std:.4f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")
    return text + (" *" if differs else "")


def _megabytes(pair: tuple[float, float]) -> str:
    return "n/a" if math.isnan(pair[0]) else f"{pair[0]:.3f}"


def write_outputs(out: Path, rows: Sequence[Mapping[str, Any]], summaries: Sequence[Mapping[str, Any]],
                  meta: Mapping[str, Any], fmt: str = "png") -> None:
    """table.md, table.csv, results.json, scatter.<fmt>, curves.<fmt>."""
    out.mkdir(parents=True, exist_ok=True)
    attributes = sorted({a for r in rows for a in r["fairness"]})
    tasks = any(not math.isnan(r["min_accuracy"][0]) for r in rows)  # task sets: min and variance over tasks
    extra = ["min_accuracy", "accuracy_variance"] if tasks else []
    marked = any(inactive_note(r) for r in rows)  # a mechanism that never acted: a column saying so (the report's too)
    header = (["strategy", "accuracy"] + (["min accuracy (tasks)", "accuracy variance (tasks)"] if tasks else [])
              + [f"{m.upper() if m != 'eqop' else 'EqOp'} {a}" for a in attributes for m in NOTIONS]
              + ["MB down", "MB up"] + (["mechanism"] if marked else []))
    level = next((r["ci"]["level"] for r in rows if r.get("ci")), None)
    intervals = (f" [brackets]: the {level:.0%} interval of the mean over seeds and clients (two-level bootstrap: "
                 f"seeds, then each seed's clients, resampled); * : the {level:.0%} interval of the paired "
                 f"difference from the first entry ({rows[0]['label']}), over the same seeds and clients, excludes 0 "
                 f"(the table below)." if level else "")
    lines = [f"# fedfair compare: {meta['dataset']}, {meta['rounds']} rounds, seeds {meta['seeds']}", "",
             "Mean ± std over seeds of the clients' mean local accuracy and mean local fairness gaps "
             "(lower gap = fairer); MB down / up: bytes the server sent to / received from all clients over "
             "the run (message payloads)." + intervals, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    with open(out / "table.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "runs", "failed", "accuracy_mean", "accuracy_std"]
                        + [f"{k}_{s}" for k in extra for s in ("mean", "std")]
                        + [f"{m}_{a}_{s}" for a in attributes for m in NOTIONS for s in ("mean", "std")]
                        + ["mb_down_mean", "mb_down_std", "mb_up_mean", "mb_up_std"]
                        + [f"{k}_ci_{e}" for k in ["accuracy", *(f"{m}_{a}" for a in attributes for m in NOTIONS)]
                           for e in ("low", "high")])
        for r in rows:
            ci, differs = r.get("ci") or {}, set(r.get("differs", []))
            cells = ([r["label"], _cell(r["accuracy"], ci.get("accuracy"), "accuracy" in differs)]
                     + [_cell(r[k]) for k in extra]
                     + [_cell(r["fairness"].get(a, {}).get(m, (math.nan, math.nan)),
                              ci.get("fairness", {}).get(a, {}).get(m), f"{m}:{a}" in differs)
                        for a in attributes for m in NOTIONS]
                     + [_megabytes(r["down_mb"]), _megabytes(r["up_mb"])] + ([inactive_note(r)] if marked else []))
            lines.append("| " + " | ".join(cells) + " |")
            writer.writerow([r["label"], r["runs"], r["failed"], *r["accuracy"]] + [v for k in extra for v in r[k]]
                            + [v for a in attributes for m in NOTIONS
                               for v in r["fairness"].get(a, {}).get(m, (math.nan, math.nan))]
                            + [*r["down_mb"], *r["up_mb"]]
                            + [v for bounds in [ci.get("accuracy")] + [ci.get("fairness", {}).get(a, {}).get(m)
                                                                        for a in attributes for m in NOTIONS]
                               for v in (bounds or [math.nan, math.nan])])
    lines += paired_table(rows, attributes, len(meta["seeds"])) + checks_lines(rows)
    failed = [r for r in rows if r["failed"]]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['label']}: {e}" for r in failed for e in r["errors"]]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    points = plot_scatter(rows, attributes, out / "scatter.png",
                          title=f"{Path(meta['dataset']).name} ({len(meta['seeds'])} seeds)", fmt=fmt)
    (out / "results.json").write_text(json.dumps(json_safe({"meta": dict(meta), "rows": list(rows), "scatter": points,
                                                            "runs": list(summaries)}), indent=1, sort_keys=True))
    plot_curves(rows, out / "curves.png", title=f"{Path(meta['dataset']).name}: accuracy per round", fmt=fmt)


def inactive_note(row: Mapping[str, Any]) -> str:
    """``inactive: <why>`` when an entry's mechanism never acted in some seed (:func:`inactive_mechanism`), else ''."""
    why = (row.get("checks") or {}).get("inactive") or []
    return f"inactive: {'; '.join(why)}" if why else ""


def _difference(result: Mapping[str, Any] | None) -> str:
    if not result:
        return "n/a"
    low, high = result["interval"]
    return f"{result['mean']:+.4f} [{low:+.3f}, {high:+.3f}]" + (" *" if result["excludes_zero"] else "")


def paired_table(rows: Sequence[Mapping[str, Any]], attributes: Sequence[str], seeds: int) -> list[str]:
    """Markdown lines: every entry's paired differences from the first entry (mean [interval], * when the
    interval excludes 0), and what the number of seeds allows to claim."""
    paired = [r for r in rows[1:] if (r.get("paired") or {}).get("metrics")]
    if not paired:
        return []
    level = paired[0]["paired"]["level"]
    names = ["accuracy", *(f"{n}:{a}" for a in attributes for n in NOTIONS)]
    header = ["strategy", "Δ accuracy", *(f"Δ {n.upper() if n != 'eqop' else 'EqOp'} {a}" for a in attributes
                                          for n in NOTIONS)]
    claim = (f"{seeds} seeds: a * is a difference these seeds and clients show, not yet a claim that one entry beats "
             f"the other (fedfair's reports make such claims from {CLAIM_SEEDS} seeds)." if seeds < CLAIM_SEEDS else
             f"{seeds} seeds: a * is a difference the paired interval supports.")
    lines = ["", f"Paired differences from {rows[0]['label']} (entry minus {rows[0]['label']}, per seed and client, "
             f"over the seeds and clients both have): mean [{level:.0%} interval, two-level bootstrap of the "
             f"differences]; * : the interval excludes 0. For the gaps, a negative difference is fairer. " + claim,
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in paired:
        metrics = row["paired"]["metrics"]
        lines.append("| " + " | ".join([row["label"], *(_difference(metrics.get(n)) for n in names)]) + " |")
    return lines


def checks_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown lines naming the entries whose runs had not converged or whose mechanism never acted."""
    flagged = []
    for row in rows:
        checks = row.get("checks") or {}
        notes = []
        if checks.get("improving_seeds"):
            gains = ", ".join(f"+{g:.3f}" for g in checks["still_improving"])
            notes.append(f"still improving in {checks['improving_seeds']} of {checks['seeds']} seeds (accuracy gain "
                         f"over the last quarter of rounds: {gains}; more rounds or a larger lr)")
        notes += [f"inactive: {why}" for why in checks.get("inactive", [])]
        if notes:
            flagged.append(f"- {row['label']}: " + "; ".join(notes))
    if not flagged:
        return [] if not any(row.get("checks") for row in rows) else [
            "", f"Checks: every entry reached its plateau (gain <= {PLATEAU} over the last quarter of rounds) and no "
                f"mechanism was inactive."]
    return ["", f"Checks (an entry below is not yet a fair comparison: it is compared at another stage of training, "
                f"or its mechanism never acted; plateau: a gain <= {PLATEAU} over the last quarter of rounds):",
            *flagged]


NOTION_NAMES = {"sp": "SP", "eqop": "EqOp", "eo": "EO"}


def _pair(value: Any) -> tuple[float, float]:
    """A row's (mean, std), also as read back from results.json (None for NaN, a list for the tuple)."""
    mean, std = value if value else (None, None)
    return (math.nan if mean is None else float(mean), math.nan if std is None else float(std))


def _terminal_cell(value: Any, interval: Sequence[float | None] | None = None, differs: bool = False) -> str:
    """``0.8123 ± 0.0123`` over ``[0.801, 0.823] *``: two short lines, so that a table of them fits 100 columns."""
    mean, std = _pair(value)
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:.4f} ± {std:.4f}"
    if interval and None not in interval:
        text += f"\n[{interval[0]:.3f}, {interval[1]:.3f}]"
    return text + (" *" if differs else "")


def _terminal_table(title: str, columns: Sequence[str]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for k, column in enumerate(columns):  # numbers are never broken; the label and the notes wrap
        table.add_column(escape(column), justify="left" if k == 0 or column == "mechanism" else "right",
                         no_wrap=k > 0 and column != "mechanism", overflow="fold")
    return table


def terminal_report(rows: Sequence[Mapping[str, Any]], title: str, seeds: int) -> list[Any]:
    """What ``fedfair compare`` / ``bench`` print of a comparison (table.md stays the Markdown record): rich tables
    that fit 100 columns (accuracy and traffic, then one table of gaps per sensitive attribute, then the paired
    differences whose interval excludes 0) and text lines (legend, checks, failed runs). ``rows`` are
    :func:`summarise`'s, or results.json's."""
    from rich.markup import escape

    attributes = sorted({a for r in rows for a in r["fairness"]})
    tasks = any(not math.isnan(_pair(r.get("min_accuracy"))[0]) for r in rows)
    marked = any(inactive_note(r) for r in rows)
    overview = _terminal_table(title, ["strategy", "runs", "accuracy", *(["min accuracy (tasks)", "accuracy variance "
                                       "(tasks)"] if tasks else []), "MB down", "MB up", *(["mechanism"] if marked else [])])
    for r in rows:
        ci, differs = r.get("ci") or {}, set(r.get("differs") or [])
        overview.add_row(escape(str(r["label"])), f"{r['runs'] - r['failed']}/{r['runs']}",
                         _terminal_cell(r["accuracy"], ci.get("accuracy"), "accuracy" in differs),
                         *([_terminal_cell(r["min_accuracy"]), _terminal_cell(r["accuracy_variance"])] if tasks else []),
                         _megabytes(_pair(r["down_mb"])), _megabytes(_pair(r["up_mb"])),
                         *([escape(inactive_note(r))] if marked else []))
    out: list[Any] = [overview]
    for attribute in attributes:
        gaps = _terminal_table(f"fairness gaps on {attribute} (lower = fairer)", ["strategy", "SP", "EqOp", "EO"])
        for r in rows:
            ci, differs = (r.get("ci") or {}).get("fairness", {}).get(attribute, {}), set(r.get("differs") or [])
            gaps.add_row(escape(str(r["label"])), *(_terminal_cell(r["fairness"].get(attribute, {}).get(n), ci.get(n),
                                                                   f"{n}:{attribute}" in differs) for n in NOTIONS))
        out.append(gaps)
    out += _terminal_paired(rows, seeds)
    level = next((r["ci"]["level"] for r in rows if r.get("ci")), None)
    out.append(f"mean ± std over {seeds} seed(s)" + (f"; [ ]: the {level:.0%} interval over seeds and clients; * : "
                                                     f"the paired difference from {rows[0]['label']} excludes 0"
                                                     if level else "") + "; table.md holds every number")
    out += [line for line in checks_lines(rows) if line]
    failed = [f"failed: {r['label']}: {e}" for r in rows if r["failed"] for e in r["errors"]]
    return out + failed


def _terminal_paired(rows: Sequence[Mapping[str, Any]], seeds: int) -> list[Any]:
    """The paired differences from the first entry whose interval excludes 0, as a table (all of them: table.md)."""
    from rich.markup import escape

    paired = [r for r in rows[1:] if (r.get("paired") or {}).get("metrics")]
    if not paired:
        return []
    reference, level = rows[0]["label"], paired[0]["paired"]["level"]
    found = [(r["label"], name, result) for r in paired for name, result in r["paired"]["metrics"].items()
             if result["excludes_zero"]]
    if not found:
        return [f"paired differences from {reference}: no {level:.0%} interval excludes 0"]
    table = _terminal_table(f"paired differences from {reference} whose {level:.0%} interval excludes 0 (entry minus "
                            f"{reference}; negative gap = fairer)", ["strategy", "metric", "difference", "interval"])
    for label, name, result in found:
        notion, _, attribute = name.partition(":")
        low, high = result["interval"]
        table.add_row(escape(str(label)), escape(f"{NOTION_NAMES[notion]} {attribute}" if attribute else name),
                      f"{result['mean']:+.4f}", f"[{low:+.3f}, {high:+.3f}]")
    note = (f"{seeds} seed(s): differences these seeds and clients show, not yet a claim (fedfair's reports claim from "
            f"{CLAIM_SEEDS} seeds)") if seeds < CLAIM_SEEDS else ""
    return [table, *([note] if note else [])]


def plot_curves(rows: Sequence[Mapping[str, Any]], path: Path, title: str, fmt: str = "png") -> None:
    """curves.<fmt>: every entry's mean accuracy per round (mean over seeds) in its strategy's colour, named at its
    line's end, dashed when still improving, to see which ones still improve."""
    from fedfair.figures import direct_labels, entry_styles, pyplot, save

    drawn = [r for r in rows if (r.get("checks") or {}).get("curve")]
    if not drawn:
        return
    plt = pyplot()
    styles = entry_styles([r["label"] for r in rows])
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ends = []
    for row in drawn:
        rounds, accuracy = zip(*row["checks"]["curve"])
        improving = bool(row["checks"].get("improving_seeds"))
        colour, marker = styles[row["label"]]
        ax.plot(rounds, accuracy, "--" if improving else "-", marker=marker, markevery=[len(rounds) - 1], color=colour,
                label=row["label"] + (" (still improving)" if improving else ""))
        ends.append((rounds[-1], accuracy[-1], row["label"], colour))
    ax.set_xlabel("round")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("clients' mean accuracy (mean over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    direct_labels(ax, *zip(*ends))
    save(fig, path, fmt)


def scatter_points(rows: Sequence[Mapping[str, Any]], attributes: Sequence[str]) -> list[dict[str, Any]]:
    """What the scatter draws: per entry, attribute and notion the mean gap (x) and accuracy (y) and their bars:
    the 95 % intervals of the table (``ci``, two-level bootstrap over seeds and clients) where the entry has
    them, else mean +- std over seeds (``bars`` says which); the table and the picture never disagree."""
    points = []
    for r in rows:
        ci = r.get("ci") or {}
        for attr in attributes:
            for notion in NOTIONS:
                (x, xs), (y, ys) = r["fairness"].get(attr, {}).get(notion, (math.nan, math.nan)), r["accuracy"]
                if math.isnan(x) or math.isnan(y):
                    continue
                x_ci, y_ci = ci.get("fairness", {}).get(attr, {}).get(notion), ci.get("accuracy")
                interval = x_ci is not None and y_ci is not None
                points.append({"label": r["label"], "attribute": attr, "notion": notion, "x": x, "y": y,
                               "x_interval": list(x_ci) if interval else [x - xs, x + xs],
                               "y_interval": list(y_ci) if interval else [y - ys, y + ys],
                               "bars": "interval" if interval else "std"})
    return points


def plot_scatter(rows: Sequence[Mapping[str, Any]], attributes: Sequence[str], path: Path, title: str,
                 fmt: str = "png") -> list[dict[str, Any]]:
    """Accuracy vs fairness gap per entry with the table's interval bars (:func:`scatter_points`), one panel per
    attribute and notion, each entry in its strategy's colour and named next to its point; returns the points
    drawn."""
    from fedfair.figures import direct_labels, entry_styles, pyplot, save

    plt = pyplot()
    points = scatter_points(rows, attributes)
    n_rows = max(len(attributes), 1)
    fig, axes = plt.subplots(n_rows, len(NOTIONS), figsize=(5.2 * len(NOTIONS), 3.9 * n_rows), squeeze=False)
    styles = entry_styles([r["label"] for r in rows])
    for point in points:
        ax = axes[attributes.index(point["attribute"])][NOTIONS.index(point["notion"])]
        x, y = point["x"], point["y"]
        xerr = [[max(x - point["x_interval"][0], 0)], [max(point["x_interval"][1] - x, 0)]]
        yerr = [[max(y - point["y_interval"][0], 0)], [max(point["y_interval"][1] - y, 0)]]
        colour, marker = styles[point["label"]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, capsize=3, label=point["label"], color=colour,
                    elinewidth=0.9)
    for i, attr in enumerate(attributes):
        for j, notion in enumerate(NOTIONS):
            axes[i][j].set_xlabel(f"local {notion.upper() if notion != 'eqop' else 'EqOp'} gap ({attr})")
            axes[i][j].set_ylabel("local accuracy")
            axes[i][j].grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = min(len(labels), 3) or 1
    legend_rows = math.ceil(len(labels) / ncol)
    fig.set_size_inches(fig.get_size_inches()[0], fig.get_size_inches()[1] + 0.25 * legend_rows)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8)
    bars = {p["bars"] for p in points}
    level = next((r["ci"]["level"] for r in rows if r.get("ci")), 0.95)
    fig.suptitle(title + (f"  (bars: the table's {level:.0%} intervals)" if bars == {"interval"} else
                          "  (bars: std over seeds)" if bars == {"std"} else ""))
    fig.tight_layout(rect=(0, 0.03 + 0.2 * legend_rows / (3.9 * n_rows + 0.25 * legend_rows), 1, 0.96))
    for i, attr in enumerate(attributes):
        for j, notion in enumerate(NOTIONS):
            mine = [p for p in points if p["attribute"] == attr and p["notion"] == notion]
            direct_labels(axes[i][j], [p["x"] for p in mine], [p["y"] for p in mine], [p["label"] for p in mine],
                          [styles[p["label"]][0] for p in mine], fontsize=6.5)
    save(fig, path, fmt)
    return points


def check_dataset(dataset: str, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int], data_root: str = "") -> int:
    """Before any run: every config passes :func:`fedfair.api.prepare_run` (parameters, the dataset of its seed
    loads, the checks that need it) and every seed's copy has the same number of clients (one simulation serves
    them all); returns that number."""
    from fedfair.api import prepare_run

    sizes = {prepare_run({k: v for k, v in config.items() if k != "_label"}, check_out=False).num_clients
             for config in configs}
    if len(sizes) != 1:
        raise ParamError(f"{dataset}: the dataset has a different number of clients for different seeds: {sorted(sizes)}")
    return sizes.pop()


def run_comparison(
    dataset: str, entries: Sequence[str], seeds: Sequence[int], rounds: int, overrides: Mapping[str, Any], out: Path,
    data_root: str = "", verbose: bool = False, echo: bool = True, progress: bool = False, fmt: str = "png",
) -> list[dict[str, Any]]:
    """Plan, run (one simulation), summarise, write; returns the table rows. ``out`` follows fedfair's
    output-directory policy (:mod:`fedfair.outdirs`): a new or empty directory or an earlier comparison's, whose
    complete runs are replaced only with the ``overwrite`` parameter in ``overrides``. ``echo``: every run's
    rounds on stderr; ``progress``: one progress bar over the runs (and a status line while the dataset is read).
    ``fmt``: the figures' file format (png, svg, pdf), the runs' own too when the ``plots`` parameter asks for them."""
    from fedfair.api import prepare_runs, run_configs
    from fedfair.figures import check_format
    from fedfair.outdirs import check, claim
    from fedfair.results import progress_bar, status

    check_format(fmt)
    out = Path(out).resolve()
    overwrite = bool(overrides.get("overwrite"))
    configs = plan_runs(dataset, entries, seeds, rounds, overrides, out, data_root)
    check(out, "compare", overwrite=overwrite)  # before any work: --out and every run directory in it
    for config in configs:
        check(config["out-dir"], "run", overwrite=overwrite, flag="--out", what="the run directory")
    labels = [c.pop("_label") for c in configs]
    if fmt != "png":  # per-run figures (when the plots parameter asks for them) in that format
        for config in configs:
            config.setdefault("plot-format", fmt)
    with status(f"preparing dataset {dataset!r} for {len(configs)} runs ...", progress):
        prepared = prepare_runs(configs)  # every run checked (and its dataset read) once, before any starts
    with claim(out, "compare", overwrite=overwrite, clear_files=True) as held, \
            progress_bar(len(configs), progress, "compare") as advance:
        def done(index: int, summary: Mapping[str, Any]) -> None:
            advance(f"{labels[index]} seed {configs[index]['seed']}" + (" failed" if "error" in summary else ""))

        summaries = run_configs(configs, verbose=verbose, echo=echo, prepared=prepared, on_done=done)
        rows = summarise(labels, summaries, [c["out-dir"] for c in configs])
        write_outputs(out, rows, summaries, {"dataset": dataset, "rounds": rounds, "seeds": list(seeds),
                                             "strategies": list(entries),
                                             "overrides": {k: v for k, v in overrides.items() if k != "overwrite"}},
                      fmt=fmt)
        held.done()
    return rows
