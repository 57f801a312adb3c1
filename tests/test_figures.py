"""Figures (issue 30, "Pictures"): a run directory holds the over-rounds figures and the bench report shows
them; one palette with a stable colour per strategy and task; the intervals drawn are the tables'; bars from 0;
audit figures name the values and draw the threshold and EOD; ``--format svg`` writes SVG files."""

from __future__ import annotations

import csv
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgb
from typer.testing import CliRunner

import fedfair.figures as figures
from fedfair.bench_report import DatasetResult, distribution_figure, over_rounds_html, worst_client_figure
from fedfair.bench_report import Output, communication_figure
from fedfair.cli import app
from fedfair.comparison import summarise, write_outputs
from fedfair.figures import PALETTE, colour, colour_map, weight_series
from fedfair.registry import STRATEGIES
from fedfair.results import (allocation_figure, round_intervals, round_series, task_accuracy_figure, task_series)


@pytest.fixture(scope="module")
def runs(synthetic_dir, tmp_path_factory):
    """Three-round runs of FedAvg, IFCA (two clusters) and FairFed on the synthetic 8-client dataset."""
    import fedfair.api as api

    out = tmp_path_factory.mktemp("figure-runs")
    return {name: api.run(name, synthetic_dir, rounds=3, out=out / name, num_clusters=2) if name == "ifca"
            else api.run(name, synthetic_dir, rounds=3, out=out / name) for name in ("fedavg", "ifca", "fairfed")}


@pytest.fixture
def captured(monkeypatch):
    """Figures handed to fedfair.figures.save, kept (and written nowhere) for the test to read."""
    kept = {}

    def save(fig, path, fmt="png"):
        kept[path.name] = fig
        return path

    monkeypatch.setattr(figures, "save", save)
    yield kept
    for fig in kept.values():
        figures.pyplot().close(fig)


def test_a_run_directory_holds_the_over_rounds_figures_at_150_dpi(runs):
    from PIL import Image

    plots = runs["fedavg"].plots
    assert {"accuracy_vs_fairness.png", "rounds.png", "fairness_heatmap.png"} <= set(plots)
    assert "clusters.png" not in plots and "weights.png" not in plots  # FedAvg has neither
    assert "clusters.png" in runs["ifca"].plots and "weights.png" in runs["fairfed"].plots
    assert Image.open(plots["rounds.png"]).info["dpi"] == pytest.approx((150, 150), abs=0.5)


def test_the_figures_draw_what_the_run_recorded(runs):
    """The clusters figure's cells are metrics.jsonl's clusters; the weights are FairFed's weight_history; the
    heatmap's cells the per-client SP gaps."""
    from fedfair.figures import clusters_figure, heatmap_figure

    series = round_series(runs["ifca"].out_dir / "metrics.jsonl")
    fig = clusters_figure(series, "ifca")
    cells = np.asarray(fig.axes[0].images[0].get_array())
    assert cells.T.tolist() == [[float(c) for c in row] for row in series["cluster"]]
    assert len({c for row in series["cluster"] for c in row}) == 2
    fig = heatmap_figure(series, "ifca")
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()).T, np.asarray(series["sp"]["group"], float))
    summary = runs["fairfed"].summary
    what, members = weight_series(summary)
    assert what == "FairFed aggregation weight" and set(members) == {c["client"] for c in summary["clients"]}
    assert members["1"] == [(h["round"], pytest.approx(h["clients"]["1"]["weight"])) for h in summary["weight_history"]]


def test_the_last_rounds_interval_is_the_tables(runs):
    """rounds.png's band at the last round is summary.json's interval of the mean (what the table prints)."""
    summary = runs["fedavg"].summary
    series = round_series(runs["fedavg"].out_dir / "metrics.jsonl")
    bands = round_intervals(series, summary["ci"]["level"], summary["ci"]["resamples"], summary["seed"])
    assert sorted(bands) == [0, 1, 2]
    last = bands[2]
    assert last["accuracy"] == pytest.approx(summary["mean"]["ci"]["accuracy"])
    assert last["fairness"]["group"]["sp"] == pytest.approx(summary["mean"]["ci"]["fairness"]["group"]["sp"])


def test_the_bench_report_shows_each_entrys_over_rounds_figures(runs):
    result = DatasetResult("toy", list(runs), [], [r.summary for r in runs.values()], "",
                           run_dirs=[str(r.out_dir) for r in runs.values()])
    text = over_rounds_html(result, Output())
    alts = re.findall(r'alt="([^"]*)" src="data:image/png;base64,', text)
    assert alts == ["toy fedavg rounds", "toy fedavg fairness_heatmap", "toy ifca rounds", "toy ifca fairness_heatmap",
                    "toy ifca clusters", "toy fairfed rounds", "toy fairfed fairness_heatmap", "toy fairfed weights"]


def test_one_palette_of_distinct_colours_and_one_colour_per_strategy():
    rgb = [np.array(to_rgb(c)) for c in PALETTE]
    assert len(set(PALETTE)) >= 20
    assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(rgb, 2)) >= 0.2
    assert len({colour(name) for name in STRATEGIES}) == len(STRATEGIES)  # every builtin strategy its own colour
    assert colour("ifca") != colour("fair-fca") and colour("fairfed-af") != colour("fedavg")
    mapping = colour_map(["fedavg", "fair-fca@gamma=0.3", "fedavg + PUFFLE", "my.plugin:Strategy"])
    assert mapping["fair-fca@gamma=0.3"] == colour("fair-fca") and mapping["fedavg + PUFFLE"] == colour("fedavg")
    assert mapping["my.plugin:Strategy"] not in {colour("fedavg"), colour("fair-fca")}
    tasks = ["income", "employment", "coverage"]
    assert colour_map(tasks) == colour_map(tasks[::-1]) and len(set(colour_map(tasks).values())) == 3


def _summary(seed, accuracies, gaps):
    clients = [{"client": f"c{i}", "accuracy": a, "n_test": 100, "fairness": {"SEX": {"sp": g, "eqop": g / 2, "eo": g}}}
               for i, (a, g) in enumerate(zip(accuracies, gaps))]
    return {"seed": seed, "rounds": 2, "clients": clients, "ci": {"level": 0.95, "resamples": 200},
            "mean": {"accuracy": float(np.mean(accuracies)),
                     "fairness": {"SEX": {"sp": float(np.mean(gaps)), "eqop": float(np.mean(gaps)) / 2,
                                          "eo": float(np.mean(gaps))}}},
            "communication": {"down_bytes": 2e6, "up_bytes": 1e6}}


@pytest.fixture
def compared(tmp_path, captured):
    """compare's outputs of two entries x two seeds (no runs: summaries), the figures captured."""
    labels = ["fedavg", "fedavg", "fair-fca@gamma=0.3", "fair-fca@gamma=0.3"]
    summaries = [_summary(0, [0.8, 0.7, 0.62], [0.1, 0.2, 0.05]), _summary(1, [0.82, 0.72, 0.6], [0.12, 0.18, 0.07]),
                 _summary(0, [0.75, 0.7, 0.49], [0.02, 0.04, 0.03]), _summary(1, [0.77, 0.69, 0.5], [0.03, 0.05, 0.02])]
    rows = summarise(labels, summaries)
    for row in rows:
        row["checks"] = {"curve": [[1, row["accuracy"][0] - 0.1], [2, row["accuracy"][0]]]}
    write_outputs(tmp_path, rows, summaries, {"dataset": "toy", "rounds": 2, "seeds": [0, 1],
                                              "strategies": list(dict.fromkeys(labels)), "overrides": {}})
    return tmp_path, labels, summaries, rows


def test_compares_scatter_and_table_use_the_same_interval_for_each_entry(compared, captured):
    out, *_ = compared
    with open(out / "table.csv") as handle:
        table = {r["strategy"]: r for r in csv.DictReader(handle)}
    markdown = {}  # each entry's row of the main table (the first row naming it)
    for line in (out / "table.md").read_text().splitlines():
        if line.startswith("| fedavg") or line.startswith("| fair-fca"):
            markdown.setdefault(line.split("|")[1].strip(), line)
    points = json.loads((out / "results.json").read_text())["scatter"]
    assert len(points) == 2 * 3 and all(p["bars"] == "interval" for p in points)
    bars = {}  # what the picture draws: (entry, notion) -> (x bar, y bar)
    for j, notion in enumerate(("sp", "eqop", "eo")):
        for container in captured["scatter.png"].axes[j].containers:
            (x_bar,), (y_bar,) = [c.get_segments() for c in container.lines[2]]
            bars[container.get_label(), notion] = ([x_bar[0][0], x_bar[1][0]], [y_bar[0][1], y_bar[1][1]])
    for p in points:
        row, key = table[p["label"]], f"{p['notion']}_{p['attribute']}"
        assert p["y_interval"] == [pytest.approx(float(row["accuracy_ci_low"])), pytest.approx(float(row["accuracy_ci_high"]))]
        assert p["x_interval"] == [pytest.approx(float(row[f"{key}_ci_low"])), pytest.approx(float(row[f"{key}_ci_high"]))]
        assert f"[{p['y_interval'][0]:.3f}, {p['y_interval'][1]:.3f}]" in markdown[p["label"]]
        assert f"[{p['x_interval'][0]:.3f}, {p['x_interval'][1]:.3f}]" in markdown[p["label"]]
        assert bars[p["label"], p["notion"]] == (pytest.approx(p["x_interval"]), pytest.approx(p["y_interval"]))


def test_a_strategy_keeps_its_colour_from_figure_to_figure(compared, captured):
    scatter, curves = captured["scatter.png"], captured["curves.png"]
    in_scatter = {c.get_label(): to_hex(c.lines[0].get_color()) for c in scatter.axes[0].containers}
    in_curves = {line.get_label(): to_hex(line.get_color()) for line in curves.axes[0].get_lines()}
    assert in_scatter == {label: colour(label) for label in ("fedavg", "fair-fca@gamma=0.3")}
    assert in_curves == in_scatter
    texts = {t.get_text() for t in scatter.axes[0].texts}
    assert {"fedavg", "fair-fca@gamma=0.3"} <= texts  # named next to their points, not by colour alone


def test_bench_bars_start_at_zero_and_name_the_worst_clients(compared):
    _, labels, summaries, rows = compared
    result = DatasetResult("toy", labels, rows, summaries, "")
    fig, *_ = worst_client_figure(result)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0.0
    names = " ".join(t.get_text() for t in ax.texts)
    assert "c2 s0" in names and "c2 s1" in names  # each seed's least accurate client, named
    assert communication_figure(result)[0].axes[0].get_xlim()[0] == 0.0
    fig, *_ = distribution_figure(result, "SEX")
    named = {t.get_text() for t in fig.axes[0].texts}
    assert "c2 s0" in named  # the least accurate client of a box, named


def _task_set(tmp_path):
    tasks = ["income", "employment"]
    rows, allocation = [], []
    for t in (1, 2):
        allocation.append({"round": t, "tasks": {"1": "income", "2": "employment", "3": "income"}})
        for client, n in (("1", 10), ("2", 1000), ("3", 100)):
            for task in tasks:
                rows.append({"round": t, "stage": "evaluate", "client": client, "task": task, "n_test": n,
                             "accuracy": 0.5 + 0.1 * t + (0.2 if client == "2" else 0.0) + (0.05 if task == "income" else 0)})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"strategy": "fedfair-mmfl", "dataset": "toy-tasks", "tasks": {t: {"clients": []} for t in tasks},
               "allocation": allocation, "task_accuracy": [{"round": 1, "income": 0.9, "employment": 0.9}],
               "probabilities": [{"round": t, "income": 0.5, "employment": 0.5} for t in (1, 2)]}
    return summary, tasks


def test_a_task_keeps_its_colour_and_its_accuracy_is_the_plain_mean(tmp_path):
    summary, tasks = _task_set(tmp_path)
    series = task_series(tmp_path / "metrics.jsonl")
    assert series["tasks"]["employment"] == pytest.approx([np.mean([0.6, 0.8, 0.6]), np.mean([0.7, 0.9, 0.7])])
    lines = {ln.get_label(): to_hex(ln.get_color()) for ln in task_accuracy_figure(summary, tmp_path / "metrics.jsonl").axes[0].get_lines()}
    legend = allocation_figure(summary).axes[0].get_legend()
    patches = {text.get_text().split(" (")[0]: to_hex(handle.get_facecolor())
               for text, handle in zip(legend.get_texts(), legend.legend_handles)}
    weights = {ln.get_label() or "": to_hex(ln.get_color()) for ln in figures.weights_figure(summary, "t").axes[0].get_lines()}
    expected = colour_map(tasks)
    assert {t: lines[t] for t in tasks} == patches == expected
    assert sorted(weights.values()) == sorted(expected.values())


def test_audit_figures_name_the_values_draw_the_threshold_and_eod(tmp_path, captured):
    from fedfair.partitioners.report import write_plots

    clients = [f"S{k}" for k in range(6)]
    table = pd.DataFrame([{"client": c, "model": m, "dd_SEX": 0.05 * k + (m == "xgb") * 0.01, "eod_SEX": 0.04 * k,
                           "dd_SEX_value": "2" if k % 2 else "1", "eod_SEX_value": "2"}
                          for k, c in enumerate(clients) for m in ("labels", "lr", "xgb")])
    write_plots(table, ["SEX"], tmp_path, {"SEX": {"1": "Male", "2": "Female"}}, threshold=0.12)
    assert set(captured) == {"dd_per_client.png", "eod_per_client.png", "lr_vs_xgb.png", "max_gap_values.png"}
    dd = captured["dd_per_client.png"].axes[0]
    assert dd.get_ylim()[0] == 0.0 and any(ln.get_ydata()[0] == 0.12 for ln in dd.get_lines())  # threshold line
    assert {t.get_text() for t in dd.texts} >= {"0.21", "0.26"}  # values on the (XGBoost) bars
    ticks = {t.get_text() for ax in captured["max_gap_values.png"].axes for t in ax.get_xticklabels()}
    assert {"Male (1)", "Female (2)"} <= ticks
    assert {t.get_text() for t in captured["lr_vs_xgb.png"].axes[0].texts} >= {"S3 (SEX)", "S4 (SEX)", "S5 (SEX)"}


def test_format_svg_writes_svg_files_and_a_bad_format_is_one_line(synthetic_dir, tmp_path):
    out = tmp_path / "svg-run"
    result = CliRunner().invoke(app, ["run", "--dataset", str(synthetic_dir), "--rounds", "2", "--out", str(out),
                                      "--format", "svg"])
    assert result.exit_code == 0, result.output
    written = {p.name for p in out.iterdir() if p.suffix in (".png", ".svg", ".pdf")}
    assert written == {"accuracy_vs_fairness.svg", "rounds.svg", "fairness_heatmap.svg"}
    assert (out / "rounds.svg").read_text().lstrip().startswith("<?xml")
    bad = CliRunner().invoke(app, ["run", "--dataset", str(synthetic_dir), "--rounds", "1", "--out",
                                   str(tmp_path / "bad"), "--format", "jpg"])
    assert bad.exit_code == 2 and "--format 'jpg'" in bad.output and len(bad.output.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
