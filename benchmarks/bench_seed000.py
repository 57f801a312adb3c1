"""Seed 000 experiments on real data: ACSIncome by state (Section 4, Figs. 2-3, 5, 8), Tables 1 / 3, Adult (Section 4.3).

    python benchmarks/bench_seed000.py acs         --seeds 5 --rounds 20   # all algorithms, sex and race
    python benchmarks/bench_seed000.py acs-tables  --seeds 5 --rounds 20   # IFCA vs Fair-FCA (gamma 0.5), f = SP / EqOp / EO
    python benchmarks/bench_seed000.py adult       --seeds 5 --rounds 20   # 5 clients unbalanced by race

Each writes ``benchmarks/seed000_<experiment>_results.md`` (the table of
``fedfair compare``: mean +- std over seeds of the clients' mean local
accuracy and SP / EqOp / EO per attribute) and keeps the compare directory
(scatter.png, runs) under ``--work``.

ACS setting (seed 000 Section 4 / Appendix C.1): 1000 train / 2000 test rows
per state, features of the states with IDs {1, 10, 20, 30, 40, 50} in
folktables' order (AL, GA, MD, NJ, SC, WY) multiplied by 0.6, two-layer MLP
with 32 hidden units, batch 32; SGD lr 0.001 with 10 local epochs for the
FedAvg family (FedAvg, MAML-FL, FedProx, FairFed, FairFed-AF) and lr 0.05 with
1 epoch for Standalone and the clustered algorithms; K = 2. Sex (1 male, 2
female) and race (1 White, 2 non-White) are the protected attributes. Offline,
the data are the states of ``../shared/data/feda4fair/cross_silo_value_final``
that FeDa4Fair left unmodified (35 states; CA, FL, NY, TX are absent from the
release); with internet, ``--source acs`` would use folktables directly.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fedfair.comparison import run_comparison  # noqa: E402

RELEASE = REPO.parent / "shared" / "data" / "feda4fair" / "cross_silo_value_final"
MODIFIED = {"AZ", "OH", "AR", "MN", "OR", "WV", "DE", "LA", "NE", "AK", "MS", "PR"}
SCALED = ["AL", "GA", "MD", "NJ", "SC", "WY"]  # IDs 1, 10, 20, 30, 40, 50 of folktables' state order

FEDAVG_FAMILY = "@lr=0.001@local-epochs=10"
CLUSTERED = "@lr=0.05@local-epochs=1"


def acs_dataset(work: Path) -> Path:
    """Build (once) the ACS setting from the FeDa4Fair release."""
    out = work / "acs-income-seed000"
    if (out / "manifest.json").is_file():
        return out
    states = sorted(p.name.split("_")[0] for p in RELEASE.glob("*_0.csv.gz") if p.name.split("_")[0] not in MODIFIED)
    command = [
        sys.executable, "-m", "fedfair.cli", "data", "build", "--source", "csv-dir", "--path", str(RELEASE),
        "--label", "PINCP", "--sensitive", "SEX,RAC1P", "--map", 'RAC1P={"1": 1, "*": 2}',
        "--categorical", "COW,MAR,RELP", "--states", ",".join(states), "--max-train", "1000", "--max-test", "2000",
        "--scale-clients", ",".join(SCALED), "--scale-factor", "0.6", "--out", str(out),
    ]
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return out


EXPERIMENTS = {
    "acs": [
        f"fedavg{FEDAVG_FAMILY}", f"standalone{CLUSTERED}", f"ifca{CLUSTERED}", f"flhc{CLUSTERED}",
        f"cfl-cosine{CLUSTERED}", f"maml{FEDAVG_FAMILY}", f"fedprox{FEDAVG_FAMILY}",
        f"fairfed{FEDAVG_FAMILY}@sensitive=SEX", f"fairfed-af{FEDAVG_FAMILY}@sensitive=SEX",
        f"fair-fca{CLUSTERED}@gamma=0.5@sensitive=SEX", f"fair-flhc{CLUSTERED}@gamma=0.5@sensitive=SEX",
        f"fair-fca{CLUSTERED}@gamma=0.5@sensitive=RAC1P", f"fair-flhc{CLUSTERED}@gamma=0.5@sensitive=RAC1P",
    ],
    "acs-tables": [f"ifca{CLUSTERED}"] + [
        f"fair-fca{CLUSTERED}@gamma=0.5@fairness={f}@sensitive={a}" for a in ("SEX", "RAC1P") for f in ("sp", "eqop", "eo")
    ],
    "adult": [  # seed 000 Fig. 4's algorithms plus the two fair clustering ones
        "fedavg@lr=0.001@local-epochs=10", "standalone@lr=0.05", "ifca@lr=0.05", "flhc@lr=0.05",
        "maml@lr=0.001@local-epochs=10", "fedprox@lr=0.001@local-epochs=10",
        "fair-fca@lr=0.05@gamma=0.5", "fair-flhc@lr=0.05@gamma=0.5",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fedfair-seed000"))
    parser.add_argument("--only", default="", help="comma-separated subset of the experiment's entries (by prefix)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    entries = EXPERIMENTS[args.experiment]
    if args.only:
        entries = [e for e in entries if any(e.startswith(p) for p in args.only.split(","))]
    common = {"model": "mlp", "hidden": "32", "batch-size": 32, "num-clusters": 2, "hc-k1": args.rounds // 2}
    if args.experiment == "adult":
        dataset, data_root, common["sensitive"] = "adult", str(REPO.parent / "shared" / "data"), "race"
    else:
        dataset, data_root = str(acs_dataset(args.work)), ""
    out = args.work / f"compare-{args.experiment}"
    start = time.time()
    run_comparison(dataset, entries, list(range(args.seeds)), args.rounds, common, out, data_root=data_root, echo=False)
    wall = time.time() - start
    header = [f"# Seed 000 `{args.experiment}`: generated table", "",
              f"`python benchmarks/bench_seed000.py {args.experiment} --seeds {args.seeds} --rounds {args.rounds}` "
              f"({wall / 60:.1f} min on this machine). Common settings: {common}. Per-entry settings after `@`.", ""]
    table = (out / "table.md").read_text().splitlines()[2:]
    report = REPO / "benchmarks" / f"seed000_{args.experiment.replace('-', '_')}_results.md"
    scatter = report.with_name(report.stem.replace("_results", "_scatter") + ".png")
    shutil.copyfile(out / "scatter.png", scatter)
    header.append(f"Scatter (mean ± std over seeds): [{scatter.name}]({scatter.name})")
    header.append("")
    report.write_text("\n".join(header + table) + "\n")
    print(report.read_text())


if __name__ == "__main__":
    main()
