"""Seed 003 (multi-model FL): round cost, Experiment 2 / Table II and Experiment 4 on the offline task sets.

    python benchmarks/bench_mmfl.py speed --rounds 10          # FedFairMMFL round vs single-task FedAvg round
    python benchmarks/bench_mmfl.py exp2 --tasks 3,6 --seeds 2 --rounds 40
    python benchmarks/bench_mmfl.py exp4 --alphas 1,2,3,5,10 --rounds 40
    python benchmarks/bench_mmfl.py exp1 --clients 120 --active-rate 0.35 --rounds 40 --seeds 2
    python benchmarks/bench_mmfl.py acs --rounds 20 --seeds 2      # group fairness within tasks (acs-tasks)
    python benchmarks/bench_mmfl.py --smoke DIR                    # every experiment on tiny offline data, into DIR
    python benchmarks/bench_mmfl.py --report                       # benchmarks/mmfl.md from the committed JSON, no run

Data: ``--data-root`` (default ../shared/data) must hold mnist/mnist_5k.csv.gz and
fashion-mnist/*.gz. Each writes benchmarks/mmfl_<what>_results.json and prints a markdown
table rendered from that JSON (:func:`render_markdown`); exp4 also writes allocation maps. Offline
stand-ins are named in the task sets' tasks.json. ``--report`` (no run) renders the whole report,
benchmarks/mmfl.md, from the committed JSON files (:func:`render_report`): its tables, numbers and verdicts.

``--smoke DIR`` runs all five experiments (or only ``what`` when given) through the same functions in seconds,
with no ../shared: the image task sets are replaced by stand-ins with as many tasks made of scikit-learn's digits
and its rotated / noisy-label variants (5 clients, 300 rows per task), acs-tasks is built by its own builder
from a stand-in FeDa4Fair release of 3 states of synthetic-acs rows; 2 rounds (speed: 3), 1 seed, exp2 on 3
tasks, exp4 at alpha 3 (and random), runs without their figures except exp4's allocation maps. Every file goes
under DIR: mmfl_<what>_results.json with ``"smoke": true``, bench_mmfl.md, mmfl_figures/, and the task sets and
run directories in DIR/work.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fedfair.registry import resolve_dataset  # noqa: E402
from fedfair.api import run_configs  # noqa: E402
from reporting import write_reports  # noqa: E402 (benchmarks/ is the script's folder)

OUT = REPO / "benchmarks"
WORK = Path("/tmp/fedfair-bench")  # built task sets and run directories
COMMON = {"lr": 0.1, "local-epochs": 1, "batch-size": 32}
# --smoke: no run figures (a third of its time; the results never read them) but exp4's allocation maps, which it keeps
SMOKE_COMMON = {**COMMON, "plots": False}
EXPERIMENTS = ("speed", "exp1", "exp2", "exp4", "acs")
# --smoke: tiny sizes
SMOKE = {"rounds": 2, "seeds": 1, "tasks": "3", "alphas": "3", "clients": 5, "rows": 300, "suffix": "",
         "common": SMOKE_COMMON}
SMOKE_ROUNDS = {"speed": 3}  # it subtracts a 2-round run
# --smoke: the offline stand-in tasks (image_spec variants of scikit-learn's digits), the first N standing in for
# mmfl-N's N tasks of MNIST / Fashion-MNIST, which need ../shared
SMOKE_TASKS: dict[str, dict] = {"digits": {}, "digits-noisy30": {"label_noise": 0.3}, "digits-rot90": {"rotate": 1},
                                "digits-rot180": {"rotate": 2}, "digits-noisy50": {"label_noise": 0.5},
                                "digits-rot270": {"rotate": 3}}
SMOKE_STATES = ("AL", "AK", "AZ")  # --smoke: the stand-in FeDa4Fair release's states (synthetic-acs rows)


def _runs(configs: list[dict], clients: int) -> list[dict]:
    return run_configs(configs, echo=False, keep_going=False)


def _task_set(name: str, args: argparse.Namespace) -> Path:
    """The builtin task set ``name`` (built once into fedfair's cache); with --smoke its stand-in in DIR/work."""
    if args.smoke:
        return _build_task_set(name, args.work / name, args, clients=args.clients, limit=args.rows)
    return resolve_dataset(name, 0, data_root=args.data_root)


def _build_task_set(name: str, root: Path, args: argparse.Namespace, clients: int, limit: int) -> Path:
    """Build the task set ``name`` into ``root`` unless it is there; with --smoke its offline stand-in."""
    from fedfair.partitioners.task_sets import build_task_set

    if (root / "tasks.json").is_file():
        return root
    if not args.smoke:
        return build_task_set(name, root, seed=0, data_root=args.data_root, clients=clients, limit=limit)
    if name == "acs-tasks":  # acs-tasks' own builder, on a stand-in of the release it reads
        release = _smoke_acs_release(args.work / "data", limit)
        return build_task_set(name, root, seed=0, data_root=str(release))
    return _smoke_image_tasks(name, root, args.work / "task-sources", clients, limit)


def _smoke_image_tasks(name: str, root: Path, sources: Path, clients: int, limit: int) -> Path:
    """Offline stand-in for the image task set ``name``: as many tasks, each a digits variant over ``clients``
    clients with 5 of 10 classes (image_spec, as the builtin's tasks), combined as ``fedfair data tasks`` does."""
    from fedfair.partitioners.builder import build_dataset
    from fedfair.partitioners.builtins import image_spec
    from fedfair.partitioners.task_sets import TASK_SETS, combine_task_set

    wanted = len(TASK_SETS[name])
    if wanted > len(SMOKE_TASKS):
        raise SystemExit(f"--smoke: {name} needs {wanted} tasks, SMOKE_TASKS has {len(SMOKE_TASKS)} stand-ins")
    tasks = []
    for task, variant in list(SMOKE_TASKS.items())[:wanted]:
        source = sources / f"{task}-{clients}clients-{limit}"
        if not (source / "manifest.json").is_file():  # mmfl-3's tasks are mmfl-6's first three
            build_dataset(image_spec("digits", 0, clients=clients, limit=limit, dataset_name=task, **variant), source)
        tasks.append((task, str(source), None))
    return combine_task_set(root, tasks, name=name)


def _smoke_acs_release(root: Path, rows: int) -> Path:
    """Offline stand-in for FeDa4Fair's attribute-silo release (``root``/feda4fair/cross_silo_attribute_final):
    SMOKE_STATES' synthetic-acs rows in its layout (STATE_0.csv.gz, RAC1P 1 = White / 2 = other, PINCP bool)."""
    from fedfair.partitioners.sources import synthetic_acs

    release = root / "feda4fair" / "cross_silo_attribute_final"
    release.mkdir(parents=True, exist_ok=True)
    for state, frame in synthetic_acs(list(SMOKE_STATES), seed=0, rows_per_state=rows).clients.items():
        frame.assign(RAC1P=np.where(frame["RAC1P"] == 1, 1.0, 2.0)).to_csv(release / f"{state}_0.csv.gz", index=False)
    return root


def speed(args: argparse.Namespace) -> dict:
    """Per-round wall time of FedFairMMFL on mmfl-3 (20 active clients, one task each) vs FedAvg on one of its
    tasks with the same 20 clients and the same CNN: (wall of R rounds - wall of 2 rounds) / (R - 2)."""
    from fedfair.tasks import read_task_set

    root = _task_set("mmfl-3", args)
    single = read_task_set(root).tasks[0].dataset_dir  # its first task, MNIST
    # a first run warms the simulation (Ray workers import torch and load the data once)
    configs = [{**args.common, "strategy": "fedfair-mmfl", "dataset": str(root), "rounds": 2, "seed": 0,
                "out-dir": str(args.work / "speed-warmup")}]
    for rounds in (2, args.rounds):
        configs.append({**args.common, "strategy": "fedavg", "dataset": str(single), "rounds": rounds, "seed": 0,
                        "out-dir": str(args.work / f"speed-fedavg-{rounds}")})
        configs.append({**args.common, "strategy": "fedfair-mmfl", "dataset": str(root), "rounds": rounds, "seed": 0,
                        "out-dir": str(args.work / f"speed-mmfl-{rounds}")})
    _, fa2, mm2, fa, mm = _runs(configs, 20)
    per_round = {"fedavg": (fa["wall_seconds"] - fa2["wall_seconds"]) / (args.rounds - 2),
                 "fedfair-mmfl": (mm["wall_seconds"] - mm2["wall_seconds"]) / (args.rounds - 2)}
    result = {"rounds": args.rounds, "clients": len(read_task_set(root).clients), "per_round_seconds": per_round,
              "ratio": per_round["fedfair-mmfl"] / per_round["fedavg"], "cpus": os.cpu_count()}
    return result


def speed_markdown(result: dict) -> str:
    per_round = result["per_round_seconds"]
    return (f"per round ({result['rounds']} rounds, {result['clients']} clients, {result['cpus']} CPUs): FedAvg "
            f"{per_round['fedavg']:.3f} s, FedFairMMFL (3 tasks) {per_round['fedfair-mmfl']:.3f} s, "
            f"ratio {result['ratio']:.2f}")


def exp2(args: argparse.Namespace) -> dict:
    """Table II: 3 / 6 / 10 tasks, 20 clients, participation 1: mean and min accuracy over tasks, variance."""
    strategies = args.strategies.split(",")
    result: dict = {"rounds": args.rounds, "seeds": args.seeds, "tasks": {}}
    for n_tasks in [int(t) for t in args.tasks.split(",")]:
        root = _task_set(f"mmfl-{n_tasks}", args)
        configs = [{**args.common, "strategy": s, "dataset": str(root), "rounds": args.rounds, "seed": seed,
                    "out-dir": str(args.work / f"exp2{args.suffix}-{n_tasks}-{s}-{seed}")}
                   for s in strategies for seed in range(args.seeds)]
        started = time.time()
        summaries = _runs(configs, 20)
        rows = {}
        for s in strategies:
            mine = [x for c, x in zip(configs, summaries) if c["strategy"] == s]
            rows[s] = {key: [x[key] for x in mine] for key in ("mean_accuracy", "min_accuracy", "accuracy_variance")}
            rows[s]["min_curve"] = [[min(v for k, v in h.items() if k != "round") for h in x["task_accuracy"]]
                                    for x in mine]
        result["tasks"][n_tasks] = {"rows": rows, "seconds": round(time.time() - started, 1)}
    return result


def exp2_markdown(result: dict) -> str:
    return "\n\n".join(_table(n_tasks, part["rows"]) for n_tasks, part in result["tasks"].items())


def _table(n_tasks: int | str, rows: dict) -> str:
    lines = [f"| {n_tasks} tasks | mean acc | min acc | variance |", "|---|---|---|---|"]
    for s, r in rows.items():
        cells = [f"{np.mean(r[k]):.3f} ± {np.std(r[k]):.3f}" for k in ("mean_accuracy", "min_accuracy", "accuracy_variance")]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def exp1(args: argparse.Namespace) -> dict:
    """Experiment 1: the 3 tasks of mmfl-3 over many clients (paper: 120 clients, 150-250 points each from 5 of 10
    classes, active rate 0.35): min accuracy over rounds for FedFairMMFL (alpha 3), random and round robin."""
    root = _build_task_set("mmfl-3", args.work / f"mmfl-3-{args.clients}clients", args, args.clients, args.rows)
    strategies = ["mmfl-random", "mmfl-round-robin", "fedfair-mmfl"]
    configs = [{**args.common, "strategy": s, "dataset": str(root), "rounds": args.rounds, "seed": seed,
                "active-rate": args.active_rate, "out-dir": str(args.work / f"exp1-{s}-{seed}")}
               for s in strategies for seed in range(args.seeds)]
    summaries = _runs(configs, args.clients)
    rows = {}
    for s in strategies:
        mine = [x for c, x in zip(configs, summaries) if c["strategy"] == s]
        rows[s] = {key: [x[key] for x in mine] for key in ("mean_accuracy", "min_accuracy", "accuracy_variance")}
        rows[s]["task_accuracy"] = [x["task_accuracy"] for x in mine]
    return {"clients": args.clients, "rows_per_task": args.rows, "active_rate": args.active_rate,
            "rounds": args.rounds, "seeds": args.seeds, "rows": rows}


def acs(args: argparse.Namespace) -> dict:
    """Beyond the paper: acs-tasks (ACSIncome + synthetic stand-ins, 47 states, MLP): does favouring the worst task
    change group fairness within tasks? Per task: client-mean accuracy, SP and EqOp for SEX and RAC1P."""
    root = _task_set("acs-tasks", args)
    strategies = ["mmfl-random", "fedfair-mmfl"]
    configs = [{**args.common, "lr": 0.05, "strategy": s, "dataset": str(root), "rounds": args.rounds, "seed": seed,
                "out-dir": str(args.work / f"acs-{s}-{seed}")} for s in strategies for seed in range(args.seeds)]
    summaries = _runs(configs, 47)
    result: dict = {"rounds": args.rounds, "seeds": args.seeds, "rows": {}}
    for s in strategies:
        mine = [x for c, x in zip(configs, summaries) if c["strategy"] == s]
        per_task = {}
        for task in mine[0]["tasks"]:
            means = [x["tasks"][task]["mean"] for x in mine]
            per_task[task] = {"accuracy": float(np.mean([m["accuracy"] for m in means]))}
            for attr in ("SEX", "RAC1P"):
                for metric in ("sp", "eqop"):
                    per_task[task][f"{metric}_{attr}"] = float(np.mean([m["fairness"][attr][metric] for m in means]))
        shares = np.array([[sum(e[t] for e in x["task_counts"]) for t in mine[0]["tasks"]] for x in mine], dtype=float)
        result["rows"][s] = {"tasks": per_task, "min_accuracy": float(np.mean([x["min_accuracy"] for x in mine])),
                             "share": dict(zip(mine[0]["tasks"], (shares.sum(0) / shares.sum()).round(3).tolist()))}
    return result


def acs_markdown(result: dict) -> str:
    lines = ["| strategy | task | share | accuracy | SP SEX | EqOp SEX | SP RAC1P | EqOp RAC1P |",
             "|---|---|---|---|---|---|---|---|"]
    for s, row in result["rows"].items():
        for task, m in row["tasks"].items():
            lines.append(f"| {s} | {task} | {row['share'][task]:.3f} | {m['accuracy']:.3f} | {m['sp_SEX']:.3f} | "
                         f"{m['eqop_SEX']:.3f} | {m['sp_RAC1P']:.3f} | {m['eqop_RAC1P']:.3f} |")
        lines.append(f"| {s} | min accuracy over tasks | | {row['min_accuracy']:.3f} | | | | |")
    return "\n".join(lines)


def exp4(args: argparse.Namespace) -> dict:
    """Experiment 4: allocation per alpha on mmfl-6 (20 clients, participation 1); share of clients per task."""
    root = _task_set("mmfl-6", args)
    alphas = [float(a) for a in args.alphas.split(",")]
    common = {**args.common, "plots": True}  # its allocation maps are copied below, even with --smoke
    configs = [{**common, "strategy": "fedfair-mmfl", "alpha": a, "dataset": str(root), "rounds": args.rounds,
                "seed": 0, "out-dir": str(args.work / "exp4" / f"alpha-{a:g}")} for a in alphas]
    configs.append({**common, "strategy": "mmfl-random", "dataset": str(root), "rounds": args.rounds, "seed": 0,
                    "out-dir": str(args.work / "exp4" / "random")})
    summaries = _runs(configs, 20)
    figures = args.out / "mmfl_figures"
    figures.mkdir(exist_ok=True)
    for config in configs:  # keep the allocation maps (Fig. 6 style), not the run directories
        shutil.copy(Path(config["out-dir"]) / "allocation.png", figures / f"exp4_allocation_{Path(config['out-dir']).name}.png")
    result: dict = {"rounds": args.rounds, "alphas": {}}
    for label, summary in zip([f"alpha={a:g}" for a in alphas] + ["random"], summaries):
        tasks = list(summary["tasks"])
        counts = np.array([[entry[t] for t in tasks] for entry in summary["task_counts"]], dtype=float)
        result["alphas"][label] = {"share": dict(zip(tasks, (counts.sum(0) / counts.sum()).round(3).tolist())),
                                   "min_accuracy": summary["min_accuracy"], "mean_accuracy": summary["mean_accuracy"]}
    return result


def exp4_markdown(result: dict) -> str:
    tasks = list(next(iter(result["alphas"].values()))["share"])
    lines = ["| allocation | " + " | ".join(f"share {t}" for t in tasks) + " | min acc | mean acc |",
             "|---|" + "---|" * (len(tasks) + 2)]
    for label, row in result["alphas"].items():
        lines.append(f"| {label} | " + " | ".join(f"{row['share'][t]:.3f}" for t in tasks) +
                     f" | {row['min_accuracy']:.3f} | {row['mean_accuracy']:.3f} |")
    return "\n".join(lines)


def exp1_markdown(result: dict) -> str:
    return _table(3, result["rows"])


# ---- the committed report (benchmarks/mmfl.md), rendered from the committed JSON files alone ----

REPORT = "mmfl.md"
# the committed results files the report reads: {key: file}
REPORT_FILES = {"speed": "mmfl_speed_results.json", "exp2": "mmfl_exp2_results.json",
                "exp2_120rounds": "mmfl_exp2_120rounds_results.json", "exp4": "mmfl_exp4_results.json",
                "acs": "mmfl_acs_results.json", "exp1": "mmfl_exp1_results.json"}
NAMES = {"mmfl-random": "random", "mmfl-round-robin": "round robin", "fedfair-mmfl": "FedFairMMFL", "mmfl-qffl": "q-FFL"}
BASELINES = ("mmfl-random", "mmfl-round-robin")
# seed 003 Table II: (mean, min) accuracy over tasks
PAPER_TABLE2 = {"6": {"mmfl-random": (0.789, 0.450), "mmfl-round-robin": (0.782, 0.453), "fedfair-mmfl": (0.783, 0.475)},
                "10": {"mmfl-random": (0.748, 0.386), "mmfl-round-robin": (0.758, 0.406),
                       "fedfair-mmfl": (0.754, 0.452)}}
ACS_TASKS = {"ACSIncome": "ACSIncome", "ACSEmployment-synthetic": "Employment (synthetic)",
             "ACSHealthInsurance-synthetic": "HealthInsurance (synthetic)",
             "ACSPublicCoverage-synthetic": "PublicCoverage (synthetic)"}


def _ms(values: list) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _seeds(values: list) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def better_in_every_seed(mine: list, others: list[list], higher: bool = True) -> bool:
    """Whether ``mine`` beats every list of ``others`` seed by seed (strictly)."""
    return all((m > o) if higher else (m < o) for other in others for m, o in zip(mine, other))


def ordering_verdict(holds_every_seed: bool, seeds: int) -> str:
    """The VERDICTS.md rule for an ordering between methods: it must hold in every seed; with fewer than 5 seeds
    it is at best direction only."""
    if not holds_every_seed:
        return "not reproduced"
    return "direction only" if seeds < 5 else "reproduced"


def _curve_at(rows: dict, strategy: str, rounds: list[int]) -> list[float]:
    """The mean over seeds of the minimum accuracy over tasks at each of ``rounds`` (1-based)."""
    curves = np.array(rows[strategy]["min_curve"], dtype=float)
    return [float(curves[:, r - 1].mean()) for r in rounds]


def _exp2_table(result: dict) -> list[str]:
    lines = ["| tasks | strategy | mean accuracy | min accuracy | variance across tasks |", "|---|---|---|---|---|"]
    for n_tasks, part in result["tasks"].items():
        for s, r in part["rows"].items():
            lines.append(f"| {n_tasks} | {s} | {_ms(r['mean_accuracy'])} | {_ms(r['min_accuracy'])} | "
                         f"{_ms(r['accuracy_variance'])} |")
    return lines


def _paper_line() -> str:
    return ("Paper (Table II, mean / min accuracy): " + "; ".join(
        f"{n} tasks " + ", ".join(f"{NAMES[s]} {m:.3f} / {lo:.3f}" for s, (m, lo) in row.items())
        for n, row in PAPER_TABLE2.items()) + ".")


def _exp2_40_reading(result: dict) -> tuple[list[str], dict]:
    """Bullets on the 40-round Table II runs and their verdicts."""
    seeds, tasks, out, verdicts = result["seeds"], result["tasks"], [], {}
    ff = "fedfair-mmfl"
    for n_tasks, part in tasks.items():
        rows = part["rows"]
        mins = {s: rows[s]["min_accuracy"] for s in rows}
        var = {s: rows[s]["accuracy_variance"] for s in rows}
        best_min = better_in_every_seed(mins[ff], [mins[b] for b in BASELINES])
        low_var = better_in_every_seed(var[ff], [var[b] for b in BASELINES], higher=False)
        verdicts[f"min{n_tasks}"] = ordering_verdict(best_min, seeds)
        verdicts[f"var{n_tasks}"] = ordering_verdict(low_var, seeds)
        out.append(
            f"- **{n_tasks} tasks, 40 rounds.** Minimum accuracy: FedFairMMFL {_seeds(mins[ff])} per seed vs "
            + ", ".join(f"{NAMES[b]} {_seeds(mins[b])}" for b in BASELINES)
            + f" (`mmfl_exp2_results.json` `tasks.{n_tasks}.rows.<strategy>.min_accuracy`): "
            + ("highest in every seed" if best_min else "not the highest in every seed")
            + f" → **{verdicts[f'min{n_tasks}']}**. Variance across tasks: FedFairMMFL {_seeds(var[ff])} vs "
            + ", ".join(f"{NAMES[b]} {_seeds(var[b])}" for b in BASELINES) + ": "
            + ("lowest of the three allocation methods in every seed" if low_var else "not the lowest in every seed")
            + f" → **{verdicts[f'var{n_tasks}']}**. Mean accuracy {np.mean(rows[ff]['mean_accuracy']):.3f} vs "
            + ", ".join(f"{NAMES[b]} {np.mean(rows[b]['mean_accuracy']):.3f}" for b in BASELINES) + ".")
        if part["rows"][ff]["min_curve"] and len(part["rows"][ff]["min_curve"][0]) >= 20:
            at20 = {s: [c[19] for c in rows[s]["min_curve"]] for s in rows}
            ahead = better_in_every_seed(at20[ff], [at20[b] for b in BASELINES])
            verdicts[f"conv{n_tasks}"] = ordering_verdict(ahead, seeds)
            out.append(f"  Minimum at round 20 (Fig. 3's convergence): FedFairMMFL {_seeds(at20[ff])} per seed vs "
                       + ", ".join(f"{NAMES[b]} {_seeds(at20[b])}" for b in BASELINES)
                       + f" ({'ahead' if ahead else 'not ahead'} in every seed: **{verdicts[f'conv{n_tasks}']}**; "
                       f"`tasks.{n_tasks}.rows.<strategy>.min_curve`).")
        if "mmfl-qffl" in rows:
            above = better_in_every_seed(mins[ff], [mins["mmfl-qffl"]])
            verdicts[f"qffl{n_tasks}"] = ordering_verdict(above, seeds)
            out.append(f"  Against q-FFL over tasks: minimum {_seeds(mins[ff])} vs {_seeds(mins['mmfl-qffl'])} per "
                       f"seed ({'above' if above else 'not above'} in every seed: **{verdicts[f'qffl{n_tasks}']}** "
                       f"for Fig. 4's direction); q-FFL's mean accuracy {np.mean(rows['mmfl-qffl']['mean_accuracy']):.3f} "
                       f"and variance {np.mean(var['mmfl-qffl']):.3f}.")
    return out, verdicts


def _exp2_120_table(result: dict, marks: list[int]) -> list[str]:
    lines = ["| tasks | strategy | mean accuracy | min accuracy | variance across tasks | min accuracy at rounds "
             + " / ".join(str(r) for r in marks) + " |", "|---|---|---|---|---|---|"]
    for n_tasks, part in result["tasks"].items():
        for s, r in part["rows"].items():
            curve = " / ".join(f"{v:.3f}" for v in _curve_at(part["rows"], s, marks))
            lines.append(f"| {n_tasks} | {s} | {_ms(r['mean_accuracy'])} | {_ms(r['min_accuracy'])} | "
                         f"{_ms(r['accuracy_variance'])} | {curve} |")
    return lines


def _exp2_120_reading(result: dict) -> tuple[list[str], dict]:
    seeds, out, verdicts, ff = result["seeds"], [], {}, "fedfair-mmfl"
    for n_tasks, part in result["tasks"].items():
        rows = part["rows"]
        mins = {s: rows[s]["min_accuracy"] for s in rows}
        var = {s: rows[s]["accuracy_variance"] for s in rows}
        means = {s: rows[s]["mean_accuracy"] for s in rows}
        best_min = better_in_every_seed(mins[ff], [mins[b] for b in BASELINES])
        low_var = better_in_every_seed(var[ff], [var[b] for b in BASELINES], higher=False)
        lost = [f"{NAMES[b]} in seed {i}" for b in BASELINES for i, (m, o) in enumerate(zip(mins[ff], mins[b])) if m <= o]
        verdicts[f"min{n_tasks}"] = ordering_verdict(best_min, seeds)
        verdicts[f"var{n_tasks}"] = ordering_verdict(low_var, seeds)
        paper = PAPER_TABLE2.get(str(n_tasks))
        gap = [np.mean(means[ff]) - np.mean(means[b]) for b in BASELINES]
        out.append(
            f"- **{n_tasks} tasks, minimum accuracy: {verdicts[f'min{n_tasks}']}** ({seeds} seeds). FedFairMMFL "
            f"{np.mean(mins[ff]):.3f} (per seed {_seeds(mins[ff])}) vs "
            + ", ".join(f"{NAMES[b]} {np.mean(mins[b]):.3f} ({_seeds(mins[b])})" for b in BASELINES)
            + f" (`mmfl_exp2_120rounds_results.json` `tasks.{n_tasks}.rows.<strategy>.min_accuracy`)"
            + (f": it is not above {', '.join(lost)}" if lost else ": above both in every seed")
            + (f". Paper: {paper['fedfair-mmfl'][1]:.3f} vs {paper['mmfl-random'][1]:.3f} / "
               f"{paper['mmfl-round-robin'][1]:.3f}." if paper else "."))
        out.append(
            f"- **{n_tasks} tasks, variance across tasks: {verdicts[f'var{n_tasks}']}**: FedFairMMFL {_seeds(var[ff])} "
            "vs " + ", ".join(f"{NAMES[b]} {_seeds(var[b])}" for b in BASELINES)
            + (" (lowest in every seed)" if low_var else " (not the lowest in every seed)")
            + f". Mean accuracy {np.mean(means[ff]):.3f} vs "
            + ", ".join(f"{NAMES[b]} {np.mean(means[b]):.3f}" for b in BASELINES)
            + f" ({gap[0]:+.3f} / {gap[1]:+.3f}; the paper's three are within "
            + (f"{100 * (max(v[0] for v in paper.values()) - min(v[0] for v in paper.values())):.1f} points)."
               if paper else "-)."))
        at90 = {s: [c[89] for c in rows[s]["min_curve"]] for s in rows} if len(rows[ff]["min_curve"][0]) >= 90 else None
        if at90:
            ahead = better_in_every_seed(at90[ff], [at90[b] for b in BASELINES])
            verdicts[f"conv{n_tasks}"] = ordering_verdict(ahead, seeds)
            out.append(f"- **{n_tasks} tasks, minimum at round 90 (convergence): {verdicts[f'conv{n_tasks}']}**: "
                       f"FedFairMMFL {_seeds(at90[ff])} per seed vs "
                       + ", ".join(f"{NAMES[b]} {_seeds(at90[b])}" for b in BASELINES)
                       + f" (`tasks.{n_tasks}.rows.<strategy>.min_curve`).")
    return out, verdicts


def _exp4_reading(result: dict) -> tuple[list[str], dict]:
    alphas = result["alphas"]
    rows = {k: v for k, v in alphas.items() if k.startswith("alpha=")}
    values = sorted(rows, key=lambda k: float(k.split("=")[1]))
    identical = alphas.get("alpha=1") == alphas.get("random")
    # the task whose share grows most with alpha (the hardest task under FedFairMMFL's allocation)
    first, last = rows[values[0]]["share"], rows[values[-1]]["share"]
    hardest = max(first, key=lambda t: last[t] - first[t])
    shares = [rows[v]["share"][hardest] for v in values]
    monotone = all(b > a for a, b in zip(shares, shares[1:]))
    verdicts = {"alpha1": "reproduced" if identical else "not reproduced",
                "trend": "direction only" if monotone else "not reproduced"}
    top, three = rows[values[-1]], rows.get("alpha=3")
    hurts = three is not None and top["min_accuracy"] < three["min_accuracy"] and top["mean_accuracy"] < three["mean_accuracy"]
    verdicts["too_large"] = "direction only" if hurts else "not reproduced"
    best3 = three is not None and all(three["min_accuracy"] >= rows[v]["min_accuracy"] for v in values)
    verdicts["alpha3"] = "direction only" if best3 else "not reproduced"
    out = [f"- alpha = 1 allocates {'**exactly** as' if identical else 'differently from'} random (same seed, same "
           "draws; tested in tests/test_mmfl.py), as the paper says (\"degenerates to the random client-task "
           f"allocation\"): **{verdicts['alpha1']}** (a deterministic identity; `mmfl_exp4_results.json` "
           "`alphas.alpha=1` " + ("equals" if identical else "differs from") + " `alphas.random`).",
           f"- As alpha grows, the share of client-rounds of {hardest} (the task whose share grows most) goes "
           + " / ".join(f"{v:.3f}" for v in shares) + " for " + " / ".join(v.replace("alpha=", "alpha ") for v in values)
           + (" (increasing at every step)" if monotone else " (not monotone)")
           + f": the trend of the paper's Fig. 6, **{verdicts['trend']}** (1 seed: indicative only; "
           f"`alphas.*.share.{hardest}`). Maps: `mmfl_figures/exp4_allocation_alpha-*.png`."]
    if three is not None:
        out.append(f"- Too large an alpha: min / mean accuracy {top['min_accuracy']:.3f} / {top['mean_accuracy']:.3f} "
                   f"at {values[-1].replace('=', ' ')} vs {three['min_accuracy']:.3f} / {three['mean_accuracy']:.3f} at "
                   f"alpha 3 (the paper: simpler tasks under-trained): **{verdicts['too_large']}** (1 seed). alpha = 3 "
                   f"as the best balance: its minimum {three['min_accuracy']:.3f} against "
                   + ", ".join(f"{v.replace('alpha=', 'alpha ')} {rows[v]['min_accuracy']:.3f}" for v in values
                               if v != "alpha=3")
                   + f" (random {alphas['random']['min_accuracy']:.3f}, mean {alphas['random']['mean_accuracy']:.3f} vs "
                   f"{three['mean_accuracy']:.3f}): **{verdicts['alpha3']}** (1 seed, 40 rounds).")
    return out, verdicts


def _acs_section(result: dict) -> list[str]:
    rows = result["rows"]
    strategies = list(rows)
    lines = ["| task | strategy | share of client-rounds | accuracy | SP SEX | EqOp SEX | SP RAC1P | EqOp RAC1P |",
             "|---|---|---|---|---|---|---|---|"]
    for task in rows[strategies[0]]["tasks"]:
        for s in strategies:
            m = rows[s]["tasks"][task]
            lines.append(f"| {ACS_TASKS.get(task, task)} | {NAMES.get(s, s)} | {rows[s]['share'][task]:.3f} | "
                         f"{m['accuracy']:.4f} | {m['sp_SEX']:.4f} | {m['eqop_SEX']:.4f} | {m['sp_RAC1P']:.4f} | "
                         f"{m['eqop_RAC1P']:.4f} |")
    if set(strategies) >= {"mmfl-random", "fedfair-mmfl"}:
        base, ff = rows["mmfl-random"], rows["fedfair-mmfl"]
        worst = min(base["tasks"], key=lambda t: base["tasks"][t]["accuracy"])
        changes = [(abs(ff["tasks"][t][k] - base["tasks"][t][k]), t, k) for t in base["tasks"] for k in base["tasks"][t]]
        largest = max(changes)
        accs = [m["accuracy"] for r in rows.values() for m in r["tasks"].values()]
        lines += ["", f"FedFairMMFL gives the worst task under random allocation ({ACS_TASKS.get(worst, worst)}) "
                  f"{ff['share'][worst]:.1%} of client-rounds vs {base['share'][worst]:.1%}; the tasks' accuracies "
                  f"are {min(accs):.2f}-{max(accs):.2f}, and no task's accuracy or within-task gap moves by more than "
                  f"{largest[0]:.4f} (largest: {ACS_TASKS.get(largest[1], largest[1])} {largest[2]}, "
                  f"{base['tasks'][largest[1]][largest[2]]:.4f} -> {ff['tasks'][largest[1]][largest[2]]:.4f}). "
                  f"`mmfl_acs_results.json` holds only the {result['seeds']}-seed means, so the seed-to-seed spread "
                  "is not recorded. Not a paper result: favouring the worst task did not trade group fairness here; a "
                  "task set with a much harder task (as mmfl-3's noisy one) would be the next test."]
    return lines


def _exp1_section(result: dict) -> tuple[list[str], dict]:
    rows, marks = result["rows"], [10, 20, 30, 40]
    marks = [r for r in marks if r <= result["rounds"]]
    tasks = [k for k in rows[next(iter(rows))]["task_accuracy"][0][-1] if k != "round"]
    lines = ["| strategy | mean accuracy | min accuracy | variance | min accuracy at rounds "
             + " / ".join(str(r) for r in marks) + " | final " + " / ".join(tasks) + " |", "|---|---|---|---|---|---|"]
    for s, r in rows.items():
        curves = np.array([[min(v for k, v in h.items() if k != "round") for h in seed] for seed in r["task_accuracy"]])
        final = [np.mean([seed[-1][t] for seed in r["task_accuracy"]]) for t in tasks]
        lines.append(f"| {s} | {_ms(r['mean_accuracy'])} | {_ms(r['min_accuracy'])} | {_ms(r['accuracy_variance'])} | "
                     + " / ".join(f"{curves[:, m - 1].mean():.3f}" for m in marks) + " | "
                     + " / ".join(f"{v:.3f}" for v in final) + " |")
    ff = "fedfair-mmfl"
    best = better_in_every_seed(rows[ff]["min_accuracy"], [rows[b]["min_accuracy"] for b in BASELINES if b in rows])
    verdicts = {"exp1": ordering_verdict(best, result["seeds"])}
    top = max(rows, key=lambda s: np.mean(rows[s]["min_accuracy"]))
    lines += ["", f"**{verdicts['exp1'].capitalize()} at this scale ({result['seeds']} seeds).** The paper's Fig. 2 shows "
              "FedFairMMFL's minimum above both baselines; here FedFairMMFL's minimum is "
              f"{_seeds(rows[ff]['min_accuracy'])} per seed vs "
              + ", ".join(f"{NAMES[b]} {_seeds(rows[b]['min_accuracy'])}" for b in BASELINES if b in rows)
              + f" (`mmfl_exp1_results.json` `rows.<strategy>.min_accuracy`); {NAMES.get(top, top)} has the highest "
              "mean minimum. Plausible causes: each client's few test rows per task make the accuracy signal behind "
              "eq. 5 noisy early on (tasks near chance make the allocation close to uniform, so FedFairMMFL behaves "
              "like random), and tiny local datasets leave every task far from convergence. A run with the full "
              "Fashion-MNIST (70,000 rows) for the two Fashion tasks and more rounds is the next check."]
    return lines, verdicts


def render_report(results: dict[str, dict]) -> str:
    """benchmarks/mmfl.md from the results JSON files (``results``: REPORT_FILES' keys -> their contents). Every
    number and verdict is computed here from the JSON; the settings and the explanations are fixed text."""
    speed_r, exp2_r, long_r = results["speed"], results["exp2"], results["exp2_120rounds"]
    exp4_r, acs_r, exp1_r = results["exp4"], results["acs"], results["exp1"]
    read40, v40 = _exp2_40_reading(exp2_r)
    read120, v120 = _exp2_120_reading(long_r)
    read4, v4 = _exp4_reading(exp4_r)
    exp1_lines, v1 = _exp1_section(exp1_r)
    marks40 = [r for r in (10, 20, 30, 40) if r <= exp2_r["rounds"]]
    marks120 = [r for r in (30, 60, 90, 120) if r <= long_r["rounds"]]
    per = speed_r["per_round_seconds"]
    n40, n120 = exp2_r["seeds"], long_r["seeds"]
    status = [f"Table II minimum accuracy at 6 tasks **{v120.get('min6', '-')}**, at 10 tasks "
              f"**{v120.get('min10', '-')}** (120 rounds, {n120} seeds); lowest variance across tasks at 6 / 10 tasks "
              f"**{v120.get('var6', '-')}** / **{v120.get('var10', '-')}**; higher minimum on 3 tasks (40 rounds, "
              f"{n40} seeds) **{v40.get('min3', '-')}**; above q-FFL on 3 tasks **{v40.get('qffl3', '-')}**; "
              f"Experiment 1 **{v1['exp1']}**; alpha = 1 equals random **{v4['alpha1']}**; the alpha trend "
              f"**{v4['trend']}**; too large an alpha hurts **{v4['too_large']}**; alpha = 3 as the best balance "
              f"**{v4['alpha3']}**; Experiment 3 **not attempted**. Fewer than 5 seeds everywhere (Experiment 4: 1 "
              "seed): indicative only."]
    lines = [
        "# Seed 003 (multi-model FL): FedFairMMFL vs random, round robin and q-FFL on offline task sets", "",
        "Generated by `python benchmarks/bench_mmfl.py --report` from the JSON files below (do not edit by hand; "
        "tests/test_bench_smoke.py checks it). Commands (2-core CPU machine, `../shared/data` holding MNIST-5k and "
        "Fashion-MNIST):", "", "```bash",
        f"python benchmarks/bench_mmfl.py speed --rounds {speed_r['rounds']}",
        f"python benchmarks/bench_mmfl.py exp2 --tasks {','.join(exp2_r['tasks'])} --seeds {n40} --rounds {exp2_r['rounds']}",
        f"python benchmarks/bench_mmfl.py exp2 --tasks {','.join(long_r['tasks'])} --seeds {n120} --rounds "
        f"{long_r['rounds']} --strategies {','.join(next(iter(long_r['tasks'].values()))['rows'])} --suffix _120rounds",
        f"python benchmarks/bench_mmfl.py exp4 --rounds {exp4_r['rounds']}",
        f"python benchmarks/bench_mmfl.py acs --rounds {acs_r['rounds']} --seeds {acs_r['seeds']}",
        f"python benchmarks/bench_mmfl.py exp1 --clients {exp1_r['clients']} --active-rate {exp1_r['active_rate']:g} "
        f"--rounds {exp1_r['rounds']} --seeds {exp1_r['seeds']}", "```", "",
        "Raw numbers: " + ", ".join(f"`{f}`" for f in REPORT_FILES.values()) + "; allocation maps in `mmfl_figures/`.",
        "", "**Status (issue 29).** " + status[0] + " One row per result: [VERDICTS.md](VERDICTS.md).", "",
        "## What differs from the paper (read this first)", "",
        "- **Tasks.** The paper trains MNIST, Fashion-MNIST, CIFAR-10 (pre-activated ResNet) and EMNIST. Offline we",
        "  have MNIST (the 5,000-row CSV), Fashion-MNIST and scikit-learn's 8x8 digits; CIFAR-10 and EMNIST are",
        "  replaced by **clearly named stand-ins** (`tasks.json` → `stand_in`): Fashion-MNIST with 30 % / 50 % of the",
        "  labels replaced by another class, MNIST with 30 % noisy labels, rotated MNIST / Fashion-MNIST, noisy",
        "  digits. Label noise caps a task's attainable accuracy, which makes it the hard task as CIFAR-10 is in the",
        "  paper, but for a different reason (noise, not model capacity).",
        "- **Sizes.** 20 clients, participation 1 as in Experiment 2, but 5,000 rows per task (MNIST-5k bounds it),",
        "  i.e. about 250 rows per client per task instead of 400-600; every client holds 5 of the 10 classes of",
        "  every task (the paper's non-i.i.d. split). One small CNN (2 conv, 2 pool, 2 fc; 10/20 channels, 50 units)",
        "  for every 28x28 task and a 3x3-kernel version for digits; local SGD lr 0.1, 1 epoch, batch 32.",
        f"- **Length.** {exp2_r['rounds']} rounds and {n40} seeds for the full table, then {long_r['rounds']} rounds "
        f"for {' and '.join(long_r['tasks'])} tasks; the paper averages 4 seeds.",
        "- **q-FFL.** The paper's q-Fel baseline is \"adapted so that fairness is over tasks\"; fedfair's reading",
        "  (strategies/mmfl_qffl.py): uniform allocation, and per task Flower's q-FedAvg aggregation with every",
        "  reply's loss replaced by the task's loss, q = 1.", "",
        "## Round cost", "",
        f"| strategy | seconds / round ({speed_r['clients']} active clients, CNN, {speed_r['rounds']} rounds, "
        f"{speed_r['cpus']} CPUs) |", "|---|---|",
        f"| FedAvg on one task | {per['fedavg']:.3f} |",
        f"| FedFairMMFL on 3 tasks (each client trains one task; every task evaluated on every client) | "
        f"{per['fedfair-mmfl']:.3f} |", "",
        f"Ratio **{speed_r['ratio']:.2f}** (the target was at most 1.2: "
        f"{'met' if speed_r['ratio'] <= 1.2 else 'missed'}; `mmfl_speed_results.json` `ratio`).", "",
        f"## Experiment 2 / Table II: more tasks (20 clients, participation 1, {exp2_r['rounds']} rounds, {n40} seeds)",
        "", "Final accuracy over tasks (each task's accuracy = mean over clients of their local test accuracy), "
        "mean ± std over seeds:", "", *_exp2_table(exp2_r), "", _paper_line(), "",
        f"Minimum accuracy over tasks at rounds {' / '.join(str(r) for r in marks40)} (mean of the {n40} seeds):", "",
        "| tasks | " + " | ".join(NAMES[s] for s in next(iter(exp2_r["tasks"].values()))["rows"]) + " |",
        "|---|" + "---|" * len(next(iter(exp2_r["tasks"].values()))["rows"]),
        *[f"| {n} | " + " | ".join(" / ".join(f"{v:.3f}" for v in _curve_at(part["rows"], s, marks40))
                                   for s in part["rows"]) + " |" for n, part in exp2_r["tasks"].items()],
        "", f"Reading ({n40} seeds: indicative only; the paper's Table II has no 3-task row, its Fig. 3 (e) does):", "",
        *read40,
        "", "Our hard tasks are capped by label noise, so extra clients buy them less than extra clients buy CIFAR-10 "
        "in the paper; at 40 rounds the 10-task runs' hardest tasks are still near chance.", "",
        f"### At the paper's length: {long_r['rounds']} rounds ({' and '.join(long_r['tasks'])} tasks, {n120} seeds)",
        "", "`mmfl_exp2_120rounds_results.json` (command above):", "", *_exp2_120_table(long_r, marks120), "",
        "Next to the paper's Table II: " + _paper_line().split(": ", 1)[1], "", *read120, "",
        "With 20 clients for 10 tasks each task gets 2 clients a round, and the worst task (a 50 %-noisy "
        "Fashion-MNIST) absorbs clients without gaining much. Our absolute accuracies are lower than the paper's "
        "(offline stand-ins with noisy labels, 250 rows per client).", "",
        f"## Experiment 4: alpha and the allocation (mmfl-6, 20 clients, {exp4_r['rounds']} rounds, seed 0)", "",
        "Share of all client-rounds that went to each task, and the final min / mean accuracy over tasks:", "",
        exp4_markdown(exp4_r), "", *read4, "",
        f"## Beyond the paper: group fairness within tasks (`acs-tasks`, 47 states, {acs_r['rounds']} rounds, "
        f"{acs_r['seeds']} seeds)", "",
        "Tasks: ACSIncome from FeDa4Fair's attribute-silo release (real census data) and three **synthetic-acs "
        "stand-ins** for ACSEmployment, ACSHealthInsurance, ACSPublicCoverage (no such files offline); MLP (32), lr "
        "0.05, at most 2,000 train rows per state and task; per task the mean over states (and seeds) of the local "
        "accuracy and of the local SP / EqOp gaps:", "", *_acs_section(acs_r), "",
        f"## Experiment 1: 3 tasks, {exp1_r['clients']} clients, {exp1_r['active_rate']:.0%} active "
        f"({exp1_r['rounds']} rounds, {exp1_r['seeds']} seeds)", "",
        f"The mmfl-3 tasks cut into {exp1_r['clients']} clients with 5 of 10 classes each. **Scaled down by the "
        f"offline data:** {exp1_r['rows_per_task']:,} rows per task (MNIST-5k bounds it) give about "
        f"{exp1_r['rows_per_task'] / exp1_r['clients']:.0f} rows per client per task instead of the paper's 150-250.",
        "", *exp1_lines, "",
        "## Not yet run", "",
        "Experiment 3 (80-160 clients, 5 tasks); 4 seeds for Table II; Experiment 1 with the full Fashion-MNIST; the "
        "paper's 4-task set with EMNIST (Fig. 4).", ""]
    return "\n".join(lines)


def reports(folder: Path = OUT) -> dict[str, str]:
    """The committed report rendered from the committed JSON files in ``folder``: {file name: markdown}."""
    return {REPORT: render_report({k: json.loads((folder / f).read_text()) for k, f in REPORT_FILES.items()})}


RUNS = {"speed": speed, "exp1": exp1, "exp2": exp2, "exp4": exp4, "acs": acs}
MARKDOWN = {"speed": speed_markdown, "exp1": exp1_markdown, "exp2": exp2_markdown, "exp4": exp4_markdown,
            "acs": acs_markdown}


def render_markdown(what: str, result: dict) -> str:
    """The markdown report of one experiment, from its results JSON alone."""
    return MARKDOWN[what](result)


def run_experiment(what: str, args: argparse.Namespace, smoke: bool = False) -> Path:
    """Run ``what``, write args.out/mmfl_<what><suffix>_results.json, print the report rendered from that file."""
    result = RUNS[what](args)
    if smoke:
        result["smoke"] = True
    path = args.out / f"mmfl_{what}{args.suffix}_results.json"
    path.write_text(json.dumps(result, indent=1))
    print(render_markdown(what, json.loads(path.read_text())))  # from the JSON: the report can be regenerated
    print(f"wrote {path}")
    return path


def smoke(args: argparse.Namespace) -> None:
    """Every experiment (or ``args.what``) at SMOKE's sizes on the offline stand-ins, every file under args.smoke;
    bench_mmfl.md holds the reports rendered from the JSON files."""
    out = args.smoke.expanduser().resolve()
    vars(args).update(SMOKE, data_root=None, out=out, work=out / "work")
    shutil.rmtree(args.work, ignore_errors=True)  # run directories of an earlier smoke run in DIR would refuse a rerun
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for what in [args.what] if args.what else EXPERIMENTS:
        args.rounds = SMOKE_ROUNDS.get(what, SMOKE["rounds"])
        path = run_experiment(what, args, smoke=True)
        sections.append(f"## {what}\n\n{render_markdown(what, json.loads(path.read_text()))}\n")
    (out / f"{Path(__file__).stem}.md").write_text("\n".join(sections))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=EXPERIMENTS, help="the experiment (required unless --smoke)")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="run every experiment (or only WHAT) on tiny offline stand-ins (digits, synthetic-acs) "
                             "in seconds; write every file into DIR")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", default="3,6,10")
    parser.add_argument("--strategies", default="mmfl-random,mmfl-round-robin,fedfair-mmfl,mmfl-qffl")
    parser.add_argument("--alphas", default="1,2,3,5,10")
    parser.add_argument("--clients", type=int, default=120)
    parser.add_argument("--rows", type=int, default=5000, help="exp1: rows per task (MNIST-5k bounds it offline)")
    parser.add_argument("--active-rate", type=float, default=0.35)
    parser.add_argument("--suffix", default="", help="appended to the results file name, e.g. _120rounds")
    parser.add_argument("--report", action="store_true",
                        help="no run: render benchmarks/mmfl.md again from the committed mmfl_*_results.json files")
    args = parser.parse_args(argv)
    if args.report:
        write_reports(reports(OUT), OUT)
        return
    if args.smoke is not None:
        smoke(args)  # no FEDFAIR_DATA_ROOT: the stand-ins need no ../shared
        return
    if args.what is None:
        parser.error("the following arguments are required: what (or --smoke DIR)")
    os.environ.setdefault("FEDFAIR_DATA_ROOT", args.data_root)
    args.out, args.work, args.common = OUT, WORK, COMMON
    run_experiment(args.what, args)


if __name__ == "__main__":
    main()
