"""The README is a short front page whose every command works: at most 200 lines; every command of its ```bash
blocks is run here (in a fresh temporary directory, as a new user would), except the install lines (.ci/run
installs with them; checked here against .ci/run's pins) and `python -m pytest` (the command CI runs; checked
as text); `python -m mkdocs build --strict` is what tests/test_docs_site.py builds, `python -m mkdocs serve` is
started here. Its relative links and its picture exist (tests/test_tutorials.py draws the picture again from the
ten-minute tutorial's run and compares its numbers)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO
from tests.procs import free_port
from tests.test_tutorials import LINK, fenced_blocks, tutorial_env

README = REPO / "README.md"
PICTURE = REPO / "docs" / "assets" / "readme"


def commands(text: str) -> list[tuple[str, str]]:
    """(command, its comment) of every ```bash block: continuation lines joined, comments split off."""
    found = []
    for language, code in fenced_blocks(text):
        if language != "bash":
            continue
        for line in code.replace("\\\n", " ").splitlines():
            command, _, comment = line.partition(" #")
            command = " ".join(command.split())
            if command and not command.startswith("#"):
                found.append((command, comment.strip()))
    return found


def kind(command: str) -> str:
    """What the tests do with a README command: check an install line against .ci/run, check the test command,
    leave the strict site build to tests/test_docs_site.py, start the site server, or run it."""
    if command.startswith("pip install "):
        return "install"
    if command == "python -m pytest":
        return "pytest"
    if command.startswith("python -m mkdocs build"):
        return "site-build"
    if command.startswith("python -m mkdocs serve"):
        return "site-serve"
    return "run"


def ci_torch_pin() -> str:
    match = re.search(r"torch==([0-9][0-9.]*)", (REPO / ".ci" / "run").read_text())
    assert match, ".ci/run pins no torch version"
    return match.group(1)


# ----- as text (fast) -------------------------------------------------------------------------------------
def test_readme_is_a_short_front_page_with_working_links():
    text = README.read_text()
    assert len(text.splitlines()) <= 200, f"README.md has {len(text.splitlines())} lines; the front page keeps to 200"
    for target in LINK.findall(text):
        if "://" in target:
            continue
        path = (REPO / target.split("#")[0]).resolve()
        assert path.exists(), f"README.md links to {target}, which does not exist"
    assert "](docs/assets/readme/per-client.png)" in text and (PICTURE / "per-client.png").is_file()
    assert all(kind(c) in ("install", "pytest", "site-build", "site-serve", "run") for c, _ in commands(text))


def test_install_lines_are_the_ones_ci_installs_with_and_the_test_command_is_what_ci_runs():
    found = commands(README.read_text())
    installs = [c for c, _ in found if kind(c) == "install"]
    pin = ci_torch_pin()
    assert f"pip install torch=={pin} --index-url https://download.pytorch.org/whl/cpu" in installs  # CPU only
    assert f"pip install torch=={pin}" in installs  # PyPI's CUDA build of the same version
    assert "pip install -e ." in installs
    assert all(("torch" not in c) or f"torch=={pin}" in c for c in installs), "every torch line pins .ci/run's torch"
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for command in installs:
        for extra in re.findall(r'"\.\[([a-z,]+)\]"', command):
            assert set(extra.split(",")) <= set(extras), f"{command}: pyproject.toml has no extra {extra!r}"
    tests = [(c, comment) for c, comment in found if kind(c) == "pytest"]
    assert len(tests) == 1 and "CI runs exactly this" in tests[0][1] and ".ci/run" in tests[0][1]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if "pytest" in line
          and not line.strip().startswith("#")]
    assert ci == ["python -m pytest"], f".ci/run runs {ci}, the README says `python -m pytest`"
    builds = [c for c, _ in found if kind(c) == "site-build"]
    assert builds == ["python -m mkdocs build --strict"]
    assert '"mkdocs", "build", "--strict"' in (REPO / "tests" / "test_docs_site.py").read_text()


def test_commands_are_read_as_a_reader_types_them():
    text = "```bash\nfedfair run \\\n    --rounds 3   # a comment\n# only a comment\n\n```\n```console\n$ no\n```\n"
    assert commands(text) == [("fedfair run --rounds 3", "a comment")]


# ----- run (slow) -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_every_command_of_the_readme_runs(tmp_path):
    runnable = [c for c, _ in commands(README.read_text()) if kind(c) == "run"]
    assert any(c.startswith("fedfair run") for c in runnable) and any(c.startswith("fedfair compare") for c in runnable)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(runnable)], cwd=tmp_path,
                          env=tutorial_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{runnable}\n{(done.stdout + done.stderr)[-6000:]}"
    # what the README says they write
    for path in ("runs/fedavg-synthetic-gaussian-8-seed0/summary.json", "runs/compare-synthetic-gaussian-8/table.md",
                 "runs/compare-synthetic-gaussian-8/scatter.png", "data/acs/manifest.json"):
        assert (tmp_path / path).is_file(), path
    summary = json.loads((tmp_path / "runs/fedavg-synthetic-gaussian-8-seed0/summary.json").read_text())
    assert len(summary["clients"]) == 8 and summary["rounds"] == 3
    manifest = json.loads((tmp_path / "data/acs/manifest.json").read_text())
    assert [c["name"] for c in manifest["clients"]] == ["CA", "TX", "NY", "FL"] and manifest["synthetic"] is True


@pytest.mark.slow
def test_the_site_server_of_the_readme_serves_the_documentation(tmp_path):
    (command,) = [c for c, _ in commands(README.read_text()) if kind(c) == "site-serve"]
    port = free_port()
    args = [*command.split()[1:], "--dev-addr", f"127.0.0.1:{port}", "--no-livereload"]
    log = tmp_path / "serve.log"
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                                  env={**tutorial_env(tmp_path), "NO_MKDOCS_2_WARNING": "1"}, start_new_session=True)
    try:
        page, deadline = "", time.monotonic() + 240
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/tutorials/ten-minutes.html", timeout=5) as reply:
                    page = reply.read().decode()
                break
            except OSError:
                time.sleep(0.5)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert "Ten minutes with fedfair" in page, log.read_text()[-4000:]
