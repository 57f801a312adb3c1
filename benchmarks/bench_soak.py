"""Soak (issue 32 part 5): a long FedAvg simulation with the memory of all its processes sampled; it must stay flat.

    python benchmarks/bench_soak.py [--rounds 1000] [--clients 50] [--engines inprocess,ray] [--ray-rounds 200]
                                    [--chaos] [--every 0.25]
    python benchmarks/bench_soak.py --smoke DIR   # seconds: 10 in-process rounds, every file in DIR

Data: synthetic-acs (the offline ACSIncome-schema generator), 50 states split IID into ``--clients`` clients of
~200 rows (benchmarks/bench_scale.py's ``build``); logistic regression, one local epoch, batch 32, every client
trains and is evaluated every round, bootstrap intervals off (``ci-resamples 0``: the soak is about the rounds).

Each engine's run is a child process (as ``fedfair run`` would be). After every round the child records its
round and the time (from the strategy's checkpoint), and the parent samples, every 0.25 s, the PSS of the child
and every process below it (Ray's GCS, raylet, workers; shared pages counted once). Reported per engine: rounds
per second, the PSS at the first tenth and at the end, and the slope of PSS against the round over the second
half of the run (least squares, MB per 100 rounds: what a leak looks like once start-up is over).

``--chaos`` (Ray engine): at the middle round one Ray worker process is SIGKILLed; reported is what the run did
(its status.json: complete with the failed clients recorded, or failed with a message and a resumable
checkpoint). Writes benchmarks/soak_results.json.

``--smoke DIR`` checks the pipeline in seconds: the same build, child run and memory figures with 50 clients,
10 rounds of the in-process engine only (no Ray, no chaos: Ray alone takes 20+ s to start), memory sampled every
0.05 s (so that the second half's slope has samples); the dataset, the run directory and DIR/soak_results.json
(``"smoke": true``) go in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_scale import build, tree_memory  # noqa: E402 (the same data and memory sampling as the scale benchmark)

OUT = REPO / "benchmarks"
# --smoke's sizes (overridable by the options): a few in-process rounds, sampled often enough for a slope
SMOKE = {"rounds": 10, "clients": 50, "engines": "inprocess", "every": 0.05}


def run_config(root: Path, out: Path, rounds: int, engine: str) -> dict:
    return {"strategy": "fedavg", "dataset": str(root), "rounds": rounds, "model": "logreg", "batch-size": 32,
            "ci-resamples": 0, "out-dir": str(out), "engine": engine}


def child(config_path: Path, progress_path: Path) -> None:
    """In the child: the run, appending "round time" to ``progress_path`` after every round's checkpoint."""
    from fedfair.api import run_configs
    from fedfair.strategies.base import FedFairStrategy

    original = FedFairStrategy.checkpoint
    progress = open(progress_path, "a", buffering=1)

    def checkpoint(self, server_round, evals):  # noqa: ANN001, ANN202
        original(self, server_round, evals)
        progress.write(f"{server_round} {time.monotonic()}\n")

    FedFairStrategy.checkpoint = checkpoint
    run_configs([json.loads(config_path.read_text())], echo=False, keep_going=True)


def current_round(progress_path: Path) -> int:
    try:
        lines = progress_path.read_text().splitlines()
    except OSError:
        return 0
    return int(lines[-1].split()[0]) if lines and lines[-1].count(" ") == 1 else 0


def ray_workers(root_pid: int) -> list[int]:
    """Ray worker processes below ``root_pid`` (their command line starts with ``ray::``)."""
    from fedfair.simulation import _descendants

    found = []
    for pid in _descendants(root_pid) or []:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::"):
                found.append(pid)
        except OSError:
            continue
    return found


def soak(root: Path, work: Path, rounds: int, engine: str, chaos: bool = False, every: float = 0.25) -> dict:
    """One engine's soak run in a child process, its memory sampled against its rounds."""
    out, config_path, progress_path = work / f"run-{engine}", work / f"config-{engine}.json", work / f"progress-{engine}.txt"
    config_path.write_text(json.dumps(run_config(root, out, rounds, engine)))
    progress_path.write_text("")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, __file__, "--child", str(config_path), str(progress_path)])
    samples: list[tuple[int, float]] = []  # (round, PSS bytes)
    killed: dict = {}
    while process.poll() is None:
        pss, _ = tree_memory(process.pid)
        done = current_round(progress_path)
        if pss:
            samples.append((done, pss))
        if chaos and not killed and done >= rounds // 2:
            workers = ray_workers(process.pid)
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed = {"pid": workers[0], "after_round": done}
        time.sleep(every)
    wall = time.monotonic() - started
    ends = [(int(r), float(t)) for r, t in (line.split() for line in progress_path.read_text().splitlines())]
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").is_file() else {}
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return {"engine": engine, "rounds": rounds, "exit_code": process.returncode, "wall_seconds": wall,
            **memory_figures(samples, ends, rounds), "status": status, "chaos": killed or None,
            "failures": summary.get("failures"), "mean_accuracy": (summary.get("mean") or {}).get("accuracy")}


def memory_figures(samples: list[tuple[int, float]], ends: list[tuple[int, float]], rounds: int) -> dict:
    """Rounds per second (between the first and the last round's end), PSS at a tenth and at the end, and
    the slope of PSS over the second half of the rounds (MB per 100 rounds; the last round, with the run's final
    evaluation, summary and plot, left out)."""
    out: dict = {"rounds_done": ends[-1][0] if ends else 0}
    if len(ends) >= 2:
        out["rounds_per_second"] = (ends[-1][0] - ends[0][0]) / max(ends[-1][1] - ends[0][1], 1e-9)
    late = np.array([(r, pss) for r, pss in samples if rounds // 2 <= r < rounds], dtype=float)  # not the final
    if len(late) >= 3 and np.ptp(late[:, 0]) > 0:
        slope = np.polyfit(late[:, 0], late[:, 1], 1)[0]
        out["pss_slope_mb_per_100_rounds"] = float(slope * 100 / 1e6)
    tenth = [pss for r, pss in samples if r >= max(1, rounds // 10)]
    if tenth:
        out["pss_at_tenth_gb"] = tenth[0] / 1e9
        out["pss_end_gb"] = samples[-1][1] / 1e9
        out["pss_peak_gb"] = max(p for _, p in samples) / 1e9
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1000, help="rounds of the in-process run")
    parser.add_argument("--ray-rounds", type=int, default=200, help="rounds of the Ray run (~1 s a round here)")
    parser.add_argument("--clients", type=int, default=50, help="clients (a multiple of 50)")
    parser.add_argument("--engines", default="inprocess,ray")
    parser.add_argument("--chaos", action="store_true", help="also a Ray run with a worker killed mid-run")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between memory samples")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: 50 clients, 10 rounds of the in-process "
                             "engine only (no Ray, no chaos), memory sampled every 0.05 s; the dataset, the run and "
                             "soak_results.json go in DIR")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
    if args.clients % 50 or args.clients <= 0:
        parser.error("--clients must be a positive multiple of 50")
    results = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=args.smoke) as tmp:  # dataset and runs (in DIR when smoke)
        work = Path(tmp)
        root = build(args.clients, work)
        for engine in [e for e in args.engines.split(",") if e]:
            rounds = args.ray_rounds if engine == "ray" else args.rounds
            results.append(soak(root, work, rounds, engine, every=args.every))
            print(_line(results[-1]), flush=True)
        if args.chaos:
            (work / "run-ray").rename(work / "run-ray-plain")
            results.append(soak(root, work, args.ray_rounds, "ray", chaos=True, every=args.every))
            print(_line(results[-1]), "chaos:", results[-1]["chaos"], "status:", results[-1]["status"], flush=True)
    (args.smoke or OUT).joinpath("soak_results.json").write_text(json.dumps({
        "clients": args.clients, "load_before": load, "load_after": os.getloadavg(), "runs": results,
        **({"smoke": True} if args.smoke else {})}, indent=1))


def _line(r: dict) -> str:
    return (f"{r['engine']:9s} {r['rounds_done']}/{r['rounds']} rounds, {r.get('rounds_per_second', 0):.1f} rounds/s, "
            f"PSS {r.get('pss_at_tenth_gb', 0):.3f} GB at a tenth -> {r.get('pss_end_gb', 0):.3f} GB at the end "
            f"(peak {r.get('pss_peak_gb', 0):.3f}), slope {r.get('pss_slope_mb_per_100_rounds', float('nan')):+.2f} MB "
            f"per 100 rounds over the second half; exit {r['exit_code']}, {r['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
