"""Seed 004 (FairIF) on CI-MNIST, centralised and federated, and the mitigations' speed.

    python benchmarks/bench_fairif.py table1 --seeds 3        # Table 1: ERM vs FairIF, pooled CI-MNIST, 3 biases
    python benchmarks/bench_fairif.py federated --rounds 20   # FedAvg vs FedAvg + FairIF per client, 3 biases
    python benchmarks/bench_fairif.py speed                   # FairIF stage 1 time; PUFFLE's cost per epoch
    python benchmarks/bench_fairif.py --smoke DIR [what]      # seconds, offline stand-ins, everything in DIR

``--data-root`` (default ../shared/data) must hold mnist/mnist_5k.csv.gz (or the MNIST IDX files) and, for
speed, adult/. Each writes benchmarks/fairif_<what>_results.json and prints the markdown rendered from it
(``render_markdown``).
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

from bench_seed000 import smoke_cache, standin_adult  # noqa: E402 (--smoke: DIR/cache, SYNTHETIC Adult files)
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
EXPERIMENTS = ("table1", "federated", "speed")
# --smoke: 1 seed, 2 epochs / rounds, no per-run figures (the report draws none); CI-MNIST's stand-in: 4 states of
# SYNTHETIC ACSIncome-schema rows, SEX as the group attribute, CI-MNIST's 60 / 20 / 20 splits, only the label's
# three drivers as features (FairIF's stage 1 builds the MLP's dense Hessian row by row: 321 parameters)
SMOKE = {"seeds": 1, "epochs": 2, "rounds": 2, "attribute": "SEX", "run_options": {"plots": False}}
SMOKE_STATES, SMOKE_ROWS = ["AL", "AR", "GA", "MD"], 150
SMOKE_DROPPED = ["COW", "MAR", "OCCP", "POBP", "RELP", "RAC1P"]


def ci_mnist(args: argparse.Namespace, bias: str, seed: int) -> Path:
    """The CI-MNIST federation of ``bias``; with --smoke an offline tabular stand-in (one seeded federation per bias
    and seed): CI-MNIST's 2,352 pixel features make FairIF's stage 1 an iterative iHVP over 150k parameters, tens
    of seconds even on a few hundred images, where the stand-in's MLP is solved exactly."""
    if not args.smoke:
        return resolve_dataset(f"ci-mnist-{bias}", seed, data_root=args.data_root)
    from fedfair.api import build_dataset

    out = args.smoke / "data" / f"ci-mnist-{bias}-standin-seed{seed}"
    if (out / "manifest.json").is_file():
        return out
    spec = {"source": "synthetic-acs", "source_options": {"states": SMOKE_STATES, "rows_per_state": SMOKE_ROWS},
            "name": out.name, "label": "PINCP", "sensitive": ["SEX"], "drop_columns": SMOKE_DROPPED,
            "splits": [0.6, 0.2, 0.2], "seed": 100 * BIASES.index(bias) + seed}
    return build_dataset(spec, out)


def table1(args: argparse.Namespace) -> dict:
    """Appendix B's setting on the pooled CI-MNIST clients: MLP (64), Adam lr 0.0002, lambda 0.1, <= 250 epochs."""
    from fedfair.centralised import pooled_client, run_centralised

    result: dict = {"seeds": args.seeds, "epochs": args.epochs, "biases": {}}
    for bias in BIASES:
        runs = []
        for seed in range(args.seeds):
            root = ci_mnist(args, bias, seed)
            runs.append(run_centralised(pooled_client(str(root)), args.attribute, epochs=args.epochs, seed=seed))
        rows = {model: {m: [r.rows[model][m] for r in runs] for m in (*METRICS, "epochs")} for model in ("ERM", "FairIF")}
        result["biases"][bias] = {"rows": rows, "weights": [r.weights for r in runs]}
    return result


def table1_markdown(result: dict) -> list[str]:
    lines = ["| bias | model | Acc (%) | AD (%) | AOD | EOD | paper Acc / AD / AOD / EOD |",
             "|---|---|---|---|---|---|---|"]
    for bias, entry in result["biases"].items():
        for model, row in entry["rows"].items():
            cells = [f"{np.mean(row['accuracy']) * 100:.2f} ± {np.std(row['accuracy']) * 100:.2f}"]
            cells += [f"{np.mean(row[m]):.{2 if m == 'ad' else 4}f} ± {np.std(row[m]):.{2 if m == 'ad' else 4}f}"
                      for m in ("ad", "aod", "eod")]
            paper = " / ".join(str(v) for v in PAPER[bias][model])
            lines.append(f"| {bias} | {model} | " + " | ".join(cells) + f" | {paper} |")
    return lines


def federated(args: argparse.Namespace) -> dict:
    """FedAvg vs FedAvg + FairIF (warm-up = half the rounds) on each CI-MNIST federation (10 clients, MLP 64):
    per client accuracy and the colour gaps (AD, AOD, EqOp = EOD) on its test split."""
    from fedfair.api import run_configs

    configs, keys = [], []
    for bias in BIASES:
        root = ci_mnist(args, bias, 0)
        for mitigation in ("none", "fairif"):
            for seed in range(args.seeds):
                configs.append({"strategy": "fedavg", "dataset": str(root), "rounds": args.rounds, "seed": seed,
                                "lr": args.lr, "local-epochs": 2, "mitigation": mitigation, **args.run_options,
                                "out-dir": str(args.runs / f"fairif-fed-{bias}-{mitigation}-{seed}")})
                keys.append((bias, mitigation, seed))
    summaries = run_configs(configs, echo=False, keep_going=False)
    result: dict = {"rounds": args.rounds, "seeds": args.seeds, "runs": {}}
    for bias in BIASES:
        per = {}
        for mitigation in ("none", "fairif"):
            mine = [s for (b, m, _), s in zip(keys, summaries) if b == bias and m == mitigation]
            clients = [[c for c in s["clients"]] for s in mine]
            per[mitigation] = {
                "accuracy": [[c["accuracy"] for c in cs] for cs in clients],
                **{m: [[c["fairness"][args.attribute][m] for c in cs] for cs in clients]
                   for m in ("ad", "aod", "eqop")},
                "fallbacks": [s.get("mitigation", {}).get("fallbacks", {}) for s in mine],
            }
        result["runs"][bias] = per
    return result


def federated_markdown(result: dict) -> list[str]:
    lines = ["| bias | method | mean acc | worst-client acc | mean AD | mean AOD | mean EOD | clients with lower EOD |",
             "|---|---|---|---|---|---|---|---|"]
    for bias, per in result["runs"].items():
        # NaN gaps (a client's test split missing a group) are null in the JSON
        eqop = {m: np.array(per[m]["eqop"], dtype=float) for m in ("none", "fairif")}
        lower = np.mean(eqop["fairif"] < eqop["none"])
        for mitigation, row in per.items():
            acc = np.array(row["accuracy"])
            gaps = {m: np.array(row[m], dtype=float) for m in ("ad", "aod", "eqop")}
            lines.append(f"| {bias} | {'FedAvg + FairIF' if mitigation == 'fairif' else 'FedAvg'} | {acc.mean():.4f} | "
                         f"{acc.min(axis=1).mean():.4f} | {100 * np.nanmean(gaps['ad']):.2f} | "
                         f"{np.nanmean(gaps['aod']):.4f} | {np.nanmean(gaps['eqop']):.4f} | "
                         f"{f'{lower:.0%}' if mitigation == 'fairif' else ''} |")
    return lines


def speed(args: argparse.Namespace) -> dict:
    """FairIF's stage 1 on pooled CI-MNIST training rows with the MLP (64); PUFFLE's training time per epoch
    relative to plain training on pooled Adult (MLP 32) and pooled CI-MNIST (MLP 64), best of 3."""
    import torch

    from fedfair.centralised import pooled_client
    from fedfair.influence import fairif_weights
    from fedfair.local.puffle import PuffleRegulariser
    from fedfair.models import build_model
    from fedfair.training import TrainConfig, train_local

    root = ci_mnist(args, "size", 0)
    data = pooled_client(str(root))
    model = build_model({"model": "mlp", "hidden": [64]}, data.n_features, seed=0)
    train_local(model, data.train, TrainConfig(lr=1e-3, epochs=30, batch_size=64, optimizer="adam"), seed=0)
    started = time.perf_counter()
    stage1 = fairif_weights(model, data.train.x, data.train.y, data.val.x, data.val.y,
                            data.val.sensitive[args.attribute])
    stage1_seconds = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters())

    adult = pooled_client(str(resolve_dataset("adult", 0, data_root=args.data_root)))
    settings = [("Adult, MLP 32", adult, "sex", [32], (32, 128, 512)),
                ("CI-MNIST, MLP 64", data, args.attribute, [64], (32, 128))]
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
            ratios[f"{label}, batch {batch_size}"] = {**times, "ratio": times["puffle"] / times["plain"],
                                                      "rows": len(client.train)}
    return {"fairif_stage1_seconds": stage1_seconds, "rows": len(data.train), "parameters": params,
            "method": stage1.method, "damping": stage1.damping, "puffle_epoch": ratios}


def speed_markdown(result: dict) -> list[str]:
    lines = [f"FairIF stage 1: {result['rows']} training rows, {result['parameters']} parameters, {result['method']} "
             f"iHVP (damping {result['damping']:g}): {result['fairif_stage1_seconds']:.2f} s", ""]
    for setting, times in result["puffle_epoch"].items():
        label, batch = setting.rsplit(", ", 1)
        rows = f" ({times['rows']} rows)" if "rows" in times else ""  # results written before rows were kept
        lines.append(f"- per epoch, {label}{rows}, {batch}: plain {times['plain']:.3f} s, "
                     f"PUFFLE {times['puffle']:.3f} s, ratio {times['ratio']:.2f}")
    return lines


def render_markdown(result: dict) -> str:
    """The markdown of any experiment's JSON (told apart by its keys)."""
    if "biases" in result:
        return "\n".join(table1_markdown(result)) + "\n"
    if "runs" in result:
        return "\n".join(federated_markdown(result)) + "\n"
    return "\n".join(speed_markdown(result)) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=EXPERIMENTS,
                        help="required, except with --smoke (default there: table1 and federated)")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05, help="federated: local SGD learning rate")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="table1 and federated (or the one named; speed takes longer: its epochs are fixed) with "
                             "1 seed and 2 epochs / rounds on offline stand-ins: for CI-MNIST, 4 clients of ~150 "
                             "SYNTHETIC ACSIncome-schema rows with SEX as the group; for Adult (speed), SYNTHETIC "
                             "UCI-format files; data, dataset cache, runs, fairif_<what>_results.json and "
                             "bench_fairif.md all go under DIR")
    args = parser.parse_args(argv)
    args.smoke = args.smoke and args.smoke.resolve()  # paths in run configs and the dataset cache are absolute
    if args.what is None and not args.smoke:
        parser.error("the following arguments are required: what")
    args.attribute, args.run_options, args.runs = "color", {}, Path("/tmp/fedfair-bench")
    if not args.smoke:
        path = write_result(args, args.what, OUT)
        print(render_markdown(json.loads(path.read_text())))
        print(f"wrote {path}")
        return
    experiments = [args.what] if args.what else ["table1", "federated"]
    vars(args).update(SMOKE, runs=args.smoke / "runs")
    if "speed" in experiments:
        args.data_root = str(standin_adult(args.smoke / "data"))
    import torch

    # one thread, as fedfair.client_app sets for the whole process when the federated runs import it: on tiny
    # tensors a second thread only waits (FairIF's stage 1 took 10x longer); not restored, as after any simulation
    torch.set_num_threads(1)
    texts = []
    with smoke_cache(args.smoke):
        for what in experiments:
            path = write_result(args, what, args.smoke)
            texts.append(f"## {what}\n\n" + render_markdown(json.loads(path.read_text())))
    (args.smoke / f"{Path(__file__).stem}.md").write_text("\n".join(texts))
    print("\n".join(texts))


def write_result(args: argparse.Namespace, what: str, folder: Path) -> Path:
    """Run the experiment ``what``; write its JSON (``"smoke": true`` under --smoke) to
    folder/fairif_<what>_results.json."""
    result = {"table1": table1, "federated": federated, "speed": speed}[what](args)
    path = folder / f"fairif_{what}_results.json"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "smoke": True} if args.smoke else result, indent=1, default=float) + "\n")
    return path


if __name__ == "__main__":
    main()
