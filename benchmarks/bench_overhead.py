"""Round overhead (production-readiness issue, part 4): a 47-state FedAvg round through Flower against the same
work in a plain PyTorch loop in one process.

    python benchmarks/bench_overhead.py [--rounds 5]
    python benchmarks/bench_overhead.py --smoke DIR   # seconds: the pipeline on a synthetic stand-in, files in DIR

Data: FeDa4Fair's attribute-silo release (47 states here), capped at 1,000 training and 2,000 test rows per
state; MLP 32, 1 local epoch, batch 32, lr 0.05, 1 round = every state trains from the global model, FedAvg,
every state evaluates the new global model on its test split (accuracy and group counts, as the app does).
Both run in this process on the same machine; the app's time per round is its wall time after the first
round (Ray start-up and the first round's data loading excluded) divided by the remaining rounds, with the
evaluation folded into the next train messages (the default) and with separate evaluate messages. Prints
where the time goes, the ratio (last line), rendered by ``render_report`` from the JSON it writes to
benchmarks/overhead_results.json.

``--smoke DIR`` checks the pipeline in seconds: the same build (``build_capped``), plain loop and two app runs,
2 rounds, on an offline stand-in of the release written into DIR (4 states of the synthetic-acs generator, about
80 rows each, in the release's CSV layout); the run directories, DIR/overhead_results.json (``"smoke": true``) and
DIR/bench_overhead.md (the report) all go in DIR.
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
# --smoke's sizes (overridable by the options): the fewest rounds that leave a round after the first
SMOKE = {"rounds": 2}
STANDIN_STATES = ("AK", "AL", "AR", "AZ")


def build_capped(data: Path, work: Path) -> Path:
    from fedfair.partitioners.builder import BuildSpec, build_dataset

    root = work / "silo-capped"
    build_dataset(BuildSpec(source="csv-dir", source_options={"path": str(data / "cross_silo_attribute_final")},
                            label="PINCP", sensitive=["SEX", "RAC1P"], splits=(0.3, 0.0, 0.7), max_train=1000,
                            max_test=2000, seed=0), root)
    return root


def write_standin_release(data: Path, states: tuple[str, ...] = STANDIN_STATES, rows_per_state: int = 80) -> Path:
    """An offline stand-in for FeDa4Fair's attribute-silo release in ``data`` (what --smoke builds from: the
    release is not on CI machines): ``cross_silo_attribute_final/<state>_0.csv.gz`` with the release's columns
    (ACSIncome features, SEX, RAC1P binarised to 1 White / 2 other, label PINCP), drawn by the synthetic-acs
    generator (SYNTHETIC). Returns ``data``."""
    from fedfair.partitioners.sources import synthetic_acs

    folder = data / "cross_silo_attribute_final"
    folder.mkdir(parents=True, exist_ok=True)
    for state, frame in synthetic_acs(list(states), seed=0, rows_per_state=rows_per_state).clients.items():
        frame = frame.assign(RAC1P=frame["RAC1P"].where(frame["RAC1P"] == 1, 2.0))  # the release's binarised race
        frame.to_csv(folder / f"{state}_0.csv.gz", index=False)
    return data


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


def render_report(result: dict) -> str:
    """The printed report (the ratio on its last line), from overhead_results.json's contents alone."""
    plain = result["plain"]
    lines = [f"{result['clients']} clients, seconds per round (after round 1)",
             f"plain loop: {plain['round']:.3f} (training {plain['train']:.3f}, evaluation {plain['evaluate']:.3f})"]
    for label, app in (("fedfair, evaluation folded into the next train message (default)", result["app_folded"]),
                       ("fedfair, separate evaluate messages (fold-evaluation=false)", result["app_separate"])):
        parts = ", ".join(f"{k} {v:.3f}" for k, v in app.items() if k != "round")
        lines.append(f"{label}: {app['round']:.3f} ({parts}); ratio {app['round'] / plain['round']:.2f}")
    lines.append(f"ratio {result['ratio']:.2f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "feda4fair"))
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: 2 rounds on an offline stand-in of the "
                             "release (4 synthetic-acs states of ~80 rows, written into DIR; --data is ignored); "
                             "the runs, overhead_results.json and bench_overhead.md go in DIR")
    args = parser.parse_args(argv)
    out = OUT / "overhead_results.json"
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        out = args.smoke / "overhead_results.json"
    with tempfile.TemporaryDirectory(dir=args.smoke) as work:  # the data and runs (in DIR when smoke)
        data = write_standin_release(Path(work) / "standin") if args.smoke else Path(args.data)
        root = build_capped(data, Path(work))
        plain = plain_loop(root, args.rounds)
        folded, summary = app_round(root, args.rounds, Path(work), fold=True)
        separate, _ = app_round(root, args.rounds, Path(work), fold=False)
    out.write_text(json.dumps(
        {"rounds": args.rounds, "clients": len(summary["clients"]), "plain": plain, "app_folded": folded,
         "app_separate": separate, "ratio": folded["round"] / plain["round"],
         "ratio_separate": separate["round"] / plain["round"], **({"smoke": True} if args.smoke else {})}, indent=1))
    report = render_report(json.loads(out.read_text()))  # from the JSON as written
    print(report, end="")
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(report)


if __name__ == "__main__":
    main()
