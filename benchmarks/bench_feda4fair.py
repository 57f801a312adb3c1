"""Build + audit FeDa4Fair's silo releases; time it and compare with seed 002's Tables 3 and 5.

Usage: python benchmarks/bench_feda4fair.py [--data ../shared/data/feda4fair] [--out /tmp/feda4fair-bench]
       python benchmarks/bench_feda4fair.py --smoke DIR   # seconds, offline stand-in releases, everything in DIR
       python benchmarks/bench_feda4fair.py --report      # benchmarks/feda4fair.md from the committed JSON, no run

For each release: `fedfair data build` (csv-dir) and `fedfair data report` (labels, LR, XGBoost),
wall time of each, then the per-state agreement with the paper's table: for each state
listed in the paper (and present here), is it on the same attribute / value in our
audit (XGBoost alone, LR alone, both models agreeing)? Writes benchmarks/feda4fair_results.json,
prints the markdown table rendered from it (``render_markdown``) and writes the report benchmarks/feda4fair.md
rendered from it (``render_report``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fedfair.partitioners.audit import audit_dataset
from fedfair.partitioners.builder import BuildSpec, build_dataset
from fedfair.partitioners.report import most_biased_attribute, most_biased_value
from reporting import write_reports  # noqa: E402 (benchmarks/ is the script's folder)

# seed 002, Table 3 (attribute-silo, DD): states per most biased attribute.
TABLE_3_DD = {
    "SEX": "AR ID IL IN KS LA MI MO ND NH OH OK PA SD TN TX UT VA WA WV WY",
    "RAC1P": "AK AL AZ CA CO CT DE FL GA HI IA KY MA MD ME MN MS MT NC NE NJ NM NV NY OR RI SC VT WI",
}
# seed 002, Table 5 (value-silo, DD): states per most biased RAC1P value.
TABLE_5_DD = {
    "2": "FL ME MN MT ND NH OK SD VT",
    "3": "PR WY",
    "4": "AK AL CO CT DE GA HI ID KY MS NE NM OH OR PA UT",
    "5": "AR AZ CA IA IL IN KS LA MA MD MI MO NC NJ NV NY RI SC TN TX VA WA WI WV",
}
RESULTS = Path(__file__).resolve().parent / "feda4fair_results.json"
# --smoke: states of the stand-in releases (each in both paper tables)
SMOKE_STATES = ("AL", "AR", "GA", "MD")
# raw RAC1P codes 1-9 -> FeDa4Fair's five values (1 White, 2 Black, 3 Asian, 4 American Indian / Alaska Native,
# 5 other), as in cross_silo_value_final
RACE_5 = np.array([0, 1, 2, 4, 4, 4, 3, 5, 5, 5])


def compare(per_model: dict[str, pd.DataFrame], paper: dict[str, str]) -> dict[str, float | int]:
    truth = {s: k for k, states in paper.items() for s in states.split()}
    present = [s for s in truth if s in per_model["xgb"].index]
    agree = {m: sum(str(per_model[m].loc[s, "choice"]) == truth[s] for s in present) for m in ("lr", "xgb")}
    both = sum(str(per_model["lr"].loc[s, "choice"]) == str(per_model["xgb"].loc[s, "choice"]) == truth[s] for s in present)
    return {"states_compared": len(present), "lr_match": agree["lr"], "xgb_match": agree["xgb"], "both_match": both}


def write_standin_releases(root: Path, states: Sequence[str] = SMOKE_STATES, rows_per_state: int = 150,
                           seed: int = 0) -> Path:
    """Offline stand-ins of the two silo releases in ``root`` (for --smoke; no ../shared needed): the same layout
    (one ``<STATE>_0.csv.gz`` per state), ACSIncome columns and label PINCP (bool), RAC1P binarised (1 White, 2
    other) in cross_silo_attribute_final and in the five race-5 values in cross_silo_value_final. The rows are
    fedfair's SYNTHETIC ACSIncome-schema generator (synthetic-acs), not census data."""
    from fedfair.partitioners.sources import synthetic_acs

    source = synthetic_acs(states=list(states), seed=seed, rows_per_state=rows_per_state)
    codings = {"cross_silo_attribute_final": lambda race: np.where(race == 1, 1.0, 2.0),
               "cross_silo_value_final": lambda race: RACE_5[race.astype(int)].astype(float)}
    for folder, coding in codings.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for state, frame in source.clients.items():
            frame = frame.assign(RAC1P=coding(frame["RAC1P"].to_numpy()))
            frame.to_csv(root / folder / f"{state}_0.csv.gz", index=False)
    return root


def run(data: Path, out: Path, jobs: int | None = None) -> dict:
    """Build and audit both releases (``jobs``: the audit's worker processes, None = one per core)."""
    cases = [
        ("cross_silo_attribute_final", {}, "attribute", TABLE_3_DD),
        ("cross_silo_value_final", {"RAC1P": "race-5"}, "value", TABLE_5_DD),
    ]
    releases = {}
    for folder, labels, level, paper in cases:
        t0 = time.perf_counter()
        root = build_dataset(BuildSpec(source="csv-dir", source_options={"path": str(data / folder)}, label="PINCP",
                                       sensitive=["SEX", "RAC1P"], value_labels=labels), out / folder)
        t1 = time.perf_counter()
        result = audit_dataset(root, out / f"{folder}-audit", models="lr,xgb", jobs=jobs)
        t2 = time.perf_counter()
        table = result.table
        if level == "attribute":
            per_model = {m: most_biased_attribute(table, ["SEX", "RAC1P"], "dd", m) for m in ("lr", "xgb")}
        else:
            per_model = {m: most_biased_value(table, "RAC1P", "dd", m) for m in ("lr", "xgb")}
        counts = {m: per_model[m]["choice"].astype(str).value_counts().to_dict() for m in per_model}
        releases[folder] = {"level": level, "clients": int(table["client"].nunique()), "build_seconds": t1 - t0,
                            "audit_seconds": t2 - t1, "counts": counts, "agreement": compare(per_model, paper)}
    return {"data": str(data), "releases": releases}


def render_markdown(result: dict) -> str:
    """One row per release: size, build / audit wall time, the DD counts per model and the agreement with the
    paper's table (from the JSON alone)."""
    lines = ["| release | clients | build (s) | audit (s) | most biased attribute / value (DD): LR | XGBoost | "
             "states in the paper's table | LR matches | XGBoost matches | both match |", "|---" * 10 + "|"]
    for folder, entry in result["releases"].items():
        counts = [", ".join(f"{k}: {v}" for k, v in sorted(entry["counts"][m].items())) for m in ("lr", "xgb")]
        agree = entry["agreement"]
        lines.append(f"| {folder} | {entry['clients']} | {entry['build_seconds']:.1f} | {entry['audit_seconds']:.1f} | "
                     f"{counts[0]} | {counts[1]} | {agree['states_compared']} | {agree['lr_match']} | "
                     f"{agree['xgb_match']} | {agree['both_match']} |")
    return "\n".join(lines) + "\n"


# ---- the committed report (benchmarks/feda4fair.md), rendered from feda4fair_results.json alone ----

REPORT = "feda4fair.md"
MISSING_STATES = ("CA", "FL", "NY", "TX")  # absent from ../shared/data's two silo folders (see its README.md)
VALUE_NAMES = {"2": "2 Black", "3": "3 Asian", "4": "4 AIAN", "5": "5 other"}
PAPER_TABLES = {"cross_silo_attribute_final": ("Table 3", TABLE_3_DD, {"SEX": "SEX", "RAC1P": "RACE"}),
                "cross_silo_value_final": ("Table 5", TABLE_5_DD, VALUE_NAMES)}


def _paper_counts(table: dict[str, str], drop: Sequence[str] = ()) -> dict[str, int]:
    return {k: sum(s not in drop for s in states.split()) for k, states in table.items()}


def _order(counts: dict[str, int]) -> list[str]:
    return sorted(counts, key=lambda k: (-counts[k], k))


def render_report(result: dict) -> str:
    """benchmarks/feda4fair.md: the release sizes and times, and per release the paper's counts next to ours and the
    state-by-state agreement, with a verdict computed from them (one split seed: at best direction only, when both
    models order the categories as the paper's table restricted to the states present does)."""
    releases = result["releases"]
    lines = ["# FeDa4Fair releases: build + audit time, and comparison with seed 002's tables", "",
             "Generated by `python benchmarks/bench_feda4fair.py --report` from "
             "[feda4fair_results.json](feda4fair_results.json) (do not edit by hand; tests/test_bench_smoke.py checks "
             "it). Command: `python benchmarks/bench_feda4fair.py` (2-core machine). Equivalent CLI: `fedfair data "
             "build --source csv-dir --path ../shared/data/feda4fair/cross_silo_value_final --label PINCP --sensitive "
             "SEX,RAC1P --value-labels RAC1P=race-5 --out DIR` then `fedfair data report DIR --models lr,xgb`.", "",
             "| release | clients | build (s) | audit (labels, LR, XGBoost; s) |", "|---|---|---|---|"]
    for folder, entry in releases.items():
        lines.append(f"| {folder} | {entry['clients']} | {entry['build_seconds']:.1f} | {entry['audit_seconds']:.1f} |")
    verdicts, sections = {}, []
    for folder, entry in releases.items():
        if folder not in PAPER_TABLES:
            continue
        name, table, labels = PAPER_TABLES[folder]
        full, here = _paper_counts(table), _paper_counts(table, MISSING_STATES)
        ours = {m: {k: int(entry["counts"][m].get(k, 0)) for k in table} for m in ("lr", "xgb")}
        same_order = all(_order(ours[m]) == _order(here) for m in ours)
        agree = entry["agreement"]
        verdicts[folder] = "direction only" if same_order else "not reproduced"  # one split seed
        diff = max(abs(ours[m][k] - here[k]) for m in ours for k in table)
        sections += [f"## {entry['level'].capitalize()}-silo vs seed 002 {name} (DD)", "",
                     "| | " + " | ".join(labels[k] for k in table) + " |", "|---|" + "---|" * len(table),
                     f"| seed 002 {name} ({sum(full.values())} states) | " + " | ".join(str(full[k]) for k in table) + " |",
                     f"| seed 002, restricted to the {sum(here.values())} states present here | "
                     + " | ".join(str(here[k]) for k in table) + " |",
                     *[f"| fedfair, local {'LR' if m == 'lr' else 'XGBoost'} | " + " | ".join(str(ours[m][k]) for k in table)
                       + " |" for m in ours], "",
                     f"**{verdicts[folder].capitalize()}** (one split seed: indicative only). Both models order the "
                     f"categories {'as' if same_order else 'not as'} the paper's table restricted to these states does "
                     f"(counts within {diff} states of it). State by state, of the {agree['states_compared']} states "
                     f"the table lists and that are present, the choice matches the paper for {agree['lr_match']} (LR), "
                     f"{agree['xgb_match']} (XGBoost) and {agree['both_match']} with both models agreeing with it "
                     f"(`feda4fair_results.json` `releases.{folder}.counts`, `.agreement`).", ""]
    lines += ["", "**Status (issue 29).** " + "; ".join(
        f"{PAPER_TABLES[f][0]} ({releases[f]['level']}-silo) **{v}**" for f, v in verdicts.items())
        + "; Tables 4 and 6 (device releases) and Tables 1 and 2 (the drop rates) **not attempted**. One split seed "
        "(0) for the local models: indicative only. One row per result: [VERDICTS.md](VERDICTS.md).", "", *sections,
        "## Why the numbers differ", "",
        f"- {', '.join(MISSING_STATES)} are absent from the shared silo folders (see ../shared/data/README.md): the "
        "paper's counts are over every state.",
        "- Split and models: fedfair trains on a seeded 70 % train split and scores on the 15 % test split; the "
        "paper's split, hyper-parameters and seeds are not given. The value-level choice between small groups (Asian, "
        "AIAN, other: a few hundred rows per state) changes with the split, which is why the per-state value match is "
        "lower than the attribute match while the counts stay close.",
        "- The paper's bias threshold is not legible in the seed text; the counts above use no threshold (each "
        "model's own maximum). report.md also gives the \"both models agree and both > threshold\" counts (default "
        "threshold 0.1).",
        "- Value level: fedfair reports the disadvantaged value (lower selection rate) of the max-gap pair; seed 002 "
        "names one value per state without saying how it is picked from the pair.", ""]
    return "\n".join(lines)


def reports(folder: Path = RESULTS.parent) -> dict[str, str]:
    """The committed report rendered from folder/feda4fair_results.json alone: {file name: markdown}."""
    return {REPORT: render_report(json.loads((folder / RESULTS.name).read_text()))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "feda4fair")
    parser.add_argument("--out", type=Path, default=Path("/tmp/feda4fair-bench"))
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="the same build + audit + comparison on stand-in releases (4 states x ~150 SYNTHETIC "
                             "rows, written to DIR/data): builds, audits, feda4fair_results.json and "
                             "bench_feda4fair.md all go under DIR")
    parser.add_argument("--report", action="store_true",
                        help="no run: render benchmarks/feda4fair.md again from the committed feda4fair_results.json")
    args = parser.parse_args(argv)
    if args.report:
        write_reports(reports(), RESULTS.parent)
        return
    args.smoke = args.smoke and args.smoke.resolve()
    if args.smoke:
        args.data, args.out = write_standin_releases(args.smoke / "data"), args.smoke / "work"
    # smoke: the audit in this process (starting worker processes costs more than auditing 4 small states)
    result = run(args.data, args.out, jobs=1 if args.smoke else None)
    path = args.smoke / RESULTS.name if args.smoke else RESULTS
    path.write_text(json.dumps({**result, "smoke": True} if args.smoke else result, indent=1) + "\n")
    text = render_markdown(json.loads(path.read_text()))
    report = render_report(json.loads(path.read_text()))
    (args.smoke / f"{Path(__file__).stem}.md" if args.smoke else RESULTS.parent / REPORT).write_text(
        text + "\n" + report if args.smoke else report)
    print(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
