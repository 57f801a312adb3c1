"""fedfair bench: suites planned and validated before any run, finished runs reused, the HTML report, the
TensorBoard export; the end-to-end suite and the report in headless Chromium are slow tests."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fedfair.bench import FeDa4FairRelease, entry_label, finished_summary, plan_suite, suite, suite_entries
from fedfair.bench_report import DatasetResult, markdown_table_html, pareto_front, write_report
from fedfair.cli import app
from fedfair.comparison import summarise
from fedfair.config import ParamError
from fedfair.data import DatasetError
from fedfair.registry import UnknownNameError, run_params
from fedfair.tracking import round_means


def test_pareto_front_keeps_exactly_the_non_dominated_points():
    # (gap, accuracy): lower gap and higher accuracy are better
    points = [(0.10, 0.80), (0.05, 0.75), (0.12, 0.79), (0.05, 0.70), (0.02, 0.60), (float("nan"), 0.9)]
    assert pareto_front(points) == [0, 1, 4]  # 2 is dominated by 0, 3 by 1; NaN is never on the front


def test_suite_entries_cross_strategies_with_mitigations_and_read_as_labels():
    entries = suite_entries(["fedavg", "fair-fca@gamma=0.3"], ["none", "puffle"])
    assert entries == ["fedavg", "fedavg@mitigation=puffle", "fair-fca@gamma=0.3", "fair-fca@gamma=0.3@mitigation=puffle"]
    assert [entry_label(e) for e in entries] == ["fedavg", "fedavg + PUFFLE", "fair-fca@gamma=0.3",
                                                 "fair-fca@gamma=0.3 + PUFFLE"]
    assert entry_label("fedavg@mitigation=fairif@lr=0.1") == "fedavg@lr=0.1 + FairIF"
    with pytest.raises(ParamError, match="unknown mitigation 'dp' in --mitigations; valid: none, fairif, puffle"):
        suite_entries(["fedavg"], ["dp"])


def test_feda4fair_suite_is_every_family_times_three_mitigations():
    chosen = suite("feda4fair")
    assert chosen.dataset_titles() == ["attribute-silo", "value-silo", "attribute-device", "value-device"]
    assert len(suite_entries(chosen.strategies, chosen.mitigations)) == 7 * 3
    assert set(chosen.families) == set(chosen.strategies)


def test_bad_suite_input_fails_before_anything_runs(tmp_path):
    with pytest.raises(ParamError, match="unknown suite 'nope'; valid suites: feda4fair, seed000, mmfl"):
        suite("nope")
    with pytest.raises(ParamError, match=r"--datasets: \['cifar'\] not in suite seed000"):
        plan_suite(suite("seed000"), [0], tmp_path, datasets=["cifar"])
    with pytest.raises(UnknownNameError, match="unknown strategy 'fedavgg'"):
        plan_suite(suite("seed000"), [0], tmp_path, datasets=["synthetic-gaussian-8"], strategies=["fedavgg"])
    with pytest.raises(ParamError, match="fedfb@fairness=eqop: fedfb implements fairness sp"):
        plan_suite(suite("seed000"), [0], tmp_path, datasets=["synthetic-gaussian-8"], strategies=["fedfb@fairness=eqop"])
    # a FeDa4Fair release that is not there: one error naming the folder and the fix, nothing built
    empty = tmp_path / "empty"
    empty.mkdir()
    os.environ.pop("FEDFAIR_DATA_ROOT", None)
    with pytest.raises(DatasetError, match="folder.s. cross_silo_attribute_final, cross_silo_value_final, "
                       "cross_device_attribute_final, cross_device_value_final not found in .*pass --data-root DIR"):
        plan_suite(suite("feda4fair"), [0], tmp_path / "out", data_root=str(empty))
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(app, ["bench", "feda4fair", "--data-root", str(empty), "--out", str(tmp_path / "o2")])
    assert result.exit_code == 2 and "error:" in result.output and "FEDFAIR_DATA_ROOT" in result.output


def _fake_release(root, folder, states=("AK", "AL", "AR"), rows=80, index_columns=False):
    """A csv-dir like FeDa4Fair's; ``index_columns``: the device releases' unnamed first column and 'Unnamed: 0'."""
    rng = np.random.default_rng(0)
    (root / "feda4fair" / folder).mkdir(parents=True)
    for state in states:
        lines = [(",Unnamed: 0," if index_columns else "") + "AGEP,COW,SCHL,WKHP,SEX,RAC1P,PINCP"]
        for i in range(rows):
            lines.append((f"{i},{3 * i}," if index_columns else "") +
                         f"{rng.integers(18, 80)},{rng.integers(1, 9)},{rng.integers(1, 24)},{rng.integers(0, 60)},"
                         f"{rng.integers(1, 3)},"
                         f"{rng.integers(1, 3)},{bool(rng.random() < 0.4)}")
        with gzip.open(root / "feda4fair" / folder / f"{state}_0.csv.gz", "wt") as handle:
            handle.write("\n".join(lines) + "\n")


def test_feda4fair_release_is_found_under_the_data_root_and_built_once_with_the_caps(tmp_path):
    from fedfair.tasks import validate_clients

    _fake_release(tmp_path / "raw", "cross_silo_attribute_final")
    release = FeDa4FairRelease("attribute-silo", "cross_silo_attribute_final")
    root = release.build(str(tmp_path / "raw"), tmp_path / "out", max_train=20, max_test=10)
    assert root == tmp_path / "out" / "datasets" / "cross_silo_attribute_final-onehot-zscore-train20-test10"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["label"] == "PINCP" and list(manifest["sensitive"]) == ["SEX", "RAC1P"]
    clients = validate_clients(root)
    assert sorted(clients) == ["AK", "AL", "AR"]
    stamp = (root / "manifest.json").stat().st_mtime_ns
    assert release.build(str(tmp_path / "raw"), tmp_path / "out", 20, 10) == root
    assert (root / "manifest.json").stat().st_mtime_ns == stamp  # built once


def test_a_device_release_with_its_stray_index_columns_builds(tmp_path):

    _fake_release(tmp_path / "raw", "cross_device_value_final", states=("AL_2", "AL_3"), index_columns=True)
    release = FeDa4FairRelease("value-device", "cross_device_value_final", {"RAC1P": "race-5"})
    root = release.build(str(tmp_path / "raw"), tmp_path / "out", max_train=0, max_test=0)
    manifest = json.loads((root / "manifest.json").read_text())
    assert not [f for f in manifest["features"] if "Unnamed" in f or "index" in f], manifest["features"]


def _finished_run(tmp_path, **changes):
    config = {"strategy": "fedavg", "dataset": "synthetic-gaussian-8", "rounds": 3, "seed": 0,
              "out-dir": str(tmp_path / "run")}
    params, _ = run_params(config)
    out = tmp_path / "run"
    out.mkdir(exist_ok=True)
    (out / "config.json").write_text(json.dumps({**params, **changes, "dataset-dir": "/somewhere"}))
    (out / "status.json").write_text(json.dumps({"status": "complete"}))
    (out / "summary.json").write_text(json.dumps({"strategy": "fedavg", "mean": {"accuracy": 0.5}}))
    return config, out


def test_a_finished_run_with_the_same_parameters_is_reused_and_nothing_else(tmp_path):
    config, out = _finished_run(tmp_path)
    assert finished_summary(config)["mean"]["accuracy"] == 0.5
    assert finished_summary({**config, "rounds": 4}) is None  # other parameters: run again
    (out / "status.json").write_text(json.dumps({"status": "interrupted", "last_round": 2}))
    assert finished_summary(config) is None  # interrupted: run again
    config, out = _finished_run(tmp_path, lr=0.5)
    assert finished_summary(config) is None
    (out / "summary.json").unlink()
    assert finished_summary(config) is None


def _fake_summary(seed, accuracies, sp, privacy=None):
    clients = [{"client": f"c{i}", "accuracy": a, "n_test": 100, "fairness": {"SEX": {"sp": g, "eqop": g / 2, "eo": g}}}
               for i, (a, g) in enumerate(zip(accuracies, sp))]
    summary = {"seed": seed, "rounds": 2, "clients": clients,
               "mean": {"accuracy": float(np.mean(accuracies)),
                        "fairness": {"SEX": {"sp": float(np.mean(sp)), "eqop": float(np.mean(sp)) / 2, "eo": float(np.mean(sp))}}},
               "communication": {"down_bytes": 2e6, "up_bytes": 1e6}}
    if privacy:
        summary["privacy"] = privacy
    return summary


def test_report_is_self_contained_with_every_figure_and_the_table(tmp_path):
    labels = ["fedavg", "fedavg", "fedavg + PUFFLE", "fedavg + PUFFLE"]
    summaries = [_fake_summary(0, [0.8, 0.7], [0.1, 0.2]), _fake_summary(1, [0.82, 0.72], [0.12, 0.18]),
                 _fake_summary(0, [0.7, 0.65], [0.02, 0.04], {"max_epsilon": 3.0, "mean_epsilon": 2.0}),
                 {"error": "ValueError: boom", "run_config": {"out-dir": "/x/run"}}]
    rows = summarise(labels, summaries)
    table = "| strategy | accuracy |\n|---|---|\n| fedavg | 0.76 |\n| fedavg + PUFFLE | 0.675 |\n"
    meta = {"suite": "test", "description": "d", "seeds": [0, 1], "rounds": 2, "overrides": {}, "wall_seconds": 1.0,
            "runs": {"ran": 3, "reused": 0, "failed": 1}}
    write_report(tmp_path / "report.html", meta, [DatasetResult("toy <set>", labels, rows, summaries, table)])
    text = (tmp_path / "report.html").read_text()
    images = re.findall(r'<img class="figure" alt="([^"]*)" src="([^"]{0,30})', text)
    # Pareto front, per-client distributions, worst client, communication, epsilon (one run has DP)
    assert [alt for alt, _ in images] == ["toy &lt;set&gt; " + k for k in ("Pareto front", "per-client distributions",
                                                                          "worst-client accuracy", "communication", "epsilon")]
    assert all(src.startswith("data:image/png;base64,") for _, src in images)
    assert not re.search(r'(src|href)="https?:', text)  # nothing to fetch: opens offline
    assert "<td>fedavg + PUFFLE</td><td>0.675</td>" in text and "ValueError: boom" in text
    assert "3 runs complete, 1 failed" in text


def test_markdown_table_becomes_an_html_table():
    assert markdown_table_html("# t\n\n| a | b |\n|---|---|\n| 1 | <2> |\n") == (
        "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>&lt;2&gt;</td></tr></tbody></table>")


def _metric_rows():
    def row(rnd, client, acc, sp, task=None):
        return {"round": rnd, "client": client, "accuracy": acc, "stage": "evaluate", "task": task,
                "fairness": {"SEX": {"sp": sp, "eqop": None, "eo": 2 * sp}}}
    return [row(1, "a", 0.6, 0.1), row(1, "b", 0.8, 0.3), row(2, "a", 0.7, 0.2), row(2, "b", 0.9, 0.0),
            {**row(2, "a", 0.1, 0.9), "stage": "train"}, row(1, "a", 0.5, 0.4, task="t1")]


def test_round_means_are_the_means_over_the_evaluated_clients():
    means = round_means(_metric_rows())
    assert set(means) == {("", 1), ("", 2), ("t1/", 1)}
    assert means[("", 1)]["mean/accuracy"] == pytest.approx(0.7)
    assert means[("", 2)]["mean/sp/SEX"] == pytest.approx(0.1)  # the train-stage row is not an evaluation
    assert means[("", 2)]["mean/eo/SEX"] == pytest.approx(0.2)
    assert "mean/eqop/SEX" not in means[("", 1)]  # undefined everywhere: no curve
    assert means[("", 2)]["client/b/accuracy"] == 0.9 and means[("t1/", 1)]["mean/accuracy"] == 0.5


def test_tensorboard_export_reads_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from fedfair.tracking import export_tensorboard

    run = tmp_path / "runs" / "fedavg-seed0"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _metric_rows()[:5]))
    (run / "config.json").write_text(json.dumps({"strategy": "fedavg"}))
    summary = _fake_summary(0, [0.7, 0.9], [0.2, 0.0], {"max_epsilon": 3.0, "mean_epsilon": 2.0})
    (run / "summary.json").write_text(json.dumps(summary))
    logdir = export_tensorboard([run], tmp_path / "tb", base=tmp_path)
    events = EventAccumulator(str(logdir / "runs" / "fedavg-seed0"))
    events.Reload()
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("mean/accuracy")] == [(1, 0.7), (2, 0.8)]
    assert events.Scalars("final/worst_client_accuracy")[0].value == pytest.approx(0.7)
    assert events.Scalars("final/epsilon_max")[0].value == pytest.approx(3.0)
    assert "final/client_accuracy" in events.Tags()["histograms"]
    export_tensorboard([run], tmp_path / "tb", base=tmp_path)  # a re-export replaces, not duplicates
    events = EventAccumulator(str(logdir / "runs" / "fedavg-seed0"))
    events.Reload()
    assert len(events.Scalars("mean/accuracy")) == 2


# ----- end to end --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory):
    """One small suite: seed000's synthetic Gaussian benchmark, FedAvg and FedFB, FedAvg also with PUFFLE."""
    out = tmp_path_factory.mktemp("bench") / "out"
    args = ["bench", "seed000", "--datasets", "synthetic-gaussian-8", "--strategies", "fedavg,fedfb",
            "--mitigations", "none,puffle", "--seeds", "1", "--rounds", "2", "--out", str(out), "--tensorboard"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, args, result.output


@pytest.mark.slow
def test_bench_runs_the_suite_once_and_a_second_call_reuses_every_run(bench_out):
    out, args, output = bench_out
    meta = json.loads((out / "bench.json").read_text())
    assert meta["runs"] == {"ran": 4, "reused": 0, "failed": 0}
    runs = meta["datasets"]["synthetic-gaussian-8"]["runs"]
    assert [r["label"] for r in runs] == ["fedavg", "fedavg + PUFFLE", "fedfb", "fedfb + PUFFLE"]
    assert "| fedfb + PUFFLE |" in (out / "synthetic-gaussian-8" / "table.md").read_text() and "4 runs ran" in output
    summaries = {r["label"]: json.loads((Path(r["out-dir"]) / "summary.json").read_text()) for r in runs}
    assert summaries["fedfb"]["strategy"] == "fedfb" and "group_weights" in summaries["fedfb"]
    assert json.loads((Path(runs[1]["out-dir"]) / "config.json").read_text())["mitigation"] == "puffle"
    stamps = {r["label"]: (Path(r["out-dir"]) / "summary.json").stat().st_mtime_ns for r in runs}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    meta = json.loads((out / "bench.json").read_text())
    assert meta["runs"] == {"ran": 0, "reused": 4, "failed": 0}
    assert {r["label"]: (Path(r["out-dir"]) / "summary.json").stat().st_mtime_ns for r in runs} == stamps
    assert (out / "tensorboard" / "synthetic-gaussian-8" / "runs" / "fedfb-seed0").is_dir()


@pytest.mark.slow
def test_report_opens_in_headless_chromium_with_every_figure_and_no_console_error(bench_out):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    out, _, _ = bench_out
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", "--dump-dom", (out / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    opening = re.search(r"<html[^>]*>", done.stdout).group(0)
    figures = re.search(r'data-figures="(\d+)"', opening)
    loaded = re.search(r'data-figures-loaded="(\d+)"', opening)
    assert figures and loaded, opening
    # Pareto, distributions, worst client, bytes, then per entry its run's over-rounds figures: rounds, heatmap
    # (+ FedFB's group weights): 4 + 2 + 2 + 3 + 3
    assert int(figures.group(1)) == 14 and int(loaded.group(1)) == 14
    assert "data-errors" not in opening
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console


def test_bench_refuses_a_run_that_cannot_work_before_any_starts_and_exits_non_zero_when_one_fails(tmp_path):
    # flhc clusters after hc-k1 = 5 rounds: with --rounds 3 the suite is refused before any run, nothing written
    refused = CliRunner().invoke(app, ["bench", "seed000", "--datasets", "synthetic-gaussian-8", "--strategies",
                                       "fedavg,flhc", "--rounds", "3", "--seeds", "1", "--out", str(tmp_path / "a")])
    assert refused.exit_code == 2 and "flhc: hc-k1 = 5 leaves no round after clustering" in refused.output
    assert not (tmp_path / "a").exists()
    # every client fails its training (fail-rate 0.99, min-replies 1): the suite reports it and exits 1
    failing = CliRunner().invoke(app, ["bench", "seed000", "--datasets", "synthetic-gaussian-8", "--strategies", "fedavg",
                                       "--mitigations", "none", "--rounds", "1", "--seeds", "1", "--out",
                                       str(tmp_path / "b"), "--set", "fail-rate=0.99", "--set", "min-replies=1.0"])
    assert failing.exit_code == 1, failing.output
    assert "1 failed" in failing.output and "failed: synthetic-gaussian-8: fedavg seed 0:" in failing.output
