"""Round overhead (production-readiness issue, part 4): a 47-state FedAvg round through Flower against the same
work in a plain PyTorch loop in one process.

    python benchmarks/bench_overhead.py [--rounds 5]

Data: FeDa4Fair's attribute-silo release (47 states here), capped at 1,000 training and 2,000 test rows per
state; MLP 32, 1 local epoch, batch 32, lr 0.05, 1 round = every state trains from the global model, FedAvg,
every state evaluates the new global model on its test split (accuracy and group counts, as the app does).
Both run in this process on the same machine; the app's time per round is its wall time after the first
round (Ray start-up and the first round's data loading excluded) divided by the remaining rounds. Prints the
ratio and writes benchmarks/overhead_results.json.
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
    from partitioners.builder import BuildSpec, build_dataset

    root = work / "silo-capped"
    build_dataset(BuildSpec(source="csv-dir", source_options={"path": str(data / "cross_silo_attribute_final")},
                            label="PINCP", sensitive=["SEX", "RAC1P"], splits=(0.3, 0.0, 0.7), max_train=1000,
                            max_test=2000, seed=0), root)
    return root


def plain_loop(root: Path, rounds: int) -> float:
    """Seconds per round of the same FedAvg round in one process (data loaded once, before timing)."""
    import torch

    from fedfair.data import load_client, read_manifest
    from fedfair.models import build_model
    from fedfair.training import TrainConfig, evaluate, train_local

    torch.set_num_threads(1)
    manifest = read_manifest(str(root))
    clients = [load_client(root, name) for name in manifest.client_names]
    model = build_model({"model": "mlp", "hidden": [32]}, clients[0].n_features, seed=0)
    config = TrainConfig(lr=0.05, epochs=1, batch_size=32)
    started = time.perf_counter()
    for server_round in range(rounds):
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
        for client in clients:
            evaluate(model, client.test, client.sensitive_values)
    return (time.perf_counter() - started) / rounds


def app_round(root: Path, rounds: int, work: Path) -> tuple[float, dict]:
    """Seconds per round of `fedfair run` (FedAvg) after its first round, from the rounds' timestamps."""
    from fedfair.data import read_manifest
    from fedfair.simulation import simulate

    out = work / "app"
    stamps: list[float] = []
    from fedfair import results

    original = results.RunRecorder.record_round

    def stamped(self, server_round, evals, stage="evaluate"):  # noqa: ANN001
        stamps.append(time.perf_counter())
        return original(self, server_round, evals, stage)

    results.RunRecorder.record_round = stamped
    try:
        summary = simulate({"strategy": "fedavg", "dataset": str(root), "rounds": rounds, "model": "mlp",
                            "hidden": "32", "lr": 0.05, "batch-size": 32, "local-epochs": 1, "sensitive": "SEX",
                            "out-dir": str(out)}, num_supernodes=len(read_manifest(str(root)).clients), echo=False)
    finally:
        results.RunRecorder.record_round = original
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "feda4fair"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = build_capped(Path(args.data), Path(work))
        plain = plain_loop(root, args.rounds)
        app, summary = app_round(root, args.rounds, Path(work))
    ratio = app / plain
    print(f"plain loop: {plain:.3f} s per round; fedfair (Flower simulation): {app:.3f} s per round; "
          f"ratio {ratio:.2f} ({len(summary['clients'])} clients)")
    (OUT / "overhead_results.json").write_text(json.dumps(
        {"rounds": args.rounds, "plain_seconds_per_round": plain, "app_seconds_per_round": app, "ratio": ratio,
         "clients": len(summary["clients"])}, indent=1))


if __name__ == "__main__":
    main()
