"""The README's picture, drawn from a real small run: every client's accuracy and SP gap under FedAvg,
Fair-FCA and FedFB on a federation with controlled client-level bias.

The run is the one of docs/tutorials/ten-minutes.md: the offline synthetic-acs source (SYNTHETIC data with
the ACSIncome schema), six states, 90 % of the women's positive labels dropped in CA, TX and NY; 10 rounds,
lr 0.1, seed 0, FedFB with fedfb-alpha=2. About 5 s of CPU time on 2 cores.

    python scripts/readme_picture.py                      # writes docs/assets/readme/per-client.png + .json
    python scripts/readme_picture.py --out /tmp/picture   # elsewhere
    python scripts/readme_picture.py --compare runs/compare --out /tmp/picture
        # drawn from the comparison the tutorial ran (its entries, rounds, seed and lr are checked first);
        # tests/test_tutorials.py does this and compares the numbers with docs/assets/readme/per-client.json

The JSON holds every number drawn (per client and strategy: accuracy, SP gap and their 95 % bootstrap
intervals) and the settings, so the picture can be checked against the run it comes from.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "assets" / "readme"

BIASED = ("CA", "TX", "NY")  # states whose women's positive labels are 90 % dropped
SPEC = {
    "source": "synthetic-acs",
    "source_options": {"states": ["CA", "TX", "NY", "FL", "OH", "WA"], "rows_per_state": 600},
    "sensitive": ["SEX"],
    "modifications": [{"client": state, "attribute": "SEX", "value": 2, "drop_rate": 0.9} for state in BIASED],
}
ENTRIES = ["fedavg", "fair-fca", "fedfb@fedfb-alpha=2"]
LABELS = {"fedavg": "FedAvg", "fair-fca": "Fair-FCA", "fedfb@fedfb-alpha=2": "FedFB (alpha 2)"}
SETTINGS = {"seeds": 1, "rounds": 10, "lr": 0.1}


def run(work: Path) -> dict:
    """Build the federation, compare the three strategies, return the per-client numbers."""
    import fedfair

    dataset = fedfair.build_dataset(SPEC, work / "acs-biased")
    comparison = fedfair.compare(ENTRIES, dataset, seeds=SETTINGS["seeds"], rounds=SETTINGS["rounds"],
                                 lr=SETTINGS["lr"], out=work / "compare")
    return numbers_of({entry: comparison.runs[entry][0] for entry in ENTRIES})


def read_comparison(folder: Path) -> dict:
    """The per-client numbers of a finished comparison of these entries and settings (e.g. the tutorial's)."""
    import fedfair
    from fedfair.comparison import safe_name

    runs = {entry: fedfair.load_run(folder / "runs" / f"{safe_name(entry)}-seed0") for entry in ENTRIES}
    for entry, result in runs.items():
        settings = (int(result.config["rounds"]), int(result.config["seed"]), float(result.config["lr"]))
        if not result.complete or settings != (SETTINGS["rounds"], 0, SETTINGS["lr"]):
            raise SystemExit(f"{folder}: {entry} is not a complete run of {SETTINGS['rounds']} rounds, seed 0, "
                             f"lr {SETTINGS['lr']}")
    return numbers_of(runs)


def numbers_of(runs: dict) -> dict:
    """Per client and strategy: accuracy, SP gap and their intervals; the means over clients."""
    clients: dict[str, dict[str, list]] = {}
    for entry in ENTRIES:
        table = runs[entry].clients
        clients[entry] = {key: [None if v != v else round(float(v), 4) for v in table[key]]  # NaN -> None
                          for key in ("accuracy", "accuracy_lo", "accuracy_hi", "sp_SEX", "sp_SEX_lo", "sp_SEX_hi")}
        clients[entry]["client"] = [str(c) for c in table["client"]]
    means = {entry: {"accuracy": round(float(runs[entry].mean["accuracy"]), 4),
                     "sp_SEX": round(float(runs[entry].mean["fairness"]["SEX"]["sp"]), 4)} for entry in ENTRIES}
    return {"spec": SPEC, "entries": ENTRIES, "settings": SETTINGS, "biased_clients": list(BIASED),
            "clients": clients, "means": means}


def draw(numbers: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = numbers["clients"][ENTRIES[0]]["client"]
    ticks = [f"{n}*" if n in numbers["biased_clients"] else n for n in names]
    x = np.arange(len(names))
    width = 0.8 / len(ENTRIES)
    colours = ["#4c72b0", "#a1c9f4", "#dd8452"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9))
    for ax, key, title in ((axes[0], "accuracy", "local accuracy (higher = better)"),
                           (axes[1], "sp_SEX", "local SP gap on SEX (lower = fairer)")):
        for i, entry in enumerate(ENTRIES):
            row = numbers["clients"][entry]
            value = np.array([np.nan if v is None else v for v in row[key]])
            lo = np.array([np.nan if v is None else v for v in row[f"{key}_lo"]])
            hi = np.array([np.nan if v is None else v for v in row[f"{key}_hi"]])
            mean = numbers["means"][entry]
            label = f"{LABELS[entry]}: mean accuracy {mean['accuracy']:.3f}, SP {mean['sp_SEX']:.3f}"
            ax.bar(x + (i - 1) * width, value, width, color=colours[i], label=label,
                   yerr=[value - lo, hi - value], error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#555555"})
        ax.set_xticks(x, ticks)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylim(0.5, 1.0)
    axes[1].set_ylim(0.0, None)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(ENTRIES), fontsize=9, frameon=False)
    fig.suptitle("Every client's accuracy and SP gap (bars: 95 % bootstrap intervals). Synthetic ACS, 6 states; "
                 "* = 90 % of women's positive labels dropped", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for per-client.png and per-client.json")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the dataset and runs (default: a temporary one)")
    parser.add_argument("--compare", type=Path, default=None, help="draw from this finished comparison instead "
                        "of running one (the tutorial's runs/compare: same entries and settings)")
    args = parser.parse_args(argv)
    from fedfair.simulation import set_offline_env

    set_offline_env()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.compare is not None:
        numbers = read_comparison(args.compare)
    else:
        with tempfile.TemporaryDirectory(prefix="fedfair-readme-") as scratch:
            numbers = run(args.work or Path(scratch))
    draw(numbers, args.out / "per-client.png")
    (args.out / "per-client.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"wrote {args.out / 'per-client.png'} and per-client.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
