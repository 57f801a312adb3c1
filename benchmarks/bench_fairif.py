"""Seed 004 (FairIF) on CI-MNIST, centralised and federated, and the mitigations' speed.

    python benchmarks/bench_fairif.py table1 --seeds 3        # Table 1: ERM vs FairIF, pooled CI-MNIST, 3 biases
    python benchmarks/bench_fairif.py federated --rounds 20   # FedAvg vs FedAvg + FairIF per client, 3 biases
    python benchmarks/bench_fairif.py speed                   # FairIF stage 1 time; PUFFLE's cost per epoch

``--data-root`` (default ../shared/data) must hold mnist/mnist_5k.csv.gz (or the MNIST IDX files) and, for
speed, adult/. Each writes benchmarks/fairif_<what>_results.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fedfair.registry import resolve_dataset  # noqa: E402

OUT = REPO / "benchmarks"
BIASES = ("size", "shift", "class")
# seed 004 Table 1: (Acc, AD, AOD, EOD) of ERM ("Original") and FairIF
PAPER = {
    "size": {"ERM": (97.78, 1.13, 0.0127, 0.0114), "FairIF": (98.20, 0.29, 0.0001, 0.0001)},
    "shift": {"ERM": (98.53, 0.13, 0.0223, 0.0335), "FairIF": (98.69, 0.05, 0.0131, 0.0259)},
    "class": {"ERM": (97.81, 0.28, 0.0068, 0.0054), "FairIF": (97.92, 0.06, 0.0024, 0.0032)},
}
METRICS = ("accuracy", "ad", "aod", "eod")


def table1(args: argparse.Namespace) -> dict:
    """Appendix B's setting on the pooled CI-MNIST clients: MLP (64), Adam lr 0.0002, lambda 0.1, <= 250 epochs."""
    from fedfair.centralised import pooled_client, run_centralised

    result: dict = {"seeds": args.seeds, "epochs": args.epochs, "biases": {}}
    for bias in BIASES:
        runs = []
        for seed in range(args.seeds):
            root = resolve_dataset(f"ci-mnist-{bias}", seed, data_root=args.data_root)
            runs.append(run_centralised(pooled_client(str(root)), "color", epochs=args.epochs, seed=seed))
        rows = {model: {m: [r.rows[model][m] for r in runs] for m in (*METRICS, "epochs")} for model in ("ERM", "FairIF")}
        result["biases"][bias] = {"rows": rows, "weights": [r.weights for r in runs]}
    print("| bias | model | Acc (%) | AD (%) | AOD | EOD | paper Acc / AD / AOD / EOD |")
    print("|---|---|---|---|---|---|---|")
    for bias, entry in result["biases"].items():
        for model, row in entry["rows"].items():
            cells = [f"{np.mean(row['accuracy']) * 100:.2f} ± {np.std(row['accuracy']) * 100:.2f}"]
            cells += [f"{np.mean(row[m]):.{2 if m == 'ad' else 4}f} ± {np.std(row[m]):.{2 if m == 'ad' else 4}f}"
                      for m in ("ad", "aod", "eod")]
            paper = " / ".join(str(v) for v in PAPER[bias][model])
            print(f"| {bias} | {model} | " + " | ".join(cells) + f" | {paper} |")
    return result


def federated(args: argparse.Namespace) -> dict:
    """FedAvg vs FedAvg + FairIF (warm-up = half the rounds) on each CI-MNIST federation (10 clients, MLP 64):
    per client accuracy and the colour gaps (AD, AOD, EqOp = EOD) on its test split."""
    from fedfair.api import run_configs

    configs, keys = [], []
    for bias in BIASES:
        root = resolve_dataset(f"ci-mnist-{bias}", 0, data_root=args.data_root)
        for mitigation in ("none", "fairif"):
            for seed in range(args.seeds):
                configs.append({"strategy": "fedavg", "dataset": str(root), "rounds": args.rounds, "seed": seed,
                                "lr": args.lr, "local-epochs": 2, "mitigation": mitigation,
                                "out-dir": f"/tmp/fedfair-bench/fairif-fed-{bias}-{mitigation}-{seed}"})
                keys.append((bias, mitigation, seed))
    summaries = run_configs(configs, echo=False, keep_going=False)
    result: dict = {"rounds": args.rounds, "seeds": args.seeds, "runs": {}}
    print("| bias | method | mean acc | worst-client acc | mean AD | mean AOD | mean EOD | clients with lower EOD |")
    print("|---|---|---|---|---|---|---|---|")
    for bias in BIASES:
        per = {}
        for mitigation in ("none", "fairif"):
            mine = [s for (b, m, _), s in zip(keys, summaries) if b == bias and m == mitigation]
            clients = [[c for c in s["clients"]] for s in mine]
            per[mitigation] = {
                "accuracy": [[c["accuracy"] for c in cs] for cs in clients],
                **{m: [[c["fairness"]["color"][m] for c in cs] for cs in clients] for m in ("ad", "aod", "eqop")},
                "fallbacks": [s.get("mitigation", {}).get("fallbacks", {}) for s in mine],
            }
        result["runs"][bias] = per
        lower = np.mean(np.array(per["fairif"]["eqop"]) < np.array(per["none"]["eqop"]))
        for mitigation, row in per.items():
            acc = np.array(row["accuracy"])
            print(f"| {bias} | {'FedAvg + FairIF' if mitigation == 'fairif' else 'FedAvg'} | {acc.mean():.4f} | "
                  f"{acc.min(axis=1).mean():.4f} | {100 * np.nanmean(row['ad']):.2f} | {np.nanmean(row['aod']):.4f} | "
                  f"{np.nanmean(row['eqop']):.4f} | {f'{lower:.0%}' if mitigation == 'fairif' else ''} |")
    return result


def speed(args: argparse.Namespace) -> dict:
    """FairIF's stage 1 on pooled CI-MNIST training rows with the MLP (64); PUFFLE's training time per epoch
    relative to plain training on pooled Adult (MLP 32) and pooled CI-MNIST (MLP 64), best of 3."""
    import torch

    from fedfair.centralised import pooled_client
    from fedfair.influence import fairif_weights
    from fedfair.local.puffle import PuffleRegulariser
    from fedfair.models import build_model
    from fedfair.training import TrainConfig, train_local

    root = resolve_dataset("ci-mnist-size", 0, data_root=args.data_root)
    data = pooled_client(str(root))
    model = build_model({"model": "mlp", "hidden": [64]}, data.n_features, seed=0)
    train_local(model, data.train, TrainConfig(lr=1e-3, epochs=30, batch_size=64, optimizer="adam"), seed=0)
    started = time.perf_counter()
    stage1 = fairif_weights(model, data.train.x, data.train.y, data.val.x, data.val.y, data.val.sensitive["color"])
    stage1_seconds = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters())
    print(f"FairIF stage 1: {len(data.train)} training rows, {params} parameters, {stage1.method} iHVP "
          f"(damping {stage1.damping:g}): {stage1_seconds:.2f} s")

    adult = pooled_client(str(resolve_dataset("adult", 0, data_root=args.data_root)))
    settings = [("Adult, MLP 32", adult, "sex", [32], (32, 128, 512)),
                ("CI-MNIST, MLP 64", data, "color", [64], (32, 128))]
    ratios = {}
    for label, client, attribute, hidden, batch_sizes in settings:
        values = sorted(np.unique(client.train.sensitive[attribute]).tolist())
        codes = np.searchsorted(values, client.train.sensitive[attribute])
        for batch_size in batch_sizes:
            times = {}
            for name in ("plain", "puffle"):
                best = np.inf
                for _ in range(3):
                    net = build_model({"model": "mlp", "hidden": hidden}, client.n_features, seed=0)
                    penalties = ([PuffleRegulariser(codes, len(values), 0.2, True, 0.05, 1.0, 0.0, None)]
                                 if name == "puffle" else [])
                    started = time.perf_counter()
                    train_local(net, client.train, TrainConfig(lr=0.05, epochs=3, batch_size=batch_size), seed=0,
                                penalties=penalties)
                    best = min(best, (time.perf_counter() - started) / 3)
                times[name] = best
            ratios[f"{label}, batch {batch_size}"] = {**times, "ratio": times["puffle"] / times["plain"]}
            print(f"per epoch, {label} ({len(client.train)} rows), batch {batch_size}: plain {times['plain']:.3f} s, "
                  f"PUFFLE {times['puffle']:.3f} s, ratio {times['puffle'] / times['plain']:.2f}")
    return {"fairif_stage1_seconds": stage1_seconds, "rows": len(data.train), "parameters": params,
            "method": stage1.method, "damping": stage1.damping, "puffle_epoch": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("table1", "federated", "speed"))
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05, help="federated: local SGD learning rate")
    args = parser.parse_args()
    result = {"table1": table1, "federated": federated, "speed": speed}[args.what](args)
    path = OUT / f"fairif_{args.what}_results.json"
    path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
