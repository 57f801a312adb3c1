"""MkDocs hooks of fedfair's docs site (registered under ``hooks:`` in mkdocs.yml).

Pages written from the code at build time, never by hand, so they cannot drift from it:

- ``reference/cli.md``: every command and subcommand of the typer app ``fedfair.cli:app`` (walked through
  click's command objects: help, usage, arguments, options);
- ``reference/parameters.md``: every run parameter of the parameter specs, by component, from
  :func:`fedfair.registry.param_catalogue` (the catalogue ``fedfair params`` prints) and
  :func:`fedfair.registry.strategy_components`;
- the schema tables of ``reference/files.md`` (``<!-- fedfair:schema NAME -->`` markers), from the pydantic
  models of :mod:`fedfair.schemas`;
- the paper results: ``<!-- fedfair:include benchmarks/VERDICTS.md -->`` in ``papers.md`` and one page per
  report ``benchmarks/*.md`` under ``papers/``; their links to other reports become links to those pages, the
  files they cite (figures, JSON) are copied beside them, and a link to anything else becomes its repository
  path as text (the site holds only what it can link).

Only fedfair's own components are listed: installed plugins (entry points) are the user's and vary by machine.
"""

from __future__ import annotations

import inspect
import json
import posixpath
import re
import sys
import typing
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (ROOT / "benchmarks").resolve()
VERDICTS = "VERDICTS.md"
PAPERS_PAGE = "papers.md"
PAPERS_DIR = "papers"
PAPERS_NAV_TITLE = "Paper results"
CLI_PAGE = "reference/cli.md"
PARAMS_PAGE = "reference/parameters.md"

if str(ROOT) not in sys.path:  # the checkout's fedfair, also when it is not installed
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from griffe_fedfair import markdown_docstring  # noqa: E402  (the docstrings' Sphinx roles, as on the API pages)

sys.path.pop(0)


# ----- Markdown helpers ----------------------------------------------------------------------------------
_SPECIAL = re.compile(r"([\\*_\[\]|{}])")  # {...} would be read as an attribute list


def md_text(text: str) -> str:
    """Plain text (or reST-flavoured docstring text) as Markdown on one line: Sphinx roles and ``literals`` become
    `code spans`, which are kept; special characters outside them are escaped."""
    text = " ".join(str(text).split())
    text = re.sub(r"``(.+?)``", r"`\1`", markdown_docstring(text))
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part.replace("|", "\\|"))  # a | inside a table cell ends the cell, code span or not
        else:
            escaped = _SPECIAL.sub(r"\\\1", part).replace("`", "\\`")
            out.append(escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


def md_code(value: Any) -> str:
    """A value as a code span (a table cell may hold it)."""
    text = str(value).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def paragraphs(doc: str) -> list[str]:
    """A docstring / help text's paragraphs, each on one line (click's ``\\b`` markers dropped)."""
    doc = inspect.cleandoc(doc or "")
    return [" ".join(p.replace("\b", "").split()) for p in re.split(r"\n\s*\n", doc) if p.strip()]


def slug(text: str) -> str:
    """The anchor Python-Markdown's toc gives a heading (its default slugify)."""
    from markdown.extensions.toc import slugify

    return slugify(text, "-")


# ----- the command line -----------------------------------------------------------------------------------
def cli_commands() -> list[tuple[list[str], Any, Any]]:
    """(path, click command, click context) of the app and of every command and subcommand, depth first;
    hidden ones left out."""
    import click
    import typer

    from fedfair.cli import app

    root = typer.main.get_command(app)
    found: list[tuple[list[str], Any, Any]] = []

    def walk(command: Any, ctx: Any, path: list[str]) -> None:
        found.append((path, command, ctx))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is None or getattr(sub, "hidden", False):
                    continue
                walk(sub, click.Context(sub, info_name=name, parent=ctx), [*path, name])

    walk(root, click.Context(root, info_name="fedfair"), ["fedfair"])
    return found


def _type_name(param: Any, ctx: Any) -> str:
    import click

    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    name = getattr(param.type, "name", "") or type(param.type).__name__
    if isinstance(param.type, (click.IntRange, click.FloatRange)):
        kind = "integer" if isinstance(param.type, click.IntRange) else "float"
        bounds = ([f"{'>' if param.type.min_open else '>='} {param.type.min}"] if param.type.min is not None else []) + \
                 ([f"{'<' if param.type.max_open else '<='} {param.type.max}"] if param.type.max is not None else [])
        return md_text(" ".join([kind, *bounds]))
    return {"text": "text", "integer": "integer", "float": "float", "boolean": "true / false",
            "path": "path", "choice": "choice"}.get(name.lower(), name.lower())


def _default(param: Any) -> str:
    import click

    default = param.default
    if default is None or default == () or default == [] or (isinstance(param, click.Option) and param.is_flag
                                                             and default is False and not param.secondary_opts):
        return ""
    if callable(default):
        return "(computed)"
    return md_code('""' if default == "" else default)


def cli_page() -> str:
    """reference/cli.md: the app's commands with their help, usage, arguments and options."""
    import click

    commands = cli_commands()
    lines = [
        "# Command line",
        "",
        "Every command of `fedfair` and its options, generated when this site is built from the typer app "
        "`fedfair.cli:app` (its click commands: the text `fedfair COMMAND --help` prints). Run parameters "
        "(`--set KEY=VALUE`) are listed on [Run parameters](parameters.md).",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for path, command, _ctx in commands[1:]:
        first = (paragraphs(command.help or "") or [""])[0]
        lines.append(f"| [`{' '.join(path)}`](#{slug(' '.join(path))}) | {md_text(first)} |")
    lines.append("")
    for path, command, ctx in commands:
        title = " ".join(path)
        lines += [f"## {title}", ""]
        for para in paragraphs(command.help or ""):
            lines += [md_text(para), ""]
        usage = command.get_usage(ctx).strip()
        lines += ["```text", usage, "```", ""]
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        if arguments:
            lines += ["| argument | type | required | description |", "|---|---|---|---|"]
            for arg in arguments:
                shown = arg.human_readable_name + ("..." if arg.nargs == -1 else "")
                help_text = getattr(arg, "help", None) or ""
                lines.append(f"| `{shown}` | {_type_name(arg, ctx)} | {'yes' if arg.required else 'no'} | "
                             f"{md_text(help_text)} |")
            lines.append("")
        if options:
            lines += ["| option | type | default | description |", "|---|---|---|---|"]
            for opt in options:
                names = ", ".join(f"`{o}`" for o in [*opt.opts, *opt.secondary_opts])
                repeat = " (repeatable)" if opt.multiple else ""
                lines.append(f"| {names} | {_type_name(opt, ctx)}{repeat} | {_default(opt)} | "
                             f"{md_text(opt.help or '')} |")
            lines.append("")
        if isinstance(command, click.Group) and len(path) > 1:
            subs = [c for c in command.list_commands(ctx) if not getattr(command.get_command(ctx, c), "hidden", False)]
            lines += ["Subcommands: " + ", ".join(f"[`{title} {s}`](#{slug(f'{title} {s}')})" for s in subs), ""]
    return "\n".join(lines)


# ----- run parameters -------------------------------------------------------------------------------------
def param_components() -> dict[str, dict[str, Any]]:
    """{component: {key: Param}} of fedfair's own components, as ``fedfair params`` lists them."""
    from fedfair.registry import param_catalogue

    return param_catalogue(plugins_too=False)


def params_page() -> str:
    """reference/parameters.md: every run parameter by component, an index, and what each strategy reads."""
    from fedfair.config import accepted
    from fedfair.registry import STRATEGIES, strategy_components

    components = param_components()
    owners: dict[str, list[str]] = {}
    for component, specs in components.items():
        for key in specs:
            owners.setdefault(key, []).append(component)
    lines = [
        "# Run parameters",
        "",
        "Every run parameter of fedfair's components, generated when this site is built from the parameter "
        "specs (`fedfair.config.COMMON_PARAMS`, each strategy's declaration in `fedfair/strategies/specs.py`, "
        "each client-side plug-in's `params`) through `fedfair.registry.param_catalogue`: the table "
        "`fedfair params` prints. A run reads the common parameters, its strategy's and those of the strategy's "
        "client-side plug-ins (`fedfair params -s NAME` lists them; [below](#what-each-strategy-reads)).",
        "",
        "Set them with `--set KEY=VALUE` (`fedfair run`, `compare`, `bench`, `tune`), in a config file "
        "(`--config exp.toml`), as `flwr run . --run-config \"KEY=VALUE ...\"`, or as keyword arguments of "
        "`fedfair.run` (`num_clusters=2` is `num-clusters=2`). An installed plugin's own parameters are listed "
        "by `fedfair params` on the machine that has it.",
        "",
        "## Index",
        "",
        "| key | declared by |",
        "|---|---|",
    ]
    for key in sorted(owners):
        where = ", ".join(f"[{c}](#{slug(c)})" for c in owners[key])
        lines.append(f"| `{key}` | {where} |")
    lines += ["", "## What each strategy reads", "",
              "| strategy | components (besides common) |", "|---|---|"]
    for name in STRATEGIES:
        parts = [c for c in strategy_components(name) if c != "common"]
        lines.append(f"| `{name}` | {', '.join(f'[{c}](#{slug(c)})' for c in parts)} |")
    lines.append("")
    for component, specs in components.items():
        lines += [f"## {component}", ""]
        if not specs:
            lines += ["No parameters of its own.", ""]
            continue
        lines += ["| key | type | default | accepted | meaning |", "|---|---|---|---|---|"]
        for key, spec in specs.items():
            lines.append(f"| `{key}` | {spec.type.__name__} | {md_code(repr(spec.default))} | "
                         f"{md_text(accepted(spec))} | {md_text(spec.help)} |")
        lines.append("")
    return "\n".join(lines)


STRATEGIES_MARKER = re.compile(r"<!--\s*fedfair:strategies\s*-->")


def strategies_table(page_uri: str) -> str:
    """Every builtin strategy: its description (the first paragraph of its docstring, read from the source as
    ``fedfair strategies`` reads it), its client-side plug-ins and a link to its parameters."""
    from fedfair.registry import STRATEGIES, builtin_strategy_doc
    from fedfair.strategies.specs import SPECS

    params_link = posixpath.relpath(PARAMS_PAGE, posixpath.dirname(page_uri) or ".")
    modules = [target.split(":")[0] for target in STRATEGIES.values()]
    lines = ["| `--strategy` | what it is | client-side plug-ins | parameters |", "|---|---|---|---|"]
    for name, target in STRATEGIES.items():
        doc = builtin_strategy_doc(name, of_class=modules.count(target.split(":")[0]) > 1) or ""
        first = (paragraphs(doc) or [""])[0]
        spec = SPECS[name]
        plugins = ", ".join(f"`{o}`" for o in spec.objectives)
        if spec.adapt:
            plugins += f"; before evaluation `{spec.adapt}`"
        lines.append(f"| `{name}` | {md_text(first)} | {plugins} | "
                     f"[strategy {name}]({params_link}#{slug(f'strategy {name}')}) |")
    return "\n".join(lines)


# ----- file schemas ---------------------------------------------------------------------------------------
def _annotation(annotation: Any, models: dict[str, str]) -> str:
    """A field's JSON type in words: list of string, a | b, "x" or "y", a link to another schema's table."""
    from pydantic import BaseModel

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is typing.Any:
        return "any"
    if origin is typing.Annotated:
        return _annotation(args[0], models)
    if origin is typing.Literal:
        return " or ".join(md_code(json.dumps(a)) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_annotation(a, models) for a in args)
    if origin in (list, tuple):
        return f"list of {_annotation(args[0], models)}" if args else "list"
    if origin is dict:
        return f"object of {_annotation(args[0], models)} → {_annotation(args[1], models)}" if args else "object"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = annotation.__name__
        return f"[{name}](#{models[name]})" if name in models else name
    json_names = {str: "string", int: "integer", float: "number", bool: "boolean"}  # the JSON types
    return json_names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def schema_table(name: str, models: dict[str, str]) -> str:
    """The field table of the pydantic model ``fedfair.schemas.<name>``."""
    from pydantic_core import PydanticUndefined

    from fedfair import schemas

    from pydantic import BaseModel

    def as_json(value: Any) -> str:  # a default as it is written in the JSON file
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_none=True)
        try:
            return md_code(json.dumps(value))
        except TypeError:
            return md_code(repr(value))

    model = getattr(schemas, name)
    lines = ["| field | type | required | default | accepted |", "|---|---|---|---|---|"]
    for field_name, field in model.model_fields.items():
        if field.is_required():
            default = ""
        elif field.default_factory is not None:
            default = as_json(field.default_factory())
        else:
            default = "" if field.default is PydanticUndefined else as_json(field.default)
        lines.append(f"| `{field_name}` | {_annotation(field.annotation, models)} | "
                     f"{'yes' if field.is_required() else 'no'} | {default} | {md_text(field.description or '')} |")
    extra = model.model_config.get("extra")
    note = ("Other fields are kept as they are." if extra == "allow" else
            "Any other field is an error.") if extra else ""
    return "\n".join(lines) + (f"\n\n{note}" if note else "")


SCHEMA_MARKER = re.compile(r"<!--\s*fedfair:schema\s+(\w+)\s*-->")


def schema_anchor(name: str) -> str:
    """The anchor of a schema's section: a heading written with ``{#schema-<name in lower case>}``."""
    return f"schema-{name.lower()}"


def fill_schemas(markdown: str) -> str:
    """Replace every ``<!-- fedfair:schema NAME -->`` with the schema's table; a field whose type is another
    schema of the page links to that schema's section (:func:`schema_anchor`)."""
    models = {m: schema_anchor(m) for m in SCHEMA_MARKER.findall(markdown)}
    return SCHEMA_MARKER.sub(lambda m: schema_table(m.group(1), models), markdown)


# ----- paper results --------------------------------------------------------------------------------------
INCLUDE_MARKER = re.compile(r"<!--\s*fedfair:include\s+(\S+)\s*-->")
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def report_pages() -> dict[str, Path]:
    """{src_uri of the page: report} for every ``benchmarks/*.md`` but VERDICTS.md (rendered in papers.md)."""
    return {f"{PAPERS_DIR}/{p.name}": p for p in sorted(BENCHMARKS.glob("*.md")) if p.name != VERDICTS}


def report_title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


REPORTS_MARKER = re.compile(r"<!--\s*fedfair:reports\s*-->")


def reports_list(page_uri: str) -> str:
    """A list of the report pages with their titles and source files."""
    base = posixpath.dirname(page_uri) or "."
    return "\n".join(f"- [{md_text(report_title(path))}]({posixpath.relpath(uri, base)}) (`benchmarks/{path.name}`)"
                     for uri, path in report_pages().items())


def _outside_fences(markdown: str, change: Any) -> str:
    """Apply ``change(line)`` to every line outside fenced code blocks."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            out.append(line)
        else:
            out.append(line if fenced else change(line))
    return "\n".join(out) + "\n"


class ReportLinks:
    """Rewrites the relative links of a benchmarks/ Markdown file shown at ``page`` (a src_uri of the site);
    collects the files it cites, to be copied into the site."""

    def __init__(self, page: str) -> None:
        self.page = page
        self.assets: dict[str, Path] = {}  # src_uri -> file in benchmarks/

    def _relative(self, target_uri: str) -> str:
        return posixpath.relpath(target_uri, posixpath.dirname(self.page) or ".")

    def link(self, match: re.Match[str]) -> str:
        bang, text, target = match.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path, _, fragment = target.partition("#")
        resolved = (BENCHMARKS / path).resolve()
        anchor = f"#{fragment}" if fragment else ""
        if resolved.parent == BENCHMARKS and resolved.name == VERDICTS:
            return f"{bang}[{text}]({self._relative(PAPERS_PAGE)}{anchor})"
        if resolved.parent == BENCHMARKS and resolved.suffix == ".md" and resolved.is_file():
            return f"{bang}[{text}]({self._relative(f'{PAPERS_DIR}/{resolved.name}')}{anchor})"
        if resolved.is_file() and BENCHMARKS in resolved.parents:
            uri = f"{PAPERS_DIR}/{resolved.relative_to(BENCHMARKS).as_posix()}"
            self.assets[uri] = resolved
            return f"{bang}[{text}]({self._relative(uri)}{anchor})"
        try:  # not in the site: its repository path as text
            shown = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            shown = posixpath.normpath(posixpath.join("benchmarks", path))
        return f"{text} (`{shown}`)" if text and text.strip("`") != shown else f"`{shown}`"

    def rewrite(self, markdown: str, demote: int = 0) -> str:
        def change(line: str) -> str:
            if demote and re.match(r"^#{1,5} ", line):
                line = "#" * demote + line
            return LINK.sub(self.link, line)

        return _outside_fences(markdown, change)


def _site_files(config: MkDocsConfig) -> tuple[dict[str, str], dict[str, Path]]:
    """({src_uri: Markdown} of the report pages, {src_uri: path} of the files they and VERDICTS.md cite)."""
    pages: dict[str, str] = {}
    assets: dict[str, Path] = {}
    for uri, path in report_pages().items():
        links = ReportLinks(uri)
        pages[uri] = links.rewrite(path.read_text(encoding="utf-8"))
        assets.update(links.assets)
    verdicts = ReportLinks(PAPERS_PAGE)
    if (BENCHMARKS / VERDICTS).is_file():
        verdicts.rewrite((BENCHMARKS / VERDICTS).read_text(encoding="utf-8"))
    assets.update(verdicts.assets)
    return pages, assets


# ----- the hooks ------------------------------------------------------------------------------------------
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Put the report pages in the nav, under the paper-results entry."""
    reports = [{re.sub(r"[`*]", "", report_title(path)): uri} for uri, path in report_pages().items()]  # plain text
    nav = config.nav or []
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and PAPERS_NAV_TITLE in entry and reports:
            value = entry[PAPERS_NAV_TITLE]
            first = value if isinstance(value, list) else [{"Verdicts": value}]
            nav[i] = {PAPERS_NAV_TITLE: [*first, {"Reports": reports}]}
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages and the files the reports cite."""
    generated = {CLI_PAGE: cli_page(), PARAMS_PAGE: params_page()}
    pages, assets = _site_files(config)
    generated.update(pages)
    for uri, content in generated.items():
        if files.get_file_from_path(uri) is not None:
            files.remove(files.get_file_from_path(uri))
        files.append(File.generated(config, uri, content=content))
    for uri, path in assets.items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Fill the markers: schema tables, included benchmark files (headings one level down, links rewritten)."""
    if "fedfair:schema" in markdown:
        markdown = fill_schemas(markdown)
    markdown = STRATEGIES_MARKER.sub(lambda _: strategies_table(page.file.src_uri), markdown)
    markdown = REPORTS_MARKER.sub(lambda _: reports_list(page.file.src_uri), markdown)

    def include(match: re.Match[str]) -> str:
        source = (ROOT / match.group(1)).resolve()
        if BENCHMARKS not in source.parents:
            raise ValueError(f"{page.file.src_uri}: fedfair:include takes a file under benchmarks/, got "
                             f"{match.group(1)}")
        text = source.read_text(encoding="utf-8")
        text = "\n".join(line for line in text.splitlines() if not line.startswith("# "))  # the page has its title
        return ReportLinks(page.file.src_uri).rewrite(text, demote=1)

    return INCLUDE_MARKER.sub(include, markdown)


