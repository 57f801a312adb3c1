"""Scale (production-readiness issue, part 5): a cross-device-sized FedAvg simulation with 100, 300 and 1,000
clients, 10 rounds, fraction-train 0.1 and fraction-evaluate 0.1 (every client evaluated after the last round).

    python benchmarks/bench_scale.py [--clients 100,300,1000] [--rounds 10]
    python benchmarks/bench_scale.py --smoke DIR   # seconds: 50 clients, 3 rounds, every file in DIR

Data: synthetic-acs (offline ACSIncome-schema generator, SYNTHETIC), 50 states each split IID into
clients / 50 clients, about 200 rows per client (rows-per-state = 200 x clients per state; 70 / 15 / 15
train / val / test), logistic regression, 1 local epoch, batch 32. One Flower simulation per size (Ray, one
actor per core), started from this process.

Measured per size: the wall time of the whole run (Ray start, describing every node, 10 rounds, the final
evaluation of every client; in a child process, as `fedfair run` would be), the mean time of a regular round (rounds 2..R-1: training the sampled clients,
evaluating the round's evaluation sample; from the server's checkpoint after each round), the final
round (its training + every client's evaluation), and the peak memory of all processes (this one, Ray's
GCS / raylet / workers), sampled every 0.2 s from /proc: the sum of PSS (shared pages counted once, split
between the processes that map them: the memory the run really takes) and the sum of RSS (shared pages
counted in every process: an upper bound). Prints a table and writes benchmarks/scale_results.json.

``--smoke DIR`` checks the pipeline in seconds: the same build, child run and memory sampling at the smallest size
(50 clients, 5 sampled per round), 3 rounds (round 2 is the one regular round; one size fits no line: ``fit`` is
empty unless ``--clients`` names two sizes); the dataset, the run directory and DIR/scale_results.json
(``"smoke": true``) go in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "benchmarks"
STATES = 50
ROWS_PER_CLIENT = 200
SMOKE = {"clients": "50", "rounds": 3}  # --smoke's sizes (overridable by the options): the smallest ones


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_memory(root: int) -> tuple[int, int]:
    """(sum of PSS, sum of RSS) in bytes over ``root`` and every process below it."""
    tree, pending, pss, rss = _children(), [root], 0, 0
    while pending:
        pid = pending.pop()
        pending += tree.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return pss, rss


class PeakMemory:
    """Samples :func:`tree_memory` of process ``pid`` every ``every`` seconds in a thread; keeps the peaks."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self.peak_pss, self.peak_rss = pid, every, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pss, rss = tree_memory(self.pid)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def build(clients: int, work: Path) -> Path:
    from fedfair.partitioners.builder import BuildSpec, build_dataset
    from fedfair.partitioners.sources import _states

    per_state = clients // STATES
    root = work / f"synthetic-acs-{clients}"
    build_dataset(BuildSpec(source="synthetic-acs", source_options={
        "states": list(_states(None))[:STATES], "rows_per_state": ROWS_PER_CLIENT * per_state},
        partitioning={"*": f"iid:{per_state}"}, seed=0), root)
    return root


def round_end_times() -> list[float]:
    """From now on in this process, the perf_counter time at which each round's checkpoint was written is appended
    to the returned list (the strategy's checkpoint is wrapped)."""
    from fedfair.strategies.base import FedFairStrategy

    ends: list[float] = []
    original = FedFairStrategy.checkpoint

    def checkpoint(self, server_round, evals):  # noqa: ANN001, ANN202
        original(self, server_round, evals)
        ends.append(time.perf_counter())

    FedFairStrategy.checkpoint = checkpoint
    return ends


def simulate_timed(root: Path, clients: int, rounds: int) -> dict[str, float]:
    """In the child process: the run, with the time at which each round's checkpoint was written."""
    from fedfair.api import run_configs

    ends = round_end_times()
    started = time.perf_counter()
    summary = run_configs([{"strategy": "fedavg", "dataset": str(root), "rounds": rounds, "model": "logreg",
                        "fraction-train": 0.1, "fraction-evaluate": 0.1, "out-dir": str(root.parent / f"run-{clients}")}], echo=False, keep_going=False)[0]
    regular = np.diff(ends[:-1])  # rounds 2 .. R-1
    return {"clients": clients, "sampled": max(1, round(0.1 * clients)), "wall_seconds": time.perf_counter() - started,
            "round_seconds": float(regular.mean()), "round_seconds_max": float(regular.max()),
            "final_round_seconds": ends[-1] - ends[-2], "evaluated_at_end": len(summary["clients"]),
            "mean_accuracy": summary["mean"]["accuracy"]}


def run(root: Path, clients: int, rounds: int) -> dict[str, float]:
    """The run in a child process (what `fedfair run` starts: no dataset building in it), its memory sampled."""
    result = root.parent / f"result-{clients}.json"
    child = subprocess.Popen([sys.executable, __file__, "--child", str(root), str(clients), str(rounds), str(result)])
    with PeakMemory(child.pid) as memory:
        if child.wait() != 0:
            raise SystemExit(f"the {clients}-client run failed (exit {child.returncode})")
    return {**json.loads(result.read_text()), "peak_pss_gb": memory.peak_pss / 1e9, "peak_rss_gb": memory.peak_rss / 1e9}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="100,300,1000", help="comma-separated numbers of clients (multiples of 50)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: 50 clients, 3 rounds, the run in its child "
                             "process; the dataset, the run and scale_results.json go in DIR")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        root, clients, rounds, result = args.child
        Path(result).write_text(json.dumps(simulate_timed(Path(root), int(clients), int(rounds))))
        return
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
    sizes = [int(c) for c in args.clients.split(",")]
    if any(c % STATES or c <= 0 for c in sizes) or args.rounds < 3:
        parser.error(f"--clients must be positive multiples of {STATES} and --rounds at least 3")
    rows = []
    with tempfile.TemporaryDirectory(dir=args.smoke) as work:  # datasets and runs (in DIR when smoke)
        for clients in sizes:
            root = build(clients, Path(work))
            rows.append(run(root, clients, args.rounds))
            r = rows[-1]
            print(f"{clients:5d} clients ({r['sampled']} sampled per round): round {r['round_seconds']:.2f} s "
                  f"(max {r['round_seconds_max']:.2f}), final round {r['final_round_seconds']:.2f} s, whole run "
                  f"{r['wall_seconds']:.1f} s, peak memory PSS {r['peak_pss_gb']:.2f} GB / RSS {r['peak_rss_gb']:.2f} GB, "
                  f"{r['evaluated_at_end']} clients evaluated at the end", flush=True)
    if len(rows) > 1:
        sampled = np.array([r["sampled"] for r in rows], dtype=float)
        seconds = np.array([r["round_seconds"] for r in rows])
        slope, intercept = np.polyfit(sampled, seconds, 1)
        residual = float(np.max(np.abs(seconds - (slope * sampled + intercept))))
        print(f"round time ~ {intercept:.3f} s + {1000 * slope:.1f} ms x sampled clients (largest deviation "
              f"{residual:.3f} s)")
        fit = {"intercept_seconds": intercept, "seconds_per_sampled_client": slope, "max_residual_seconds": residual}
    else:
        fit = {}
    (args.smoke or OUT).joinpath("scale_results.json").write_text(json.dumps(
        {"rounds": args.rounds, "runs": rows, "fit": fit, **({"smoke": True} if args.smoke else {})}, indent=1))


if __name__ == "__main__":
    main()
