"""The documentation site (docs/, mkdocs.yml) builds with `mkdocs build --strict`: no broken link, no unknown anchor,
no page missing from the nav, no reference that fails to render. Its reference pages are generated from the code
(docs/hooks.py); the tests here compute, from the code, every command of the typer app and every run parameter of
the parameter specs and check that the built pages name each one, so a new command or parameter cannot go
undocumented. The slow test opens the built site in headless Chromium from file:// (as a reader opens a downloaded
copy): no console message, and the search finds pages without a server or a network."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _env() -> dict[str, str]:
    from fedfair.simulation import OFFLINE_ENV

    return {**os.environ, **OFFLINE_ENV, "NO_MKDOCS_2_WARNING": "1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for the module with --strict (any warning fails the build)."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return out


def page_text(path: Path) -> str:
    """A built page's HTML with entities decoded (`&lt;` -> `<`)."""
    return html.unescape(path.read_text(encoding="utf-8"))


def sections(page: str) -> dict[str, str]:
    """{heading id: the HTML up to the next level-2 heading} of a built page."""
    parts = re.split(r'<h2 id="([^"]+)"', page)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def slug(text: str) -> str:
    """The id Python-Markdown's toc gives a heading."""
    from markdown.extensions.toc import slugify

    return slugify(text, "-")


def cli_commands() -> list[tuple[str, object]]:
    """(`fedfair data build`, click command) of the app and every command and subcommand, walked through click
    (what `--help` shows; hidden ones left out)."""
    import click
    import typer

    from fedfair.cli import app

    found: list[tuple[str, object]] = []

    def walk(command: click.Command, ctx: click.Context, path: str) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, click.Context(sub, info_name=name, parent=ctx), f"{path} {name}")

    root = typer.main.get_command(app)
    walk(root, click.Context(root, info_name="fedfair"), "fedfair")
    return found


def test_the_site_builds_strict_with_its_pages_and_offline_search_index(site: Path) -> None:
    for page in ("index.html", "getting-started.html", "concepts/metrics.html", "concepts/intervals.html",
                 "concepts/evaluation-schedule.html", "concepts/strategies.html", "concepts/engines.html",
                 "reference/cli.html", "reference/parameters.html", "reference/files.html", "reference/api.html",
                 "papers.html", "contributing.html", "tutorials/ten-minutes.html"):
        assert (site / page).is_file(), page
    assert (site / "search" / "search_index.js").is_file()  # the offline plugin's index, read from file://
    assert not list(site.rglob("*.py")), "the build's helpers (docs/*.py) were copied into the site"


def test_the_command_line_reference_names_every_command_and_its_options(site: Path) -> None:
    commands = cli_commands()
    assert len(commands) > 15 and any(path == "fedfair data build" for path, _ in commands)
    found = sections(page_text(site / "reference" / "cli.html"))
    for path, command in commands:
        section = found.get(slug(path))
        assert section is not None, f"reference/cli has no section for `{path}`"
        for param in command.params:
            names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
            if getattr(param, "hidden", False) or not names:
                continue
            for name in names if param.param_type_name == "option" else [param.human_readable_name]:
                assert f"<code>{name}" in section, f"reference/cli: `{path}` does not list {name}"


def test_the_parameter_reference_names_every_run_parameter_of_every_component(site: Path) -> None:
    from fedfair.registry import known_params, param_catalogue

    components = param_catalogue(plugins_too=False)
    keys = known_params(plugins_too=False)
    assert "num-clusters" in keys and "strategy" in keys
    found = sections(page_text(site / "reference" / "parameters.html"))
    for component, specs in components.items():
        section = found.get(slug(component))
        assert section is not None, f"reference/parameters has no section for {component}"
        for key in specs:
            assert f"<code>{key}</code>" in section, f"reference/parameters: {component} does not list {key}"
    index = found["index"]
    assert all(f"<code>{key}</code>" in index for key in keys)


def test_the_file_reference_has_every_field_of_the_schemas(site: Path) -> None:
    from fedfair import schemas

    page = page_text(site / "reference" / "files.html")
    for model in (schemas.ManifestModel, schemas.ClientEntry, schemas.TaskSetModel, schemas.TaskEntry,
                  schemas.CheckpointMeta, schemas.ModelSpec, schemas.SensitiveSpec):
        for field in model.model_fields:
            assert f"<code>{field}</code>" in page, f"reference/files lacks {model.__name__}.{field}"


def test_the_paper_results_hold_every_verdict_and_every_report(site: Path) -> None:
    verdicts = (REPO / "benchmarks" / "VERDICTS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \|", verdicts, re.M)
    page = page_text(site / "papers.html")
    assert rows and all(re.search(rf"<td>{n}</td>", page) for n in rows)
    for report in (REPO / "benchmarks").glob("*.md"):
        if report.name != "VERDICTS.md":
            assert (site / "papers" / f"{report.stem}.html").is_file(), report.name


def test_no_page_loads_a_script_a_style_or_a_font_from_the_network(site: Path) -> None:
    tag = re.compile(r"<(script|link|img|iframe|source)\b[^>]*>", re.I)
    remote = re.compile(r"\b(?:src|href)=[\"'](?:https?:)?//", re.I)
    loaded_link = re.compile(r"\brel=[\"'][^\"']*\b(?:stylesheet|preconnect|preload|modulepreload|icon)\b", re.I)
    for page in site.rglob("*.html"):
        found = [m.group(0) for m in tag.finditer(page.read_text(encoding="utf-8")) if remote.search(m.group(0))
                 and (m.group(1).lower() != "link" or loaded_link.search(m.group(0)))]
        assert not found, f"{page.relative_to(site)} loads {found[:3]}"


@pytest.mark.slow
def test_the_site_opens_from_the_file_system_without_console_messages_and_its_search_works(
        site: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")

    def load(url: str) -> tuple[str, list[str]]:
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                               "--virtual-time-budget=8000", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
        return done.stdout, console

    # the home page with a query (Material reads ?q= on load): results come from the local index, no server
    dom, console = load((site / "index.html").as_uri() + "?q=fairness")
    assert not console, console
    assert "md-search-result__item" in dom, "no search result for 'fairness' on the file:// site"
    assert re.search(r"\d+ matching documents", dom), "the search did not report its matches"
    # a page one folder down (its own relative paths to the worker and the index) and a generated reference page
    dom, console = load((site / "reference" / "parameters.html").as_uri() + "?q=bootstrap")
    assert not console, console
    assert "md-search-result__item" in dom and "num-clusters" in dom
