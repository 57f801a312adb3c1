"""Griffe extensions for the docs' API pages (loaded by mkdocstrings: ``extensions:`` in mkdocs.yml).

- :class:`MountSiblingPackages`: the repository keeps ``strategies/`` and ``partitioners/`` beside ``fedfair/``;
  installed (pyproject.toml's ``package-dir``) and at run time (``fedfair/__init__.py``) they are
  ``fedfair.strategies`` and ``fedfair.partitioners``. Griffe reads the source tree, where ``fedfair/`` has no such
  folders, so this mounts them under ``fedfair`` as the install does: ``::: fedfair.strategies.base`` resolves.
- :class:`SphinxRolesToMarkdown`: fedfair's docstrings are written in reST flavour (Sphinx roles such as
  :class:`fedfair.api.RunResult`, a paragraph ending in ``::`` before an indented example); the site renders
  docstrings as Markdown. Roles become code spans (no cross-reference: a reference to an object the site does
  not document would be a broken link) and a paragraph's closing ``::`` becomes ``:``. The sources stay as they
  are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parent.parent
SIBLING_PACKAGES = ("strategies", "partitioners")  # as fedfair/__init__.py's _SIBLING_PACKAGES

# :class:`~pkg.mod.Name` -> `Name`; :func:`pkg.f` -> `pkg.f`; :meth:`title <pkg.C.m>` -> `title`
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|obj|exc|const|ref|term):`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")
LITERAL_BLOCK = re.compile(r"(\S)::[ \t]*$", re.M)


def markdown_docstring(text: str) -> str:
    """The docstring text with Sphinx roles as code spans and ``text::`` as ``text:``."""

    def role(match: re.Match[str]) -> str:
        tilde, text, explicit = match.group(1), match.group(2).strip(), match.group(3)
        if explicit:
            return f"`{text}`"
        return f"`{text.split('.')[-1] if tilde else text}`"

    return LITERAL_BLOCK.sub(r"\1:", ROLE.sub(role, text))


class SphinxRolesToMarkdown(griffe.Extension):
    """Rewrite each loaded object's docstring for Markdown rendering (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)


class MountSiblingPackages(griffe.Extension):
    """Load ``strategies/`` and ``partitioners/`` and mount them as members of the ``fedfair`` package."""

    def on_module_instance(self, *, mod: griffe.Module, **kwargs: Any) -> None:  # noqa: D102
        if mod.path != "fedfair":
            return
        for name in SIBLING_PACKAGES:
            if name in mod.members or not (ROOT / name / "__init__.py").is_file():
                continue
            loader = griffe.GriffeLoader(search_paths=[str(ROOT)],
                                         extensions=griffe.load_extensions(SphinxRolesToMarkdown()))
            mod.set_member(name, loader.load(name))
