"""Seed 001 (single-shot fair FL with synthetic data): Table 2, Fig. 2's grid, the privacy indicator, the
communication against FedAvg / FairFed, and the synthesis speed.

    python benchmarks/bench_single_shot.py table2            # Law race / sex, Dutch stand-in: rho_o x N_s
    python benchmarks/bench_single_shot.py grid              # Fig. 2: rho_o x rho_s on Law / race, N_s = N
    python benchmarks/bench_single_shot.py versus --rounds 20   # FedAvg, FairFed, single-shot on Law / race
    python benchmarks/bench_single_shot.py speed             # one client's synthesis, 8,319 rows, k_max 1000

Every run goes through ``fedfair.simulation`` (the app of ``fedfair run``); accuracy and SPD are pooled
over the clients' test splits from metrics.jsonl's group counts, as the paper computes them ("across all
clients' testing data"). Writes benchmarks/single_shot_<what>_results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "benchmarks"
RHOS = (0.0, 10.0, 100.0, 1000.0, 10000.0)
# (dataset, sensitive attribute, N^train,small); the stand-in's small size is 10 % of its 9,768 training rows
SETTINGS = (("law", "race", "800"), ("law", "sex", "800"), ("adult-dutch-standin", "sex", "977"))


def pooled(run_dir: Path, attribute: str) -> dict:
    """Accuracy (%) and the signed SPD (eq. 4, first value minus second) over all clients' test rows."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("stage", "evaluate") == "evaluate"]
    rows = [r for r in rows if r["round"] == max(r["round"] for r in rows)]
    correct = sum(r["accuracy"] * r["n_test"] for r in rows)
    total = sum(r["n_test"] for r in rows)
    from fedfair.metrics import group_rates

    counts = np.sum([np.asarray(r["groups"][attribute]["counts"], dtype=float) for r in rows], axis=0)
    positive = group_rates(counts)["selection_rate"]
    return {"accuracy": 100 * correct / total, "spd": float(positive[0] - positive[1])}


def _runs(dataset: str, configs: list[dict], data_root: str) -> list[dict]:
    from fedfair.registry import resolve_dataset
    from fedfair.api import run_configs

    root = resolve_dataset(dataset, 0, data_root=data_root)
    full = [{"dataset": str(root), **c} for c in configs]
    return run_configs(full, echo=False, keep_going=False)


def _record(summary: dict, run_dir: Path, attribute: str) -> dict:
    synthesis = summary.get("synthesis", {})
    return {**pooled(run_dir, attribute),
            "min_distance": {c: r["min-distance"] for c, r in synthesis.items()},
            "synthesis_seconds": {c: round(r["seconds"], 2) for c, r in synthesis.items()},
            "inner_failures": {c: r["inner-failures"] for c, r in synthesis.items()},
            "covariance_real": {c: r["covariance-real"] for c, r in synthesis.items()},
            "up_mb": summary["communication"]["up_bytes"] / 1e6, "down_mb": summary["communication"]["down_bytes"] / 1e6,
            "messages": summary["communication"]["messages"], "rounds": summary["rounds"]}


def table2(args: argparse.Namespace) -> dict:
    """Table 2: rho_s = 0, lambda_theta = 1e-3, k_max 1000; N_s = N (copy) and N_s = N^train,small (balanced)."""
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for dataset, attribute, small in SETTINGS:
            plan = [(size, rho) for size in ("copy", small) for rho in RHOS]
            configs = [{"strategy": "single-shot", "sensitive": attribute, "ss-size": size, "ss-rho-o": rho,
                        "ss-rho-s": 0.0, "ss-lambda-theta": 1e-3, "ss-kmax": args.kmax,
                        "out-dir": f"{work}/{dataset}-{attribute}-{size}-{rho}"} for size, rho in plan]
            started = time.perf_counter()
            summaries = _runs(dataset, configs, args.data_root)
            for (size, rho), config, summary in zip(plan, configs, summaries):
                key = f"{dataset}/{attribute}/{'N' if size == 'copy' else 'small'}/{rho:g}"
                results[key] = _record(summary, Path(config["out-dir"]), attribute)
                print(f"{key:38s} acc {results[key]['accuracy']:6.2f}  SPD {results[key]['spd']:+.4f}  "
                      f"min dist {min(results[key]['min_distance'].values()):.3f}", flush=True)
            print(f"{dataset}/{attribute}: {time.perf_counter() - started:.0f} s", flush=True)
    return results


def grid(args: argparse.Namespace) -> dict:
    """Fig. 2: accuracy, covariance and SPD over (rho_o, rho_s) on Law / race, N_s = N, lambda_theta = 1e-4."""
    values = (0.0, 10.0, 100.0, 1000.0)
    plan = [(ro, rs) for rs in values for ro in values]
    results = {}
    with tempfile.TemporaryDirectory() as work:
        configs = [{"strategy": "single-shot", "sensitive": "race", "ss-size": "copy", "ss-rho-o": ro, "ss-rho-s": rs,
                    "ss-lambda-theta": 1e-4, "ss-kmax": args.kmax, "out-dir": f"{work}/{ro}-{rs}"} for ro, rs in plan]
        for (ro, rs), config, summary in zip(plan, configs, _runs("law", configs, args.data_root)):
            key = f"rho_o={ro:g}/rho_s={rs:g}"
            results[key] = _record(summary, Path(config["out-dir"]), "race")
            print(f"{key:24s} acc {results[key]['accuracy']:6.2f}  SPD {results[key]['spd']:+.4f}  cov "
                  f"{np.mean(list(results[key]['covariance_real'].values())):+.4f}", flush=True)
    return results


def versus(args: argparse.Namespace) -> dict:
    """FedAvg and FairFed (logistic regression, R rounds) against single-shot (rho_o = 10) on Law / race."""
    base = {"sensitive": "race", "model": "logreg"}
    runs = {"fedavg": {"strategy": "fedavg", "rounds": args.rounds},
            "fairfed": {"strategy": "fairfed", "rounds": args.rounds, "fairness": "sp"},
            "single-shot (N_s = N)": {"strategy": "single-shot", "ss-size": "copy"},
            "single-shot (N_s = 800)": {"strategy": "single-shot", "ss-size": "800"}}
    results = {}
    with tempfile.TemporaryDirectory() as work:
        configs = [{**base, **run, "out-dir": f"{work}/{k}"} for k, (name, run) in enumerate(runs.items())]
        for name, config, summary in zip(runs, configs, _runs("law", configs, args.data_root)):
            results[name] = _record(summary, Path(config["out-dir"]), "race")
            results[name]["mean_sp"] = summary["mean"]["fairness"]["race"]["sp"]
            r = results[name]
            print(f"{name:24s} acc {r['accuracy']:6.2f}  SPD {r['spd']:+.4f}  rounds {r['rounds']}  "
                  f"up {r['up_mb']:.3f} MB  down {r['down_mb']:.3f} MB  messages {r['messages']}", flush=True)
    return results


def speed(args: argparse.Namespace) -> dict:
    """One Law client's synthesis (8,319 rows, k_max 1000), N_s = N and N_s = 800."""
    from fedfair.data import load_client
    from fedfair.registry import resolve_dataset
    from fedfair.singleshot import SynthesisConfig, initial_synthetic, synthesize

    client = load_client(str(resolve_dataset("law", 0, data_root=args.data_root)), "0")
    s = (client.train.sensitive["race"] == 1).astype(float)
    y = np.where(client.train.y > 0, 1.0, -1.0)
    a = np.column_stack([client.train.x.astype(float), np.ones(len(y))])
    out = {}
    for size in ("copy", 800):
        a_hat, s_hat, y_hat, free = initial_synthetic(a, s, y, size, np.random.default_rng(0))
        result = synthesize(a, s, y, a_hat, s_hat, y_hat, free, SynthesisConfig(kmax=args.kmax))
        out[str(size)] = {"rows": len(y), "synthetic": len(s_hat), "seconds": result.seconds,
                          "inner_failures": result.inner_failures}
        print(f"synthesis of {len(s_hat)} rows from {len(y)} ({a.shape[1]} columns with the intercept), k_max "
              f"{args.kmax}: {result.seconds:.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("table2", "grid", "versus", "speed"))
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--kmax", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result = {"table2": table2, "grid": grid, "versus": versus, "speed": speed}[args.what](args)
    (OUT / f"single_shot_{args.what}_results.json").write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
