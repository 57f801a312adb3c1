"""The report of `fedfair bench feda4fair --seeds 2` (benchmarks/bench_suite_feda4fair.md), generated from its data.

    fedfair bench feda4fair --seeds 2 --data-root ../shared/data --out OUT     # under /usr/bin/time -v > TIME
    python benchmarks/suite_report.py --from OUT --time TIME [--load-before F --load-after F]
    python benchmarks/suite_report.py --render    # the markdown again from the committed JSON alone

``--from`` reads what the suite wrote (OUT/bench.json; per release OUT/<release>/results.json and table.md),
the command's wall time, peak RSS and CPU share from ``/usr/bin/time -v``'s output and the machine's load
average before and after (``/proc/loadavg`` copies), and writes benchmarks/bench_suite_feda4fair/: bench.json
(the suite's own), <release>-table.md (compare's tables) and suite_results.json (the facts below); then the
markdown, which :func:`render_markdown` makes from suite_results.json alone (tests/test_bench_smoke.py checks
the committed markdown is exactly that: :func:`reports`). Nothing in the report is typed by hand but the fixed text below.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

from reporting import write_reports

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "benchmarks" / "bench_suite_feda4fair"
RESULTS = FOLDER / "suite_results.json"
REPORT = REPO / "benchmarks" / "bench_suite_feda4fair.md"
COMMAND = "fedfair bench feda4fair --seeds 2 --data-root ../shared/data --out OUT"
BEFORE_SECONDS = 5554  # issue 31: the same command before the in-process engine (Ray, 93 min)
RELEASES = ("attribute-silo", "value-silo", "attribute-device", "value-device")


def time_facts(text: str) -> dict[str, Any]:
    """Wall seconds, peak RSS (GB) and CPU share (%) from ``/usr/bin/time -v``'s output."""
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", text)
    hours, minutes, seconds = (float(g or 0) for g in wall.groups()) if wall else (0, 0, 0)
    return {"wall_seconds": hours * 3600 + minutes * 60 + seconds if wall else None,
            "peak_rss_gb": int(rss.group(1)) / 1e6 if rss else None, "cpu_percent": int(cpu.group(1)) if cpu else None}


def release_facts(folder: Path) -> dict[str, Any]:
    """One release's entries from compare's results.json: accuracy and SP per attribute (mean over seeds), the
    paired differences from FedAvg whose interval excludes 0, convergence and mechanism checks."""
    data = json.loads((folder / "results.json").read_text())
    entries = []
    for row in data["rows"]:
        checks = row.get("checks") or {}
        entries.append({
            "label": row["label"], "failed": row.get("failed", 0), "accuracy": row["accuracy"][0],
            "sp": {attr: values["sp"][0] for attr, values in sorted(row["fairness"].items())},
            "differs": list(row.get("differs") or []),
            "still_improving_seeds": len(checks.get("still_improving") or []), "seeds": checks.get("seeds"),
            "inactive": list(checks.get("inactive") or []),
        })
    return {"entries": entries, "seeds": data["meta"]["seeds"], "rounds": data["meta"]["rounds"],
            "dataset": Path(data["meta"]["dataset"]).name}


def collect(out: Path, time_text: str, load_before: str | None, load_after: str | None) -> dict[str, Any]:
    """suite_results.json's content from a finished suite directory ``out`` (and copy its tables)."""
    meta = json.loads((out / "bench.json").read_text())
    FOLDER.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "bench.json", FOLDER / "bench.json")
    releases = {}
    for name in RELEASES:
        if name not in meta["datasets"]:
            continue
        shutil.copyfile(out / name / "table.md", FOLDER / f"{name}-table.md")
        runs = meta["datasets"][name]["runs"]
        releases[name] = {**release_facts(out / name), "clients": meta["datasets"][name]["clients"],
                          "run_seconds": round(sum(r.get("wall_seconds") or 0 for r in runs), 1),
                          "failed_runs": sum(r.get("state") == "failed" for r in runs)}
    load = [[float(x) for x in text.split()[:3]] if text else None for text in (load_before, load_after)]
    return {"command": COMMAND, "runs": meta["runs"], "rounds": meta["rounds"], "seeds": meta["seeds"],
            "overrides": meta["overrides"], "run_seconds": meta["run_seconds"], **time_facts(time_text),
            "load_before": load[0], "load_after": load[1], "before_seconds": BEFORE_SECONDS, "releases": releases}


def _best(entries: list[dict[str, Any]], key: Any, lowest: bool) -> dict[str, Any]:
    return (min if lowest else max)(entries, key=key)


def summary_rows(result: dict[str, Any]) -> list[str]:
    """Per release: FedAvg's accuracy and SP gaps, the most accurate entry, the lowest SP per attribute."""
    lines = []
    for name, release in result["releases"].items():
        entries = release["entries"]
        fedavg = next(e for e in entries if e["label"] == "fedavg")
        attrs = sorted(fedavg["sp"])
        best = _best(entries, lambda e: e["accuracy"], lowest=False)
        cells = [f"{fedavg['accuracy']:.3f}, " + " / ".join(f"{fedavg['sp'][a]:.3f}" for a in attrs),
                 f"{best['label']} {best['accuracy']:.3f}"]
        for attr in attrs:
            low = _best(entries, lambda e, a=attr: e["sp"][a], lowest=True)
            mark = " *" if f"sp:{attr}" in low["differs"] else ""
            cells.append(f"{low['label']} {low['sp'][attr]:.3f}{mark} (acc. {low['accuracy']:.3f})")
        lines.append(f"| {name} | {release['clients']} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(result: dict[str, Any]) -> str:
    """The report, from suite_results.json's content alone."""
    releases = result["releases"]
    attrs = sorted(next(iter(releases.values()))["entries"][0]["sp"]) if releases else []
    wall = result["wall_seconds"]
    load = lambda v: "not recorded" if not v else ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    per_release = "; ".join(f"{n} {r['run_seconds']:,.0f} s ({r['clients']} clients)" for n, r in releases.items())
    cells = sum(len(e["differs"]) for r in releases.values() for e in r["entries"])
    compared = sum(len(r["entries"]) - 1 for r in releases.values())
    still = [(n, e["label"], e["still_improving_seeds"], e["seeds"]) for n, r in releases.items()
             for e in r["entries"] if e["still_improving_seeds"]]
    inactive = [(n, e["label"], "; ".join(e["inactive"])) for n, r in releases.items() for e in r["entries"]
                if e["inactive"]]
    out = [
        f"# `fedfair bench feda4fair --seeds {len(result['seeds'])}`: the four FeDa4Fair releases x seven families "
        f"x three mitigations",
        "",
        "Generated by `python benchmarks/suite_report.py` from "
        "[bench_suite_feda4fair/suite_results.json](bench_suite_feda4fair/suite_results.json) (do not edit by hand).",
        "",
        "```bash",
        f"{result['command']}",
        "```",
        "",
        f"{result['runs']['ran'] + result['runs']['reused']} runs ({len(releases)} releases x 21 entries x seeds "
        f"{', '.join(map(str, result['seeds']))}), {result['rounds']} rounds each, {result['runs']['failed']} failed, "
        f"offline, on a 2-core machine: **{wall:,.0f} s ({wall / 60:.1f} min) wall** for the whole command "
        f"({result['before_seconds'] / wall:.1f}x faster than the {result['before_seconds']:,} s measured before the "
        f"in-process engine), of which the runs' own wall time is {result['run_seconds']:,.0f} s (per release: "
        f"{per_release}); peak RSS {result['peak_rss_gb']:.2f} GB, {result['cpu_percent']} % of one core. Load "
        f"average (1, 5, 15 min) before: {load(result['load_before'])}; after: {load(result['load_after'])} (other "
        f"jobs shared the machine: the time is an upper bound; the engine's speed-up is measured on a quieter machine "
        f"in [suite_speed_results.json](suite_speed_results.json)).",
        "",
        f"Settings (the suite's): each release built once with csv-dir (label PINCP, sensitive SEX then RAC1P, "
        f"70 / 15 / 15 splits per state or state part, at most 1,000 training and 500 test rows per client; the ACS "
        f"code columns COW and SCHL one-hot with categories shared by all clients, every column z-scored over the "
        f"federation: dataset folders tagged `onehot-zscore`), {result['overrides']['model'].upper()} "
        f"({result['overrides']['hidden']}), lr {result['overrides']['lr']}, batch {result['overrides']['batch-size']}, "
        f"1 local epoch, every strategy and mitigation at its defaults (FairIF after round 5, PUFFLE target DD 0.05 "
        f"on SEX, FedFB alpha 0.3 on SEX). Files: `bench_suite_feda4fair/<release>-table.md` (compare's table per "
        f"release: mean ± std over seeds, 95 % two-level bootstrap intervals, paired differences from FedAvg), "
        f"`bench_suite_feda4fair/bench.json` (per run its state and wall time). `OUT/report.html` (the HTML report "
        f"with every figure) is not kept in the repository: the command writes it.",
        "",
        "**Status.** Not a paper reproduction: no row tests a claim of the five papers. "
        f"{len(result['seeds'])} seeds: a `*` (a paired interval from FedAvg that excludes 0) is what these seeds "
        f"and clients show, not a claim that one entry beats another (fedfair's reports make those from 5 seeds). "
        "Every entry runs at untuned defaults.",
        "",
        "## Per release",
        "",
        "Mean over seeds and clients of the local accuracy and local SP gap (" + " / ".join(attrs) + "); `*`: the "
        "paired difference from FedAvg excludes 0.",
        "",
        "| release | clients | FedAvg: accuracy, SP " + " / ".join(attrs) + " | best accuracy | "
        + " | ".join(f"lowest {a} SP" for a in attrs) + " |",
        "|---|---|---|---|" + "---|" * len(attrs),
        *summary_rows(result),
        "",
        f"Of the {compared} entries compared with FedAvg on accuracy and {3 * len(attrs)} gaps (SP, EqOp, EO per "
        f"attribute), {cells} cells have a paired interval that excludes 0 (the `*` of the tables).",
        "",
        "## Convergence and mechanisms",
        "",
    ]
    if still:
        out.append(f"{len(still)} of {compared + len(releases)} entries were **still improving** at round "
                   f"{result['rounds']} (validation accuracy still rising over the last rounds) in at least one "
                   f"seed: their numbers are those of models not yet converged, and differences between entries "
                   f"may come from that alone. Entries (release: entry, seeds still improving):")
        out.append("")
        for name in releases:
            listed = [f"{label} {k}/{n}" for r, label, k, n in still if r == name]
            if listed:
                out.append(f"- {name}: " + ", ".join(listed))
    else:
        out.append(f"Every entry had stopped improving by round {result['rounds']}.")
    out.append("")
    if inactive:
        out.append("Mechanisms that never acted (flagged in the tables' mechanism column):")
        out.extend(f"- {name}: {label}: {why}" for name, label, why in inactive)
    else:
        out.append("No entry's mechanism was flagged inactive by compare's checks (CFL-like splits, fairness "
                   "multipliers that never moved).")
    out.extend(["", "Tables (in the repository): " + ", ".join(f"`benchmarks/bench_suite_feda4fair/{n}-table.md`"
                                                        for n in releases) + "."])
    return "\n".join(out) + "\n"


def reports(folder: Path) -> dict[str, str]:
    """{report file name: markdown} rendered from the committed JSON in ``folder`` (tests/test_bench_smoke.py)."""
    result = json.loads((Path(folder) / FOLDER.name / RESULTS.name).read_text())
    return {REPORT.name: render_markdown(result)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, help="the suite's output directory (OUT)")
    parser.add_argument("--time", type=Path, help="/usr/bin/time -v's output of the command")
    parser.add_argument("--load-before", type=Path)
    parser.add_argument("--load-after", type=Path)
    parser.add_argument("--render", action="store_true", help="only the markdown, from the committed JSON")
    args = parser.parse_args(argv)
    if not args.render:
        if not args.source or not args.time:
            parser.error("give --from OUT and --time FILE (or --render)")
        read = lambda p: p.read_text() if p else None  # noqa: E731
        result = collect(args.source, args.time.read_text(), read(args.load_before), read(args.load_after))
        RESULTS.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    write_reports(reports(REPORT.parent), REPORT.parent)


if __name__ == "__main__":
    main()
