"""Seed 002 Section 5 (Figs. 5-7): FedAvg vs FedAvg + PUFFLE on FeDa4Fair's silo releases, per client.

    python benchmarks/bench_puffle.py --rounds 20
    python benchmarks/bench_puffle.py --table --rounds 20   # FedAvg / IFCA / FairFed x none / FairIF / PUFFLE
    python benchmarks/bench_puffle.py --smoke DIR           # seconds: both, on offline stand-in releases, into DIR

For the attribute-silo and value-silo releases in ``--data`` (default ../shared/data/feda4fair): build the
federation (csv-dir, label PINCP, sensitive SEX and RAC1P; 70 / 15 / 15 splits), audit each client with a
local XGBoost model (its DD per attribute on its test split), run FedAvg and FedAvg + PUFFLE (SEX, target
DD 0.05), and compare each client's DD under the FL model with its local XGBoost DD: one scatter per
(release, method) with SEX and RACE, counts of clients whose DD rose, and whether PUFFLE lowers SEX DD for
every client. Writes benchmarks/puffle_results.json and benchmarks/puffle_figures/ (``--table``:
benchmarks/mitigation_table_results.json) and prints the markdown rendered from the JSON (``render_markdown``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_feda4fair import write_standin_releases  # noqa: E402 (--smoke: the same stand-in releases)
from fedfair.partitioners.audit import audit_dataset  # noqa: E402
from fedfair.partitioners.builder import BuildSpec, build_dataset  # noqa: E402

OUT = REPO / "benchmarks"
FIGURES = OUT / "puffle_figures"
# --smoke: no per-run figures (about a second each; the script draws its own scatter from the summaries)
SMOKE_RUN = {"plots": False}
RELEASES = {"attribute-silo": ("cross_silo_attribute_final", {}), "value-silo": ("cross_silo_value_final", {"RAC1P": "race-5"})}
ATTRIBUTES = ("SEX", "RAC1P")


def build(data: Path, work: Path, release: str) -> Path:
    folder, labels = RELEASES[release]
    root = work / folder
    if not (root / "manifest.json").is_file():
        build_dataset(BuildSpec(source="csv-dir", source_options={"path": str(data / folder)}, label="PINCP",
                                sensitive=list(ATTRIBUTES), value_labels=labels, seed=0), root)
    return root


def local_dd(root: Path, work: Path, jobs: int | None = None) -> dict[str, dict[str, float]]:
    """{client: {attribute: DD of its local XGBoost model on its test split}} (``jobs``: audit worker processes)."""
    table = audit_dataset(root, work / f"{root.name}-audit", models="xgb", plots=False, jobs=jobs).table
    rows = table[table["model"] == "xgb"]
    return {str(r["client"]): {a: float(r[f"dd_{a}"]) for a in ATTRIBUTES} for _, r in rows.iterrows()}


def run(args: argparse.Namespace) -> dict:
    from fedfair.api import run_configs

    work = Path(args.work)
    result: dict = {"rounds": args.rounds, "seed": args.seed, "releases": {}}
    for release in RELEASES:
        root = build(Path(args.data), work, release)
        # smoke: audit in this process (worker processes cost more than auditing a few small states)
        local = local_dd(root, work, jobs=1 if args.smoke else None)
        base = {"strategy": "fedavg", "dataset": str(root), "rounds": args.rounds, "seed": args.seed, "model": "mlp",
                "hidden": "32", "lr": args.lr, "batch-size": 64, "local-epochs": 1, "sensitive": "SEX",
                **(SMOKE_RUN if args.smoke else {})}
        configs = [{**base, "out-dir": str(work / f"{release}-fedavg")},
                   {**base, "mitigation": "puffle", "puffle-target": 0.05, "out-dir": str(work / f"{release}-puffle")}]
        fedavg, puffle = run_configs(configs, echo=False, keep_going=False)
        per_method = {}
        for name, summary in (("FedAvg", fedavg), ("FedAvg + PUFFLE", puffle)):
            clients = {c["client"]: c for c in summary["clients"]}
            fl = {c: {a: clients[c]["fairness"][a]["sp"] for a in ATTRIBUTES} for c in clients}
            per_method[name] = {"fl_dd": fl, "accuracy": {c: clients[c]["accuracy"] for c in clients},
                                "rose": {a: int(sum(fl[c][a] > local[c][a] for c in fl if c in local)) for a in ATTRIBUTES}}
        result["releases"][release] = {"local_dd": local, "methods": per_method, "clients": len(local)}
        scatter(release, local, per_method, Path(args.figures))
    result["value_level"] = value_level(work)
    return result


def table(args: argparse.Namespace) -> dict:
    """One table on the attribute-silo release: FedAvg, IFCA and FairFed, each without a mitigation, with
    FairIF and with PUFFLE (sensitive SEX): mean and worst-client accuracy, mean SP and EqOp per attribute."""
    from fedfair.api import run_configs

    work = Path(args.work)
    root = build(Path(args.data), work, "attribute-silo")
    clients = len(__import__("fedfair.data", fromlist=["read_manifest"]).read_manifest(root).client_names)
    base = {"dataset": str(root), "rounds": args.rounds, "seed": args.seed, "model": "mlp", "hidden": "32",
            "lr": args.lr, "batch-size": 64, "local-epochs": 1, "sensitive": "SEX", **(SMOKE_RUN if args.smoke else {})}
    lineup = [(s, m) for s in ("fedavg", "ifca", "fairfed") for m in ("none", "fairif", "puffle")]
    configs = [{**base, "strategy": s, "mitigation": m, "out-dir": str(work / f"table-{s}-{m}")} for s, m in lineup]
    summaries = run_configs(configs, echo=False, keep_going=False)
    rows = {}
    for (strategy, mitigation), summary in zip(lineup, summaries):
        acc = [c["accuracy"] for c in summary["clients"]]
        fair = summary["mean"]["fairness"]
        row = {"mean_accuracy": float(np.mean(acc)), "worst_accuracy": float(np.min(acc)),
               **{f"{m}_{a}": fair[a][m] for a in ATTRIBUTES for m in ("sp", "eqop")},
               "fallbacks": len(summary.get("mitigation", {}).get("fallbacks", {}))}
        rows[f"{strategy}+{mitigation}"] = row
    return {"rounds": args.rounds, "seed": args.seed, "clients": clients, "rows": rows}


def mitigation_table(result: dict) -> list[str]:
    """Markdown lines of :func:`table`'s JSON: one row per strategy + mitigation."""
    lines = ["| strategy | mitigation | mean acc | worst-client acc | SP SEX | EqOp SEX | SP RAC1P | EqOp RAC1P "
             "| fallbacks |", "|---|---|---|---|---|---|---|---|---|"]
    for key, row in result["rows"].items():
        strategy, mitigation = key.split("+")
        lines.append(f"| {strategy} | {mitigation} | {row['mean_accuracy']:.4f} | {row['worst_accuracy']:.4f} | "
                     f"{row['sp_SEX']:.4f} | {row['eqop_SEX']:.4f} | {row['sp_RAC1P']:.4f} | {row['eqop_RAC1P']:.4f} | "
                     f"{row['fallbacks']} |")
    return lines


def disadvantaged_values(run_dir: Path) -> dict[str, str]:
    """{client: the RAC1P value of its max-DD pair with the lower selection rate} in a run's last round."""
    from fedfair.metrics import GroupCounts, fairness_from_counts
    from fedfair.partitioners.audit import disadvantaged_value

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = max(r["round"] for r in rows if r.get("stage") == "evaluate")
    out = {}
    for r in rows:
        if r.get("stage") == "evaluate" and r["round"] == last:
            group = r["groups"]["RAC1P"]
            table = GroupCounts(list(group["values"]), np.asarray(group["counts"]))
            value = disadvantaged_value(table, fairness_from_counts(table, with_pairs=False)["sp_pair"], "sp")
            out[r["client"]] = "" if value is None else str(value)
    return out


def value_level(work: Path) -> dict[str, dict[str, int]]:
    """Value-silo (seed 002 Table 5 / Fig. 7): how many clients have each RAC1P value as the disadvantaged value
    of their max DD, for the local XGBoost models, FedAvg and FedAvg + PUFFLE."""
    import pandas as pd

    audit = pd.read_csv(work / "cross_silo_value_final-audit" / "audit.csv")
    local = audit[audit["model"] == "xgb"].drop_duplicates("client").set_index("client")["dd_RAC1P_value"]
    counts = {"local XGBoost": local.dropna().astype(int).astype(str).value_counts().to_dict()}
    for name, folder in (("FedAvg", "value-silo-fedavg"), ("FedAvg + PUFFLE", "value-silo-puffle")):
        values = disadvantaged_values(work / folder)
        counts[name] = pd.Series([v for v in values.values() if v]).value_counts().to_dict()
    return counts


def value_table(counts: dict[str, dict[str, int]]) -> list[str]:
    """Markdown lines of :func:`value_level`'s counts: one row per model, one column per RAC1P value."""
    labels = sorted({v for c in counts.values() for v in c}, key=int)
    lines = ["| RAC1P value (disadvantaged, max DD) | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, c in counts.items():
        lines.append(f"| {name} | " + " | ".join(str(c.get(v, 0)) for v in labels) + " |")
    return lines


def scatter(release: str, local: dict, per_method: dict, figures: Path = FIGURES) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(per_method), figsize=(10, 4.4), sharex=True, sharey=True)
    for ax, (name, entry) in zip(axes, per_method.items()):
        for attr, colour in zip(ATTRIBUTES, ("tab:blue", "tab:orange")):
            xs = [local[c][attr] for c in entry["fl_dd"] if c in local]
            ys = [entry["fl_dd"][c][attr] for c in entry["fl_dd"] if c in local]
            ax.scatter(xs, ys, s=14, color=colour, label=attr)
        top = max(0.05, ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([0, top], [0, top], color="grey", linewidth=0.8)
        ax.set_title(f"{release}: {name}")
        ax.set_xlabel("DD of the local XGBoost model")
        ax.set_ylabel("DD of the FL model (above the diagonal: DD rose)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figures / f"{release}_dd.png", dpi=120)
    plt.close(fig)


def report(result: dict) -> list[str]:
    """Markdown lines of :func:`run`'s JSON: accuracy, mean DD and DD rises per release and method."""
    lines = ["| release | method | mean accuracy | mean DD SEX | mean DD RAC1P | clients with DD up vs local XGBoost "
             "(SEX / RAC1P) |", "|---|---|---|---|---|---|"]
    for release, entry in result["releases"].items():
        for name, method in entry["methods"].items():
            dd = method["fl_dd"]
            means = [np.nanmean([d[a] for d in dd.values()]) for a in ATTRIBUTES]
            rose = f"{method['rose']['SEX']} / {method['rose']['RAC1P']} of {entry['clients']}"
            lines.append(f"| {release} | {name} | {np.mean(list(method['accuracy'].values())):.4f} | {means[0]:.4f} | "
                         f"{means[1]:.4f} | {rose} |")
        fedavg, puffle = entry["methods"]["FedAvg"]["fl_dd"], entry["methods"]["FedAvg + PUFFLE"]["fl_dd"]
        lower = {a: sum(puffle[c][a] < fedavg[c][a] for c in puffle) for a in ATTRIBUTES}
        lines.append(f"| {release} | PUFFLE vs FedAvg | | clients with lower SEX DD: {lower['SEX']} of {len(puffle)} | "
                     f"lower RAC1P DD: {lower['RAC1P']} | |")
    return lines


def render_markdown(result: dict) -> str:
    """The markdown of a results JSON: :func:`table`'s (``rows``) or :func:`run`'s (per release, then the
    value-level counts)."""
    if "rows" in result:
        return "\n".join(mitigation_table(result)) + "\n"
    return "\n".join(report(result) + [""] + value_table(result["value_level"])) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "feda4fair"))
    parser.add_argument("--work", default="/tmp/fedfair-bench/puffle")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", action="store_true", help="the strategy x mitigation table instead")
    parser.add_argument("--values-only", action="store_true", help="recompute the value-level counts from --work")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="both experiments (the per-client DD run and --table), 2 rounds, on offline stand-in "
                             "releases (4 states x ~150 SYNTHETIC rows, written to DIR/data); builds, audits, runs, "
                             "figures, puffle_results.json, mitigation_table_results.json and bench_puffle.md all go "
                             "under DIR")
    args = parser.parse_args(argv)
    args.smoke = args.smoke and args.smoke.resolve()  # paths in run configs are absolute
    args.figures = FIGURES
    if args.smoke:
        smoke(args)
        return
    if args.values_only:
        result = json.loads((OUT / "puffle_results.json").read_text())
        result["value_level"] = value_level(Path(args.work))
        (OUT / "puffle_results.json").write_text(json.dumps(result, indent=1) + "\n")
        print(render_markdown(json.loads((OUT / "puffle_results.json").read_text())))
        return
    result = table(args) if args.table else run(args)
    path = OUT / ("mitigation_table_results.json" if args.table else "puffle_results.json")
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(render_markdown(json.loads(path.read_text())))
    print(f"wrote {path}")


def smoke(args: argparse.Namespace) -> None:
    """--smoke DIR: :func:`run` and :func:`table` on stand-in releases, 2 rounds; every file under DIR."""
    directory = args.smoke
    args.data, args.work = str(write_standin_releases(directory / "data")), str(directory / "work")
    args.figures, args.rounds = directory / "puffle_figures", 2
    texts = []
    for experiment, name in ((run, "puffle_results.json"), (table, "mitigation_table_results.json")):
        (directory / name).write_text(json.dumps({**experiment(args), "smoke": True}, indent=1) + "\n")
        texts.append(render_markdown(json.loads((directory / name).read_text())))
    (directory / f"{Path(__file__).stem}.md").write_text("\n".join(texts))
    print("\n".join(texts))
    print(f"wrote {directory}")


if __name__ == "__main__":
    main()
