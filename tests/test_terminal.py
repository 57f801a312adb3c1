"""What the command line prints (issue 30, "Terminal"): rich tables of compare and bench within 100 columns, one
progress line per run (the rounds only under --verbose), the worst-k view, "did you mean", `params` and
`strategies` readable at 100 columns with the papers by name, no "SP(None)" for a task without attributes."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from fedfair import cli
from fedfair.cli import app
from fedfair.registry import cite, param_catalogue
from fedfair.results import ClientEval, RunRecorder, console_width

WIDTH = 100


def _invoke(args, **env):
    result = CliRunner(env={"COLUMNS": str(WIDTH), **env}).invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def test_compare_prints_rich_tables_a_progress_line_per_run_and_marks_an_inactive_mechanism(synthetic_dir, tmp_path):
    out = tmp_path / "cmp"
    result = _invoke(["compare", "-d", synthetic_dir, "-s", "fedavg,cfl-cosine", "-n", "1", "-r", "2", "--out", out])
    assert result.exit_code == 0, result.output
    assert _widest(result.output) <= WIDTH
    assert "┃ strategy" in result.output and "| fedavg |" not in result.output  # rich, not the Markdown of table.md
    assert "fairness gaps on group (lower = fairer)" in result.output
    assert "compare 1/2" in result.output and "compare 2/2" in result.output  # one line per finished run
    assert "round 1/2" not in result.output and "fedfair: fedavg on" not in result.output  # no run's rounds
    assert "inactive: never split (one cluster: FedAvg)" in result.output
    table = (out / "table.md").read_text()  # table.md stays Markdown and marks the mechanism too (so does the report)
    assert "| cfl-cosine |" in table and "| inactive: never split (one cluster: FedAvg) |" in table
    assert table.splitlines()[4].endswith("| MB down | MB up | mechanism |")
    verbose = _invoke(["compare", "-d", synthetic_dir, "-s", "fedavg", "-n", "1", "-r", "1", "--out", tmp_path / "v",
                       "--verbose"])
    assert verbose.exit_code == 0 and "round 1/1" in verbose.output and "compare 1/1" in verbose.output, verbose.output


def test_bench_prints_rich_tables_and_its_report_marks_an_inactive_mechanism(tmp_path):
    out = tmp_path / "bench"
    result = _invoke(["bench", "seed000", "--datasets", "synthetic-gaussian-8", "--strategies", "fedavg,cfl-cosine",
                      "--mitigations", "none", "--seeds", "1", "--rounds", "2", "--out", out])
    assert result.exit_code == 0, result.output
    assert _widest(result.output) <= WIDTH and "┃ strategy" in result.output and "| fedavg |" not in result.output
    assert "synthetic-gaussian-8: 2 rounds, 1 seed(s)" in result.output and "bench 2/2" in result.output
    assert "inactive: never split (one cluster: FedAvg)" in result.output and "2 runs ran" in result.output
    report = (out / "report.html").read_text()
    assert "<th>mechanism</th>" in report and "<td>inactive: never split (one cluster: FedAvg)</td>" in report


def _client(name, accuracy, sp, eqop, eo):
    return {"client": name, "n_train": 10, "n_test": 10, "accuracy": accuracy, "loss": 0.5,
            "fairness": {"SEX": {"sp": sp, "eqop": eqop, "eo": eo}}}


def test_the_worst_k_view_keeps_the_worst_clients_sorted_by_gap(capsys):
    clients = [_client("a", 0.9, 0.01, 0.02, 0.03), _client("b", 0.6, 0.30, 0.05, 0.10),
               _client("c", 0.8, 0.02, math.nan, 0.40), _client("d", 0.7, 0.05, 0.06, 0.07)]
    summary = {"strategy": "fedavg", "dataset": "toy", "rounds": 2, "seed": 0, "clients": clients,
               "mean": {"accuracy": 0.75, "loss": 0.5, "fairness": {"SEX": {"sp": 0.095, "eqop": 0.043, "eo": 0.15}}}}
    cli.print_task_summary(summary, worst=2)
    text = capsys.readouterr().out
    accuracy, gaps = text.split("fairness gaps on SEX")
    words = " ".join(text.split())
    assert "the 2 worst of 4 clients by accuracy" in words and "the 2 worst of 4 clients by largest gap" in words
    rows = lambda part: [line.split("│")[1].strip() for line in part.splitlines() if line.count("│") > 2]  # noqa: E731
    assert rows(accuracy) == ["b", "d", "mean (all)"]  # lowest accuracy first
    assert rows(gaps) == ["c", "b", "mean (all)"]  # largest gap first (c: EO 0.40, b: SP 0.30); NaN ignored
    cli.print_task_summary(summary)  # without worst: every client, in order
    assert rows(capsys.readouterr().out.split("fairness gaps on SEX")[1]) == ["a", "b", "c", "d", "mean"]


def test_run_takes_worst(synthetic_dir, tmp_path):
    result = _invoke(["run", "-d", synthetic_dir, "-r", "1", "--worst", "3", "--out", tmp_path / "run"])
    assert result.exit_code == 0, result.output
    assert "the 3 worst of 8 clients by accuracy" in " ".join(result.output.split()) and _widest(result.output) <= WIDTH


def test_a_task_without_sensitive_attributes_prints_no_sp_of_none(tmp_path, capsys):
    recorder = RunRecorder(tmp_path, {"rounds": 2})
    recorder.record_round(1, [ClientEval("a", 0, 5, 10, "m", 0.5, 0.9, {}, task="mnist"),
                              ClientEval("b", 1, 5, 10, "m", 0.5, 0.7, {}, task="mnist")])
    line = capsys.readouterr().err.strip()
    assert line == "round 1/2  evaluate (task mnist): mean accuracy 0.8000  (2 clients)"


@pytest.mark.parametrize("args, hint", [
    (["run", "--strategy", "fedavgg"], "did you mean 'fedavg'?"),
    (["run", "--dataset", "synthetic-gausian-8"], "did you mean 'synthetic-gaussian-8'?"),
    (["run", "--set", "lrr=0.1"], "did you mean 'lr'?"),
    (["compare", "-s", "fedavg@num-clusterz=2"], "did you mean 'num-clusters'?"),
    (["bench", "seed00"], "did you mean 'seed000'?"),
])
def test_unknown_names_get_a_did_you_mean(args, hint, tmp_path):
    result = _invoke([*args, "--out", tmp_path / "out"])
    lines = [line for line in result.output.splitlines() if line.strip() and "preparing dataset" not in line]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert hint in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def _column(text: str, k: int) -> str:
    """The text of column ``k`` of every rich table row in ``text``, wrapped lines joined by spaces."""
    return " ".join(line.split("│")[k].strip() for line in text.splitlines() if line.count("│") > k)


def test_params_fit_100_columns_and_every_meaning_is_whole():
    result = _invoke(["params"])
    assert result.exit_code == 0 and _widest(result.output) <= WIDTH
    meanings = " ".join(_column(result.output, 3).split())
    for component, specs in param_catalogue().items():
        assert component in result.output
        for key, spec in specs.items():
            assert " ".join(cite(spec.help).split()) in meanings, (component, key)
    assert "seed 00" not in result.output and "Yang et al." in result.output


def test_strategies_and_help_fit_100_columns_with_whole_descriptions_and_papers_by_name():
    listing = _invoke(["strategies"])
    assert listing.exit_code == 0 and _widest(listing.output) <= WIDTH
    words = " ".join(listing.output.split())
    assert "AFL: Agnostic Federated Learning (Mohri, Sivek, Suresh, ICML 2019): the model that is best for the worst " \
           "mixture of the clients." in words  # the whole first paragraph, not its first line
    assert "fair-fca: Fair-FCA (Yang et al., Section 5.1, Algorithm 1)" in words and "seed 00" not in words
    for args in (["--help"], ["run", "--help"], ["compare", "--help"], ["data", "build", "--help"]):
        helped = _invoke(args)
        assert helped.exit_code == 0 and _widest(helped.output) <= WIDTH, args
    doc = _invoke(["run", "--help"]).output
    assert "(one row per round, client and model), OUT/summary.json" in doc  # a paragraph reflowed, not cut twice
    assert cli._reflow("A\nb.\n\n- one\n- two") == "A b.\n\n- one\n- two"


def test_output_to_a_file_is_100_columns_wide(monkeypatch):
    class File:
        def isatty(self):
            return False

    monkeypatch.delenv("COLUMNS", raising=False)
    assert console_width(File()) == WIDTH
    monkeypatch.setenv("COLUMNS", "120")
    assert console_width(File()) is None  # $COLUMNS decides (rich reads it)
