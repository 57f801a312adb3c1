"""Batched local training (issue 31, part 2): one round of K clients' local training, each client alone
(``train_with`` in a loop) against all of them at once (:func:`fedfair.batched.train_batched`).

    python benchmarks/bench_batched.py [--clients 50 200 1000] [--repeats 3] [--threads 1]
    python benchmarks/bench_batched.py --smoke DIR   # seconds: 4 and 8 clients, 1 repeat, files in DIR

Setting: K synthetic clients of 150-250 training rows (about 200), 20 features, binary label, MLP 32, plain
SGD, lr 0.05, batch 64, one local epoch, every client from the same global model with its own seed. A round
per client is what the ClientApp does: build the model, load the sent weights, ``train_with``, read the state
dict; the batched round is one ``train_batched`` call (its results are CPU state dicts). Times are the median
of ``--repeats`` rounds after one warm-up round, on the CPU (``--threads`` torch threads, default 1: small
per-client steps gain nothing from more, and a busy machine's timings stay stable), in this process. Writes
benchmarks/batched_results.json (with the largest weight difference between the two) and prints the markdown
table that ``render_markdown`` makes of it.

``--smoke DIR`` checks the pipeline in seconds: the same rounds, timing and report for 4 and 8 clients, 1 repeat;
DIR/batched_results.json (``"smoke": true``) and DIR/bench_batched.md go in DIR.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fedfair.batched import train_batched  # noqa: E402
from fedfair.data import ClientData, Split  # noqa: E402
from fedfair.local import train_with  # noqa: E402
from fedfair.models import build_model  # noqa: E402
from fedfair.training import TrainConfig  # noqa: E402

OUT = REPO / "benchmarks" / "batched_results.json"
SPEC = {"model": "mlp", "hidden": [32]}
LOOP = TrainConfig(lr=0.05, epochs=1, batch_size=64)
FEATURES = 20
# --smoke's sizes (overridable by the options)
SMOKE = {"clients": [4, 8], "repeats": 1}


def clients(k: int, seed: int = 0) -> list[ClientData]:
    rng = np.random.default_rng(seed)
    beta = rng.normal(size=FEATURES)
    out = []
    for i in range(k):
        n = int(rng.integers(150, 251))
        x = rng.normal(size=(n, FEATURES)).astype(np.float32)
        y = (x @ beta + rng.normal(size=n) > 0).astype(np.int64)
        split = Split(x=x, y=y, sensitive={"sex": rng.choice([1, 2], n)})
        out.append(ClientData(name=str(i), partition_id=i, train=split, test=split, val=None,
                              sensitive_values={"sex": [1, 2]}))
    return out


def per_client_round(start: dict, datas: list[ClientData], seeds: list[int]) -> list[dict]:
    states = []
    for data, seed in zip(datas, seeds):
        model = build_model(SPEC, FEATURES)
        model.load_state_dict(start)
        train_with(["sgd"], {}, model, data, LOOP, seed)
        states.append(model.state_dict())
    return states


def batched_round(start: dict, datas: list[ClientData], seeds: list[int]) -> list[dict]:
    results = train_batched(SPEC, [start] * len(datas), datas, LOOP, seeds, ["sgd"], {})
    return [r.state_dict for r in results]


def timed(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), out


def render_markdown(result: dict) -> str:
    """The table of batched_results.json's contents."""
    machine, setting = result["machine"], result["setting"]
    lines = [f"{machine['device']}, {machine['threads']} torch thread(s), torch {machine['torch']}; "
             f"{setting['statistic']} (of {setting['repeats']})", "",
             "| K | rows | per-client s/round | batched s/round | speed-up | max abs dw |", "|---|---|---|---|---|---|"]
    for row in result["results"]:
        lines.append(f"| {row['clients']} | {row['rows']} | {row['per_client_s']:.3f} | {row['batched_s']:.3f} | "
                     f"{row['speedup']:.1f}x | {row['max_abs_weight_diff']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: stable timings on a shared machine; 0: torch's default)")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: 4 and 8 clients, 1 repeat; "
                             "batched_results.json and bench_batched.md go in DIR")
    args = parser.parse_args(argv)
    out = OUT
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        out = args.smoke / OUT.name
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = build_model(SPEC, FEATURES, seed=0).state_dict()
    rows = []
    for k in args.clients:
        datas, seeds = clients(k), list(range(k))
        alone, reference = timed(lambda: per_client_round(start, datas, seeds), args.repeats)
        together, batched = timed(lambda: batched_round(start, datas, seeds), args.repeats)
        gap = max(float((a[key] - b[key]).abs().max()) for a, b in zip(reference, batched) for key in a)
        rows.append({"clients": k, "rows": int(sum(len(d.train) for d in datas)), "per_client_s": alone,
                     "batched_s": together, "speedup": alone / together, "max_abs_weight_diff": gap})
        print(f"K={k}: per-client {alone:.3f} s/round, batched {together:.3f} s/round", flush=True)  # progress
    out.write_text(json.dumps({
        "setting": {"model": SPEC, "features": FEATURES, "rows_per_client": "150-250", "lr": LOOP.lr,
                    "batch_size": LOOP.batch_size, "epochs": LOOP.epochs, "objectives": ["sgd"],
                    "repeats": args.repeats, "statistic": "median seconds per round after one warm-up"},
        "machine": {"device": "cpu", "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "results": rows,
        **({"smoke": True} if args.smoke else {}),
    }, indent=2) + "\n")
    markdown = render_markdown(json.loads(out.read_text()))  # from the JSON as written
    print()
    print(markdown, end="")
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(markdown)
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


if __name__ == "__main__":
    main()
