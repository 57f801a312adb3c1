"""Seed 001 (single-shot fair FL with synthetic data): Table 2, Fig. 2's grid, the privacy indicator, the
communication against FedAvg / FairFed, and the synthesis speed.

    python benchmarks/bench_single_shot.py table2            # Law race / sex, Dutch stand-in: rho_o x N_s
    python benchmarks/bench_single_shot.py grid              # Fig. 2: rho_o x rho_s on Law / race, N_s = N
    python benchmarks/bench_single_shot.py versus --rounds 20   # FedAvg, FairFed, single-shot on Law / race
    python benchmarks/bench_single_shot.py speed             # one client's synthesis, 8,319 rows, k_max 1000
    python benchmarks/bench_single_shot.py --smoke DIR       # all four on tiny offline stand-ins, into DIR

Every run goes through ``fedfair.simulation`` (the app of ``fedfair run``); accuracy and SPD are pooled
over the clients' test splits from metrics.jsonl's group counts, as the paper computes them ("across all
clients' testing data"). Writes benchmarks/single_shot_<what>_results.json and prints a markdown table
rendered from it (:func:`render_markdown`).

``--smoke DIR`` runs all four (or only ``what`` when given) through the same functions in seconds, with no
../shared: Law and the Adult stand-in for Dutch are replaced by synthetic-acs rows in Law's cleaned layout (three
numeric features, ``race`` and ``sex`` 1 / 2, a binary label; 2 IID clients of about 1,000 rows, resp. 4 of
about 500), k_max 10, rho_o in {0, 100} (grid: rho_o x rho_s in {0, 100}^2), 2 rounds, runs without their
figures. Every file goes under DIR: single_shot_<what>_results.json with ``"smoke": true``,
bench_single_shot.md, and the stand-ins and run directories in DIR/work.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "benchmarks"
RHOS = (0.0, 10.0, 100.0, 1000.0, 10000.0)
# (dataset, sensitive attribute, N^train,small); the stand-in's small size is 10 % of its 9,768 training rows
SETTINGS = (("law", "race", "800"), ("law", "sex", "800"), ("adult-dutch-standin", "sex", "977"))
GRID = (0.0, 10.0, 100.0, 1000.0)  # Fig. 2's rho_o and rho_s
EXPERIMENTS = ("table2", "grid", "versus", "speed")
# --smoke: tiny sizes; the stand-ins' small sizes are 10 % of their clients' training rows, as for Dutch, except
# Law's 800, kept (versus names its run by it) on clients of just over 800 training rows
SMOKE = {"kmax": 10, "rounds": 2, "rhos": (0.0, 100.0), "grid": (0.0, 100.0),
         "settings": (("law", "race", "800"), ("law", "sex", "800"), ("adult-dutch-standin", "sex", "40"))}
# --smoke: offline stand-ins of the same shape as the real datasets (name -> clients, rows in all, sensitive
# attributes in order, whether they are features too), from synthetic-acs rows (see _smoke_dataset)
SMOKE_DATASETS = {"law": (2, 2100, ["race", "sex"], True), "adult-dutch-standin": (4, 2000, ["sex", "race"], False)}


def pooled(run_dir: Path, attribute: str) -> dict:
    """Accuracy (%) and the signed SPD (eq. 4, first value minus second) over all clients' test rows."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("stage", "evaluate") == "evaluate"]
    rows = [r for r in rows if r["round"] == max(r["round"] for r in rows)]
    correct = sum(r["accuracy"] * r["n_test"] for r in rows)
    total = sum(r["n_test"] for r in rows)
    from fedfair.metrics import group_rates

    counts = np.sum([np.asarray(r["groups"][attribute]["counts"], dtype=float) for r in rows], axis=0)
    positive = group_rates(counts)["selection_rate"]
    return {"accuracy": 100 * correct / total, "spd": float(positive[0] - positive[1])}


def _runs(dataset: str, configs: list[dict], args: argparse.Namespace) -> list[dict]:
    from fedfair.api import run_configs

    root = _dataset(dataset, args)
    extra = {"plots": False} if args.smoke else {}  # --smoke: the figures of runs in a temporary directory, unread
    full = [{"dataset": str(root), **extra, **c} for c in configs]
    return run_configs(full, echo=False, keep_going=False)


def _dataset(name: str, args: argparse.Namespace) -> Path:
    """The builtin dataset ``name`` (built once into fedfair's cache); with --smoke its stand-in in DIR/work."""
    from fedfair.registry import resolve_dataset

    if args.smoke:
        return _smoke_dataset(name, args.work)
    return resolve_dataset(name, 0, data_root=args.data_root)


def _smoke_dataset(name: str, work: Path) -> Path:
    """Offline stand-in for ``name`` (Law or the Adult stand-in, which need ../shared): synthetic-acs rows in Law's
    cleaned layout (AGEP, SCHL, WKHP; race 1 = White / 2 = other, sex 1 / 2; pass = PINCP), cut into IID clients
    "0", "1", ... of 80 / 20 train / test, standardised on the union of the train splits, logistic regression."""
    import pandas as pd

    from fedfair.partitioners.builder import BuildSpec, build_dataset
    from fedfair.partitioners.sources import synthetic_acs

    root = work / name
    if (root / "manifest.json").is_file():
        return root
    clients, rows, sensitive, as_features = SMOKE_DATASETS[name]
    source = work / "sources" / name
    source.mkdir(parents=True, exist_ok=True)
    frames = synthetic_acs(["AL", "AK", "AZ", "AR"], seed=0, rows_per_state=rows).clients.values()
    acs = pd.concat(list(frames)).head(rows)
    table = acs[["AGEP", "SCHL", "WKHP"]].assign(race=np.where(acs["RAC1P"] == 1, 1, 2), sex=acs["SEX"].astype(int),
                                                 **{"pass": acs["PINCP"].astype(int)})
    table.to_csv(source / f"{name}.csv", index=False)
    spec = BuildSpec(source="csv-dir", source_options={"path": str(source), "label": "pass", "positive": 1},
                     name=name, seed=0, sensitive=sensitive, partitioning={name: f"iid:{clients}"},
                     rename_clients={f"{name}_{k}": str(k) for k in range(clients)}, splits=(0.8, 0.0, 0.2),
                     standardise="global", standardise_columns=["AGEP", "SCHL", "WKHP"],
                     sensitive_as_features=as_features, default_model={"model": "logreg"},
                     notes={"stand-in": f"--smoke stand-in for {name}: SYNTHETIC synthetic-acs rows"})
    return build_dataset(spec, root)


def _record(summary: dict, run_dir: Path, attribute: str) -> dict:
    synthesis = summary.get("synthesis", {})
    return {**pooled(run_dir, attribute),
            "min_distance": {c: r["min-distance"] for c, r in synthesis.items()},
            "synthesis_seconds": {c: round(r["seconds"], 2) for c, r in synthesis.items()},
            "inner_failures": {c: r["inner-failures"] for c, r in synthesis.items()},
            "covariance_real": {c: r["covariance-real"] for c, r in synthesis.items()},
            "up_mb": summary["communication"]["up_bytes"] / 1e6, "down_mb": summary["communication"]["down_bytes"] / 1e6,
            "messages": summary["communication"]["messages"], "rounds": summary["rounds"]}


def table2(args: argparse.Namespace) -> dict:
    """Table 2: rho_s = 0, lambda_theta = 1e-3, k_max 1000; N_s = N (copy) and N_s = N^train,small (balanced)."""
    results = {}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for dataset, attribute, small in args.settings:
            plan = [(size, rho) for size in ("copy", small) for rho in args.rhos]
            configs = [{"strategy": "single-shot", "sensitive": attribute, "ss-size": size, "ss-rho-o": rho,
                        "ss-rho-s": 0.0, "ss-lambda-theta": 1e-3, "ss-kmax": args.kmax,
                        "out-dir": f"{work}/{dataset}-{attribute}-{size}-{rho}"} for size, rho in plan]
            started = time.perf_counter()
            summaries = _runs(dataset, configs, args)
            for (size, rho), config, summary in zip(plan, configs, summaries):
                key = f"{dataset}/{attribute}/{'N' if size == 'copy' else 'small'}/{rho:g}"
                results[key] = _record(summary, Path(config["out-dir"]), attribute)
                print(f"{key:38s} acc {results[key]['accuracy']:6.2f}  SPD {results[key]['spd']:+.4f}  "
                      f"min dist {min(results[key]['min_distance'].values()):.3f}", flush=True)
            print(f"{dataset}/{attribute}: {time.perf_counter() - started:.0f} s", flush=True)
    return results


def grid(args: argparse.Namespace) -> dict:
    """Fig. 2: accuracy, covariance and SPD over (rho_o, rho_s) on Law / race, N_s = N, lambda_theta = 1e-4."""
    plan = [(ro, rs) for rs in args.grid for ro in args.grid]
    results = {}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        configs = [{"strategy": "single-shot", "sensitive": "race", "ss-size": "copy", "ss-rho-o": ro, "ss-rho-s": rs,
                    "ss-lambda-theta": 1e-4, "ss-kmax": args.kmax, "out-dir": f"{work}/{ro}-{rs}"} for ro, rs in plan]
        for (ro, rs), config, summary in zip(plan, configs, _runs("law", configs, args)):
            key = f"rho_o={ro:g}/rho_s={rs:g}"
            results[key] = _record(summary, Path(config["out-dir"]), "race")
            print(f"{key:24s} acc {results[key]['accuracy']:6.2f}  SPD {results[key]['spd']:+.4f}  cov "
                  f"{np.mean(list(results[key]['covariance_real'].values())):+.4f}", flush=True)
    return results


def versus(args: argparse.Namespace) -> dict:
    """FedAvg and FairFed (logistic regression, R rounds) against single-shot (rho_o = 10) on Law / race."""
    base = {"sensitive": "race", "model": "logreg"}
    runs = {"fedavg": {"strategy": "fedavg", "rounds": args.rounds},
            "fairfed": {"strategy": "fairfed", "rounds": args.rounds, "fairness": "sp"},
            "single-shot (N_s = N)": {"strategy": "single-shot", "ss-size": "copy"},
            "single-shot (N_s = 800)": {"strategy": "single-shot", "ss-size": "800"}}
    results = {}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        configs = [{**base, **run, "out-dir": f"{work}/{k}"} for k, (name, run) in enumerate(runs.items())]
        for name, config, summary in zip(runs, configs, _runs("law", configs, args)):
            results[name] = _record(summary, Path(config["out-dir"]), "race")
            results[name]["mean_sp"] = summary["mean"]["fairness"]["race"]["sp"]
            r = results[name]
            print(f"{name:24s} acc {r['accuracy']:6.2f}  SPD {r['spd']:+.4f}  rounds {r['rounds']}  "
                  f"up {r['up_mb']:.3f} MB  down {r['down_mb']:.3f} MB  messages {r['messages']}", flush=True)
    return results


def speed(args: argparse.Namespace) -> dict:
    """One Law client's synthesis (8,319 rows, k_max 1000), N_s = N and N_s = 800."""
    from fedfair.data import load_client
    from fedfair.singleshot import SynthesisConfig, initial_synthetic, synthesize

    client = load_client(str(_dataset("law", args)), "0")
    s = (client.train.sensitive["race"] == 1).astype(float)
    y = np.where(client.train.y > 0, 1.0, -1.0)
    a = np.column_stack([client.train.x.astype(float), np.ones(len(y))])
    out = {}
    for size in ("copy", 800):
        a_hat, s_hat, y_hat, free = initial_synthetic(a, s, y, size, np.random.default_rng(0))
        result = synthesize(a, s, y, a_hat, s_hat, y_hat, free, SynthesisConfig(kmax=args.kmax))
        out[str(size)] = {"rows": len(y), "synthetic": len(s_hat), "seconds": result.seconds,
                          "inner_failures": result.inner_failures}
        print(f"synthesis of {len(s_hat)} rows from {len(y)} ({a.shape[1]} columns with the intercept), k_max "
              f"{args.kmax}: {result.seconds:.2f} s", flush=True)
    return out


def _table2_markdown(result: dict) -> str:
    lines = ["| dataset / attribute | N_s | rho_o | accuracy (%) | SPD | min distance |", "|---|---|---|---|---|---|"]
    for key, r in result.items():
        dataset, attribute, size, rho = key.split("/")
        lines.append(f"| {dataset} / {attribute} | {size} | {rho} | {r['accuracy']:.2f} | {r['spd']:+.4f} | "
                     f"{min(r['min_distance'].values()):.3f} |")
    return "\n".join(lines)


def _grid_markdown(result: dict) -> str:
    lines = ["| rho_o / rho_s | accuracy (%) | SPD | covariance (real, mean over clients) |", "|---|---|---|---|"]
    for key, r in result.items():
        lines.append(f"| {key} | {r['accuracy']:.2f} | {r['spd']:+.4f} | "
                     f"{np.mean(list(r['covariance_real'].values())):+.4f} |")
    return "\n".join(lines)


def _versus_markdown(result: dict) -> str:
    lines = ["| method | accuracy (%) | SPD | rounds | up (MB) | down (MB) | messages |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result.items():
        lines.append(f"| {name} | {r['accuracy']:.2f} | {r['spd']:+.4f} | {r['rounds']} | {r['up_mb']:.3f} | "
                     f"{r['down_mb']:.3f} | {r['messages']} |")
    return "\n".join(lines)


def _speed_markdown(result: dict) -> str:
    lines = ["| N_s | real rows | synthetic rows | seconds | inner failures |", "|---|---|---|---|---|"]
    for size, r in result.items():
        lines.append(f"| {size} | {r['rows']} | {r['synthetic']} | {r['seconds']:.2f} | {r['inner_failures']} |")
    return "\n".join(lines)


RUNS = {"table2": table2, "grid": grid, "versus": versus, "speed": speed}
MARKDOWN = {"table2": _table2_markdown, "grid": _grid_markdown, "versus": _versus_markdown, "speed": _speed_markdown}


def render_markdown(what: str, result: dict) -> str:
    """The markdown table of one experiment, from its results JSON alone (a smoke run's ``smoke`` key skipped)."""
    return MARKDOWN[what]({k: v for k, v in result.items() if k != "smoke"})


def run_experiment(what: str, args: argparse.Namespace) -> Path:
    """Run ``what``, write args.out/single_shot_<what>_results.json, print the table rendered from that file."""
    result = RUNS[what](args)
    if args.smoke:
        result["smoke"] = True
    path = args.out / f"single_shot_{what}_results.json"
    path.write_text(json.dumps(result, indent=1, sort_keys=True))
    print(render_markdown(what, json.loads(path.read_text())), flush=True)  # from the JSON: it can be regenerated
    return path


def smoke(args: argparse.Namespace) -> None:
    """Every experiment (or ``args.what``) at SMOKE's sizes on the offline stand-ins, every file under args.smoke;
    bench_single_shot.md holds the tables rendered from the JSON files."""
    out = args.smoke.expanduser().resolve()
    vars(args).update(SMOKE, data_root=None, out=out, work=out / "work")
    shutil.rmtree(args.work, ignore_errors=True)  # an earlier smoke run's stand-ins may have other sizes
    args.work.mkdir(parents=True)
    sections = []
    for what in [args.what] if args.what else EXPERIMENTS:
        path = run_experiment(what, args)
        sections.append(f"## {what}\n\n{render_markdown(what, json.loads(path.read_text()))}\n")
    (out / f"{Path(__file__).stem}.md").write_text("\n".join(sections))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=EXPERIMENTS, help="the experiment (required unless --smoke)")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="run all four experiments (or only WHAT) on tiny offline stand-ins for Law and Adult "
                             "(synthetic-acs rows) in seconds; write every file into DIR")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--kmax", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    if args.smoke is not None:
        smoke(args)
        return
    if args.what is None:
        parser.error("the following arguments are required: what (or --smoke DIR)")
    vars(args).update(out=OUT, work=None, rhos=RHOS, grid=GRID, settings=SETTINGS)  # work None: the system's temp
    run_experiment(args.what, args)


if __name__ == "__main__":
    main()
