"""Round overhead (production-readiness issue, part 4): a 47-state FedAvg round through Flower against the same
work in a plain PyTorch loop in one process.

    python benchmarks/bench_overhead.py [--rounds 5]

Data: FeDa4Fair's attribute-silo release (47 states here), capped at 1,000 training and 2,000 test rows per
state; MLP 32, 1 local epoch, batch 32, lr 0.05, 1 round = every state trains from the global model, FedAvg,
every state evaluates the new global model on its test split (accuracy and group counts, as the app does).
Both run in this process on the same machine; the app's time per round is its wall time after the first
round (Ray start-up and the first round's data loading excluded) divided by the remaining rounds, with the
evaluation folded into the next train messages (the default) and with separate evaluate messages. Prints
where the time goes, the ratio (last line) and writes benchmarks/overhead_results.json.
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
sys.path.insert(0, str(REPO / "benchmarks"))

OUT = REPO / "benchmarks"


def build_capped(data: Path, work: Path) -> Path:
    from fedfair.partitioners.builder import BuildSpec, build_dataset

    root = work / "silo-capped"
    build_dataset(BuildSpec(source="csv-dir", source_options={"path": str(data / "cross_silo_attribute_final")},
                            label="PINCP", sensitive=["SEX", "RAC1P"], splits=(0.3, 0.0, 0.7), max_train=1000,
                            max_test=2000, seed=0), root)
    return root


def plain_loop(root: Path, rounds: int) -> dict[str, float]:
    """Seconds per round of the same FedAvg round in one process (data loaded once, before timing): training
    (with the averaging) and evaluation."""
    import torch

    from fedfair.data import load_client, read_manifest
    from fedfair.models import build_model
    from fedfair.training import TrainConfig, evaluate, train_local

    torch.set_num_threads(1)
    manifest = read_manifest(str(root))
    clients = [load_client(root, name) for name in manifest.client_names]
    model = build_model({"model": "mlp", "hidden": [32]}, clients[0].n_features, seed=0)
    config = TrainConfig(lr=0.05, epochs=1, batch_size=32)
    spent = {"train": 0.0, "evaluate": 0.0}
    for server_round in range(rounds):
        started = time.perf_counter()
        global_state = {k: v.clone() for k, v in model.state_dict().items()}
        states, sizes = [], []
        for k, client in enumerate(clients):
            local = build_model({"model": "mlp", "hidden": [32]}, client.n_features)
            local.load_state_dict(global_state)
            train_local(local, client.train, config, seed=server_round * 10_007 + k)
            states.append(local.state_dict())
            sizes.append(len(client.train))
        weights = np.asarray(sizes, dtype=np.float64) / sum(sizes)
        model.load_state_dict({k: sum(w * s[k] for w, s in zip(weights, states)) for k in global_state})
        spent["train"] += time.perf_counter() - started
        started = time.perf_counter()
        for client in clients:
            evaluate(model, client.test, client.sensitive_values)
        spent["evaluate"] += time.perf_counter() - started
    per_round = {k: v / rounds for k, v in spent.items()}
    return {**per_round, "round": sum(per_round.values())}


def app_round(root: Path, rounds: int, work: Path, fold: bool) -> tuple[dict[str, float], dict]:
    """Seconds per round of `fedfair run` (FedAvg) after its first round (Ray start-up and the first round's
    data loading excluded): from the end of round 1 to the end of the run (rounds 2..R trained, rounds 1..R
    evaluated), divided by R - 1; and where that time went (message exchanges by kind, the server's recording
    and checkpointing; the rest is the server's own work: building messages, aggregating)."""
    from fedfair import results
    from fedfair.api import run_configs
    from fedfair.strategies.base import FedFairStrategy

    ends: list[float] = []
    spent: dict[str, float] = {"train exchange": 0.0, "evaluate exchange": 0.0, "recording": 0.0, "checkpoint": 0.0}
    originals = (FedFairStrategy.send, FedFairStrategy.checkpoint, results.RunRecorder.record_round)

    def timed(key, function):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if ends:  # after round 1
                    spent[key(args) if callable(key) else key] += time.perf_counter() - started
        return wrapper

    def checkpoint(self, server_round, evals):  # noqa: ANN001, ANN202
        timed("checkpoint", originals[1])(self, server_round, evals)
        ends.append(time.perf_counter())

    FedFairStrategy.send = timed(lambda args: f"{args[3].split()[0]} exchange", originals[0])
    FedFairStrategy.checkpoint = checkpoint
    results.RunRecorder.record_round = timed("recording", originals[2])
    try:
        summary = run_configs([{"strategy": "fedavg", "dataset": str(root), "rounds": rounds, "model": "mlp",
                               "hidden": "32", "lr": 0.05, "batch-size": 32, "local-epochs": 1, "sensitive": "SEX",
                               "fold-evaluation": fold, "out-dir": str(work / f"app-{fold}")}],
                              echo=False, keep_going=False)[0]
    finally:
        FedFairStrategy.send, FedFairStrategy.checkpoint, results.RunRecorder.record_round = originals
    per_round = (ends[-1] - ends[0]) / (len(ends) - 1)
    parts = {k: v / (len(ends) - 1) for k, v in spent.items()}
    return {"round": per_round, **parts, "server other": per_round - sum(parts.values())}, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "feda4fair"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = build_capped(Path(args.data), Path(work))
        plain = plain_loop(root, args.rounds)
        folded, summary = app_round(root, args.rounds, Path(work), fold=True)
        separate, _ = app_round(root, args.rounds, Path(work), fold=False)
    print(f"{len(summary['clients'])} clients, seconds per round (after round 1)")
    print(f"plain loop: {plain['round']:.3f} (training {plain['train']:.3f}, evaluation {plain['evaluate']:.3f})")
    for label, app in (("fedfair, evaluation folded into the next train message (default)", folded),
                       ("fedfair, separate evaluate messages (fold-evaluation=false)", separate)):
        parts = ", ".join(f"{k} {v:.3f}" for k, v in app.items() if k != "round")
        print(f"{label}: {app['round']:.3f} ({parts}); ratio {app['round'] / plain['round']:.2f}")
    print(f"ratio {folded['round'] / plain['round']:.2f}")
    (OUT / "overhead_results.json").write_text(json.dumps(
        {"rounds": args.rounds, "clients": len(summary["clients"]), "plain": plain, "app_folded": folded,
         "app_separate": separate, "ratio": folded["round"] / plain["round"],
         "ratio_separate": separate["round"] / plain["round"]}, indent=1))


if __name__ == "__main__":
    main()
