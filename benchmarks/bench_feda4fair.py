"""Build + audit FeDa4Fair's silo releases; time it and compare with seed 002's Tables 3 and 5.

Usage: python benchmarks/bench_feda4fair.py [--data ../shared/data/feda4fair] [--out /tmp/feda4fair-bench]

For each release: `fedfair data build` (csv-dir) and `fedfair data report` (labels, LR, XGBoost),
wall time of each, then the per-state agreement with the paper's table: for each state
listed in the paper (and present here), is it on the same attribute / value in our
audit (XGBoost alone, LR alone, both models agreeing)?
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

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


def compare(per_model: dict[str, pd.DataFrame], paper: dict[str, str]) -> dict[str, float | int]:
    truth = {s: k for k, states in paper.items() for s in states.split()}
    present = [s for s in truth if s in per_model["xgb"].index]
    agree = {m: sum(str(per_model[m].loc[s, "choice"]) == truth[s] for s in present) for m in ("lr", "xgb")}
    both = sum(str(per_model["lr"].loc[s, "choice"]) == str(per_model["xgb"].loc[s, "choice"]) == truth[s] for s in present)
    return {"states_compared": len(present), "lr_match": agree["lr"], "xgb_match": agree["xgb"], "both_match": both}


def run(data: Path, out: Path) -> None:
    cases = [
        ("cross_silo_attribute_final", {}, "attribute", TABLE_3_DD),
        ("cross_silo_value_final", {"RAC1P": "race-5"}, "value", TABLE_5_DD),
    ]
    for folder, labels, level, paper in cases:
        t0 = time.perf_counter()
        root = build_dataset(BuildSpec(source="csv-dir", source_options={"path": str(data / folder)}, label="PINCP",
                                       sensitive=["SEX", "RAC1P"], value_labels=labels), out / folder)
        t1 = time.perf_counter()
        result = audit_dataset(root, out / f"{folder}-audit", models="lr,xgb")
        t2 = time.perf_counter()
        table = result.table
        if level == "attribute":
            per_model = {m: most_biased_attribute(table, ["SEX", "RAC1P"], "dd", m) for m in ("lr", "xgb")}
        else:
            per_model = {m: most_biased_value(table, "RAC1P", "dd", m) for m in ("lr", "xgb")}
        counts = {m: per_model[m]["choice"].astype(str).value_counts().to_dict() for m in per_model}
        print(f"{folder}: {table['client'].nunique()} clients; build {t1 - t0:.1f} s, audit {t2 - t1:.1f} s")
        print(f"  counts of the most biased {level} (DD): {counts}")
        print(f"  agreement with seed 002's table: {compare(per_model, paper)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "feda4fair")
    parser.add_argument("--out", type=Path, default=Path("/tmp/feda4fair-bench"))
    args = parser.parse_args()
    run(args.data, args.out)
