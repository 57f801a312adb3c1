"""The tutorials in docs/tutorials/ are executed: their ```bash and ```python blocks run in document order in a
fresh temporary working directory, as a reader would run them (bash blocks with `bash -euo pipefail`, each run of
consecutive python blocks as one script with `sys.executable`), and every file a tutorial promises exists
afterwards. Blocks a reader must not run in CI (a long-lived SuperLink, a pip install) use another info string
(```console, ```text, ```toml) and are only checked to be there."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TUTORIALS = REPO / "docs" / "tutorials"
NAMES = ("ten-minutes", "own-csv", "plugin", "deploy-tls")
RUNNABLE = ("bash", "python")
# the other pages of the documentation site a tutorial may link to (docs/ is built by mkdocs --strict)
SITE_PAGES = ("../getting-started.md", "../reference/cli.md", "../reference/parameters.md", "../reference/api.md",
              "../concepts/metrics.md")
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block at the start of a line, in document order."""
    return [((info.split() or [""])[0].lower(), code) for info, code in FENCE.findall(text)]


def segments(blocks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The runnable blocks as the steps that run: consecutive blocks of one language joined."""
    steps: list[tuple[str, str]] = []
    for language, code in blocks:
        if language not in RUNNABLE:
            continue
        if steps and steps[-1][0] == language:
            steps[-1] = (language, steps[-1][1] + "\n" + code)
        else:
            steps.append((language, code))
    return steps


def tutorial_env(workdir: Path) -> dict[str, str]:
    """The environment a reader has after installing fedfair: the offline exports of the README, the console
    scripts on PATH; a per-test HOME for Flower, and the session's dataset cache (tests/conftest.py)."""
    from fedfair.simulation import OFFLINE_ENV

    env = {**os.environ, **OFFLINE_ENV, "RAY_USAGE_STATS_ENABLED": "0", "COLUMNS": "200",
           "FLWR_HOME": str(workdir / ".flwr-home")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)  # the tutorial sets its own
    return env


def run_steps(steps: list[tuple[str, str]], workdir: Path, what: str) -> list[str]:
    """Run the steps in ``workdir``; every one must succeed. Returns their outputs (stdout + stderr)."""
    env = tutorial_env(workdir)
    outputs = []
    for i, (language, code) in enumerate(steps, 1):
        if language == "bash":
            cmd = ["bash", "-euo", "pipefail", "-c", code]
        else:  # a script in the working directory: like a notebook, it imports the reader's modules found there
            script = workdir / f".tutorial-step-{i}.py"
            script.write_text(code)
            cmd = [sys.executable, str(script)]
        done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{what}: step {i} ({language}) failed with exit code {done.returncode}:\n" \
                                     f"{code}\n---- output ----\n{output[-6000:]}"
        outputs.append(output)
    return outputs


def run_tutorial(name: str, workdir: Path) -> list[str]:
    text = (TUTORIALS / f"{name}.md").read_text()
    return run_steps(segments(fenced_blocks(text)), workdir, f"docs/tutorials/{name}.md")


# ----- the pages themselves (fast) ----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_tutorial_has_runnable_code_and_links_only_to_pages_of_the_site(name):
    path = TUTORIALS / f"{name}.md"
    text = path.read_text()
    assert text.startswith("# "), f"{path}: a page starts with its title"
    blocks = fenced_blocks(text)
    assert any(language in RUNNABLE for language, _ in blocks), f"{path}: no ```bash / ```python block to run"
    assert len(re.findall(r"^```", text, re.M)) == 2 * len(blocks), f"{path}: a code fence is not closed"
    for target in LINK.findall(text):
        assert "://" not in target and not target.startswith("/"), f"{path}: {target}: only relative links"
        page = target.split("#")[0]
        if not page:
            continue
        assert page in SITE_PAGES or (path.parent / page).resolve().is_file(), f"{path}: {target}: no such page"
        assert (path.parent / page).resolve().is_relative_to((REPO / "docs").resolve()), \
            f"{path}: {target}: a link outside docs/"


def test_blocks_are_read_in_order_and_joined_by_language():
    text = "a\n```bash\necho 1\n```\n```python\nx = 1\n```\n```python\nprint(x)\n```\n```console\n$ no\n```\n"
    assert fenced_blocks(text) == [("bash", "echo 1\n"), ("python", "x = 1\n"), ("python", "print(x)\n"),
                                   ("console", "$ no\n")]
    assert segments(fenced_blocks(text)) == [("bash", "echo 1\n"), ("python", "x = 1\n\nprint(x)\n")]


# ----- the tutorials, run end to end --------------------------------------------------------------------
@pytest.mark.slow
def test_ten_minutes(tmp_path):
    outputs = run_tutorial("ten-minutes", tmp_path)
    for path in ("data/acs-biased/manifest.json", "runs/compare/table.md", "runs/compare/scatter.png",
                 "runs/compare/curves.png", "runs/compare/runs/fedfb_fedfb-alpha_2-seed0/summary.json",
                 "runs/fedfb/summary.json", "runs/fedfb/rounds.png", "runs/fedfb/accuracy_vs_fairness.png",
                 "runs/compare-py/table.csv"):
        assert (tmp_path / path).is_file(), path
    assert "fedfb@fedfb-alpha=2" in "\n".join(outputs)
    # the README's picture is this very comparison, drawn by scripts/readme_picture.py: drawn again from the
    # tutorial's runs, it has the numbers kept beside the picture
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "readme_picture.py"), "--compare",
                           str(tmp_path / "runs" / "compare"), "--out", str(tmp_path / "picture")],
                          env=tutorial_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "picture" / "per-client.png").stat().st_size > 10_000
    kept = json.loads((REPO / "docs" / "assets" / "readme" / "per-client.json").read_text())
    assert json.loads((tmp_path / "picture" / "per-client.json").read_text()) == kept, \
        "the tutorial's comparison differs from docs/assets/readme/per-client.json: rerun scripts/readme_picture.py"


@pytest.mark.slow
def test_own_csv(tmp_path):
    run_tutorial("own-csv", tmp_path)
    for path in ("patients.csv", "data/clinics/manifest.json", "data/clinics/DATASHEET.md",
                 "data/clinics-audit/audit.csv", "data/clinics-audit/report.md", "clinic-files/north.csv",
                 "data/clinics-from-files/manifest.json", "runs/clinics-fedavg/summary.json"):
        assert (tmp_path / path).is_file(), path


@pytest.mark.slow
def test_plugin(tmp_path):
    run_tutorial("plugin", tmp_path)
    for path in ("my_fairfl/objective.py", "my_fairfl/strategy.py",
                 "runs/plugin-compare/table.md", "runs/fedavg-sp/summary.json"):
        assert (tmp_path / path).is_file(), path


@pytest.mark.slow
def test_deploy_tls(tmp_path):
    run_tutorial("deploy-tls", tmp_path)
    certs = tmp_path / "certs"
    for name in ("ca.crt", "ca.key", "server.pem", "server.key", "node-1.key", "node-1.pub", "node-2.key",
                 "node-2.pub"):
        assert (certs / name).is_file(), name
        assert (certs / name).stat().st_mode & 0o777 == (0o600 if name.endswith(".key") else 0o644), name
    assert (tmp_path / "federation" / "manifest.json").is_file()
    assert (tmp_path / "flwr-home" / "config.toml").is_file()
