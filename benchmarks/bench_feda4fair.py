"""Build + audit FeDa4Fair's silo releases; time it and compare with seed 002's Tables 3 and 5.

Usage: python benchmarks/bench_feda4fair.py [--data ../shared/data/feda4fair] [--out /tmp/feda4fair-bench]
       python benchmarks/bench_feda4fair.py --smoke DIR   # seconds, offline stand-in releases, everything in DIR

For each release: `fedfair data build` (csv-dir) and `fedfair data report` (labels, LR, XGBoost),
wall time of each, then the per-state agreement with the paper's table: for each state
listed in the paper (and present here), is it on the same attribute / value in our
audit (XGBoost alone, LR alone, both models agreeing)? Writes benchmarks/feda4fair_results.json
and prints the markdown table rendered from it (``render_markdown``).
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "feda4fair")
    parser.add_argument("--out", type=Path, default=Path("/tmp/feda4fair-bench"))
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="the same build + audit + comparison on stand-in releases (4 states x ~150 SYNTHETIC "
                             "rows, written to DIR/data): builds, audits, feda4fair_results.json and "
                             "bench_feda4fair.md all go under DIR")
    args = parser.parse_args(argv)
    args.smoke = args.smoke and args.smoke.resolve()
    if args.smoke:
        args.data, args.out = write_standin_releases(args.smoke / "data"), args.smoke / "work"
    # smoke: the audit in this process (starting worker processes costs more than auditing 4 small states)
    result = run(args.data, args.out, jobs=1 if args.smoke else None)
    path = args.smoke / RESULTS.name if args.smoke else RESULTS
    path.write_text(json.dumps({**result, "smoke": True} if args.smoke else result, indent=1) + "\n")
    text = render_markdown(json.loads(path.read_text()))
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(text)
    print(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
