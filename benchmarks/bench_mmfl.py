"""Seed 003 (multi-model FL): round cost, Experiment 2 / Table II and Experiment 4 on the offline task sets.

    python benchmarks/bench_mmfl.py speed --rounds 10          # FedFairMMFL round vs single-task FedAvg round
    python benchmarks/bench_mmfl.py exp2 --tasks 3,6 --seeds 2 --rounds 40
    python benchmarks/bench_mmfl.py exp4 --alphas 1,2,3,5,10 --rounds 40
    python benchmarks/bench_mmfl.py exp1 --clients 120 --active-rate 0.35 --rounds 40 --seeds 2
    python benchmarks/bench_mmfl.py acs --rounds 20 --seeds 2      # group fairness within tasks (acs-tasks)
    python benchmarks/bench_mmfl.py --smoke DIR                    # every experiment on tiny offline data, into DIR

Data: ``--data-root`` (default ../shared/data) must hold mnist/mnist_5k.csv.gz and
fashion-mnist/*.gz. Each writes benchmarks/mmfl_<what>_results.json and prints a markdown
table rendered from that JSON (:func:`render_markdown`); exp4 also writes allocation maps. Offline
stand-ins are named in the task sets' tasks.json.

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
    args = parser.parse_args(argv)
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
