"""Plugins: strategies, local objectives, data sources and models from outside the repository.

Wherever fedfair takes the name of one of these (the CLI, config files, ``--run-config`` of ``flwr run .``,
compare entries, ``bench --strategies``, a model spec, a build spec's ``source``), it also takes

- ``package.module:Name``: the object ``Name`` of an importable module (Flower's own ``module:attr`` form);
- the name of an entry point a user's package declares in its pyproject.toml::

      [project.entry-points."fedfair.strategies"]
      my-strategy = "my_pkg.strategy:MyStrategy"

  in the groups :data:`GROUPS` (``fedfair.strategies``, ``fedfair.local_objectives``, ``fedfair.sources``,
  ``fedfair.models``).

A name resolves the same way in the ServerApp, in every Ray worker and on every SuperNode, because it is
resolved from the name the messages carry, in the process that needs it (nothing is registered at run time
in one process only). A plugin that cannot be imported there fails with one line naming it and the fix. A
builtin name always wins over an entry point of the same name.
"""

from __future__ import annotations

import importlib
import sys
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

# entry-point group of each kind of plugin
GROUPS = {
    "strategy": "fedfair.strategies",
    "local objective": "fedfair.local_objectives",
    "source": "fedfair.sources",
    "model": "fedfair.models",
}
_TARGET = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


PLURALS = {"strategy": "strategies", "local objective": "local objectives", "source": "sources", "model": "models"}


class PluginError(ValueError):
    """A plugin that does not resolve: not importable, or not what it should be."""


class UnknownNameError(PluginError):
    """A name that is neither a builtin, nor an installed entry point, nor a ``package.module:Name``."""


def is_target(name: str) -> bool:
    """Whether ``name`` has the ``package.module:Name`` form."""
    return bool(_TARGET.match(str(name)))


def load_target(target: str, kind: str) -> Any:
    """The object ``package.module:Name`` names; a one-line PluginError when it cannot be imported here."""
    if not is_target(target):
        raise PluginError(f"{kind} {target!r}: a plugin is named package.module:Name")
    module_name, qualname = target.split(":")
    try:  # an imported module straight from sys.modules (resolved for every message: import machinery is ~0.2 ms)
        obj: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 (any import failure is the same problem for the user)
        raise PluginError(f"{kind} plugin {target!r} cannot be imported on this machine ({type(err).__name__}: "
                          f"{err}): pip install the package that provides {module_name!r} here and on every "
                          f"SuperNode") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{kind} plugin {target!r}: module {module_name!r} has no {qualname!r}; check the "
                              f"name (package.module:Name)")
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Origin:
    """Where a registered name comes from: fedfair itself, or an entry point of an installed distribution."""

    target: str
    source: str  # "fedfair", or "plugin <distribution> <version>"


@lru_cache(maxsize=None)
def _entry_points(group: str) -> tuple[tuple[str, str, str], ...]:
    found = []
    for point in metadata.entry_points(group=group):
        dist = getattr(point, "dist", None)
        label = f"plugin {dist.metadata['Name']} {dist.version}" if dist is not None else "plugin"
        found.append((point.name, point.value, label))
    return tuple(found)


def entry_points(kind: str) -> dict[str, Origin]:
    """{name: origin} of the installed entry points of a kind."""
    return {name: Origin(value, label) for name, value, label in _entry_points(GROUPS[kind])}


def refresh() -> None:
    """Forget the cached entry points (after installing a plugin package in a running process)."""
    _entry_points.cache_clear()


def catalogue(kind: str, builtins: Mapping[str, str]) -> dict[str, Origin]:
    """Every name of a kind: the builtins, then the entry points not shadowing one."""
    names = {name: Origin(target, "fedfair") for name, target in builtins.items()}
    for name, origin in entry_points(kind).items():
        names.setdefault(name, origin)
    return names


def known(kind: str, name: str, builtins: Mapping[str, Any]) -> bool:
    """Whether ``name`` is a builtin, an entry point or a ``package.module:Name`` (not imported)."""
    return name in builtins or is_target(name) or name in entry_points(kind)


def resolve(kind: str, name: str, builtins: Mapping[str, str]) -> Any:
    """The object a name of a kind stands for: a builtin (``module:attr`` text), a ``package.module:Name``, or
    an entry point; else a PluginError listing the valid names."""
    name = str(name)
    if name in builtins:
        return load_target(builtins[name], kind)
    if is_target(name):
        return load_target(name, kind)
    points = entry_points(kind)
    if name in points:
        return load_target(points[name].target, kind)
    raise UnknownNameError(unknown_message(kind, name, builtins))


def unknown_message(kind: str, name: str, builtins: Mapping[str, Any]) -> str:
    """``unknown strategy 'x'; valid strategies: a, b; plugins: c; or a plugin package.module:Name (did you
    mean 'a'?)``."""
    points = entry_points(kind)
    extra = sorted(set(points) - set(builtins))
    text = f"unknown {kind} {name!r}; valid {PLURALS[kind]}: {', '.join(sorted(builtins))}"
    text += f"; installed plugins: {', '.join(extra)}" if extra else ""
    return text + f"; or a plugin package.module:Name{_close(name, [*builtins, *extra])}"


def _close(name: str, names: list[str]) -> str:
    from fedfair.config import closest

    match = closest(name, names)
    return f" (did you mean {match!r}?)" if match else ""
