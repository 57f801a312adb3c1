"""Name -> implementation maps for strategies and builtin datasets; the run parameters of each.

This is the one place where ``fedfair`` refers to ``strategies`` and
``partitioners`` (imports are lazy, so the core never depends on them).

Parameters are scoped: a run validates the common parameters plus those of
its strategy and the strategy's client-side plug-ins (:func:`run_params`),
importing only that strategy. Keys of other components are accepted (a
``flwr run .`` run_config holds every key of pyproject.toml) but not used.
Two components declaring one key with different meanings is an error
(:func:`merge_components`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import tomllib
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable

from fedfair import plugins
from fedfair.config import (COMMON_PARAMS, MITIGATIONS, Param, ParamError, closest, did_you_mean, parse_assignments,
                            validate_params)
from fedfair.data import MANIFEST, DatasetError
from fedfair.local import objective_class, objective_names
from fedfair.plugins import UnknownNameError
from fedfair.schemas import read_text
from fedfair.tasks import is_task_set
from fedfair.paths import cache_dir

STRATEGIES: dict[str, str] = {
    "fedavg": "fedfair.strategies.fedavg:FedAvgStrategy",
    "standalone": "fedfair.strategies.standalone:StandaloneStrategy",
    "fedprox": "fedfair.strategies.fedprox:FedProxStrategy",
    "ifca": "fedfair.strategies.ifca:IFCAStrategy",
    "fair-fca": "fedfair.strategies.fair_fca:FairFCAStrategy",
    "flhc": "fedfair.strategies.flhc:FLHCStrategy",
    "fair-flhc": "fedfair.strategies.fair_flhc:FairFLHCStrategy",
    "cfl-cosine": "fedfair.strategies.cfl:CFLCosineStrategy",
    "maml": "fedfair.strategies.maml:MAMLStrategy",
    "fairfed": "fedfair.strategies.fairfed:FairFedStrategy",
    "fairfed-af": "fedfair.strategies.fairfed:FairFedAFStrategy",
    "qffl": "fedfair.strategies.qffl:QFFLStrategy",
    "afl": "fedfair.strategies.afl:AFLStrategy",
    "ditto": "fedfair.strategies.ditto:DittoStrategy",
    "fedfb": "fedfair.strategies.fedfb:FedFBStrategy",
    "fed-fairbatch": "fedfair.strategies.fed_fairbatch:FedFairBatchStrategy",
    "fed-fairgrad": "fedfair.strategies.fed_fairgrad:FedFairGradStrategy",
    "fedfair-mmfl": "fedfair.strategies.mmfl:FedFairMMFLStrategy",
    "mmfl-random": "fedfair.strategies.mmfl_random:MMFLRandomStrategy",
    "mmfl-round-robin": "fedfair.strategies.mmfl_round_robin:MMFLRoundRobinStrategy",
    "mmfl-qffl": "fedfair.strategies.mmfl_qffl:MMFLQFFLStrategy",
    "single-shot": "fedfair.strategies.single_shot:SingleShotStrategy",
}

# builtin dataset -> what it is; each is a build spec of the one builder (partitioners/builtins.py)
DATASETS: dict[str, str] = {
    "synthetic-gaussian-8": "Table 2 of Yang et al.: 8 Gaussian clients, 1200 + 1200 rows each (synthetic)",
    "adult": "UCI Adult, 5 clients unbalanced by race (Yang et al. Section 4.3)",
    "adult-iid": "UCI Adult, 5 IID clients",
    "dutch": "Dutch census 2001 (local dutch.csv only), Wu et al.'s 4 IID clients, sensitive sex, logreg",
    "adult-dutch-standin": "OFFLINE STAND-IN for Wu et al.'s Dutch experiment: UCI Adult, 4 IID clients, sex first, logreg",
    "law": "Law School (local law.csv.zip), Wu et al.'s 2 IID clients of 8,319 train + 2,080 test rows, logreg",
    "mnist": "MNIST (local files: IDX or mnist_5k.csv.gz), 10 clients with 5 of 10 classes each, CNN",
    "fashion-mnist": "Fashion-MNIST (local IDX files), 10,000 rows, 10 clients with 5 of 10 classes each, CNN",
    "emnist": "EMNIST balanced (local IDX files), 10,000 rows, 10 clients with 5 classes each, CNN",
    "cifar10": "CIFAR-10 (local binary batches, cifar-10-binary.tar.gz), 10,000 rows, 10 clients with 5 of 10 classes each, CNN",
    "digits": "scikit-learn's 8x8 digits (1,797 rows, offline), 10 clients with 5 of 10 classes each, CNN",
    "ci-mnist-size": "CI-MNIST (Wang et al.) from local MNIST: even/odd, background colour; 15 %-style red minority "
                     "varying by client; 10 clients, train/val/test, MLP 64",
    "ci-mnist-shift": "CI-MNIST (Wang et al.): class 0 mostly blue, class 1 mostly red (75-95 % by client); 10 clients",
    "ci-mnist-class": "CI-MNIST (Wang et al.): class 1 has 15-35 % of class 0's rows by client; 10 clients",
    "mmfl-3": "task set (Siew et al.): MNIST, a noisy-label Fashion-MNIST stand-in for CIFAR-10, Fashion-MNIST; 20 clients",
    "mmfl-6": "task set (Siew et al.): mmfl-3 + rotated MNIST, digits, noisy MNIST; 20 clients",
    "mmfl-10": "task set (Siew et al.): mmfl-6 + four more image variants; 20 clients",
    "acs-tasks": "task set: ACSIncome (FeDa4Fair release) + synthetic-acs stand-ins for 3 more ACS problems, 47 states",
}
# The papers fedfair implements, by their short names in user-facing text (README "Papers" maps the seed labels of
# the project's notes, "seed 000" ..., to these).
PAPERS = {"000": "Yang et al.", "001": "Wu et al.", "002": "FeDa4Fair", "003": "Siew et al.", "004": "Wang et al."}
_SEED_LABEL = re.compile(r"\b[Ss]eed (00[0-4])\b")


def cite(text: str) -> str:
    """A text with the seed labels of the papers (``seed 000``) replaced by the papers' names (``Yang et al.``),
    for what the command line shows (strategy descriptions, parameter help)."""
    return _SEED_LABEL.sub(lambda m: PAPERS[m.group(1)], text)


BUILD_BUILTIN = "fedfair.partitioners.builtins:build_builtin"
# Bump when a builder's output changes, so cached copies are rebuilt.
BUILDER_VERSION = 3
# Options that say where raw files are, not what is built: not part of the cache key.
_LOCATION_OPTIONS = {"data_root"}


def _load(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def strategy_class(name: str) -> Callable[..., Any]:
    """The strategy class a name stands for: a builtin, an installed ``fedfair.strategies`` entry point, or a
    plugin ``package.module:Name`` (:mod:`fedfair.plugins`)."""
    cls = plugins.resolve("strategy", name, STRATEGIES)
    if not (isinstance(cls, type) and hasattr(cls, "param_components") and hasattr(cls, "run")):
        raise plugins.PluginError(f"strategy {name!r} is a {type(cls).__name__}, not a strategy class: subclass "
                                  f"fedfair.strategies.base.FedFairStrategy")
    return cls


def strategy_names() -> dict[str, plugins.Origin]:
    """{name: where it comes from} of every builtin strategy and installed strategy plugin."""
    return plugins.catalogue("strategy", STRATEGIES)


# A builtin strategy's module imports Flower and torch (seconds); what the listings need of it (its parameters,
# its plug-ins, its description) is read without importing it: its declaration in fedfair/strategies/specs.py,
# its docstrings from its source. A plugin strategy is imported (the user's code).
def _builtin_spec(name: str) -> Any:
    """The declaration (:class:`fedfair.strategies.specs.StrategySpec`) of a builtin strategy; None otherwise."""
    if name not in STRATEGIES:
        return None
    from fedfair.strategies.specs import SPECS

    return SPECS.get(name)


def strategy_params(name: str) -> dict[str, Param]:
    """A strategy's own parameters (its class's ``extra_params``); a builtin's without importing it."""
    spec = _builtin_spec(name)
    return dict(spec.params) if spec is not None else dict(strategy_class(name).extra_params)


def strategy_components(name: str) -> dict[str, dict[str, Param]]:
    """``strategy_class(name).param_components()``: the parameters a run of the strategy reads, by component; a
    builtin's without importing it."""
    spec = _builtin_spec(name)
    return spec.param_components(name) if spec is not None else strategy_class(name).param_components()


def builtin_strategy_doc(name: str, of_class: bool = False) -> str | None:
    """A builtin strategy's docstring read from its source, not imported: its module's, or its class's with
    ``of_class`` ('' when there is none). None for a plugin, or where the source does not define the class
    (the caller imports it)."""
    if name not in STRATEGIES:
        return None
    import ast
    import importlib.util

    module, qualname = STRATEGIES[name].split(":")
    try:
        found = importlib.util.find_spec(module)
        if found is None or not found.origin or not found.origin.endswith(".py"):
            return None
        tree = ast.parse(Path(found.origin).read_text(encoding="utf-8"))
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == qualname:
            return ast.get_docstring(node if of_class else tree, clean=False) or ""
    return None


def merge_components(components: Mapping[str, Mapping[str, Param]]) -> dict[str, Param]:
    """One flat {key: Param}; the same key declared by two components with different specs is an error."""
    merged: dict[str, Param] = {}
    owner: dict[str, str] = {}
    for component, params in components.items():
        for key, spec in params.items():
            if key in merged and merged[key] != spec:
                raise ParamError(f"parameter {key!r} is declared by {owner[key]} and by {component} with different "
                                 f"meanings; rename one of them")
            merged.setdefault(key, spec)
            owner.setdefault(key, component)
    return merged


def param_catalogue(plugins_too: bool = True) -> dict[str, dict[str, Param]]:
    """Every component's parameters: common, each strategy's own, each local objective's (the builtin strategies
    are not imported, see :func:`strategy_params`); with ``plugins_too`` those of the installed plugins as well
    (imported)."""
    components: dict[str, dict[str, Param]] = {"common": dict(COMMON_PARAMS)}
    for name, origin in strategy_names().items():
        if plugins_too or origin.source == "fedfair":
            components[f"strategy {name}"] = strategy_params(name)
    for name, origin in objective_names().items():
        if plugins_too or origin.source == "fedfair":
            components[f"local {name}"] = dict(objective_class(name).params)
    return components


def known_params(plugins_too: bool = True) -> dict[str, Param]:
    """Every parameter any run may take; fedfair's own (``plugins_too=False``) are the keys of
    ``[tool.flwr.app.config]``."""
    return merge_components(param_catalogue(plugins_too))


def run_params(run_config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The validated parameters of a run (its strategy's scope, defaults filled in) and the keys it ignores.

    A key no component declares is an error naming the valid ones; a key of
    another strategy or plug-in is type-checked and ignored (listed when its
    value differs from the default).
    """
    run_config = expand_plugin_params(run_config)
    name = str(run_config.get("strategy", COMMON_PARAMS["strategy"].default))
    components = strategy_class(name).param_components()
    mitigation = str(run_config.get("mitigation", "none"))
    if mitigation not in ("none", *MITIGATIONS) and plugins.known("local objective", mitigation, {}):
        components[f"local {mitigation}"] = dict(objective_class(mitigation).params)  # a plugin mitigation's own
    scope = merge_components(components)
    foreign = {k: v for k, v in run_config.items() if k not in scope}
    ignored: list[str] = []
    if foreign:
        everything = known_params()
        unknown = sorted(set(foreign) - set(everything))
        if unknown:
            raise ParamError(f"unknown parameter(s) {unknown}; parameters of {name}: {', '.join(sorted(scope))} "
                             f"(all: `fedfair params`){did_you_mean(unknown, everything)}")
        checked = validate_params(foreign, {k: everything[k] for k in foreign})
        ignored = sorted(k for k, v in checked.items() if v != everything[k].default)
    params = validate_params({k: v for k, v in run_config.items() if k in scope}, scope)
    strategy_class(name).check_params(params)
    return params, ignored


def expand_plugin_params(run_config: Mapping[str, Any]) -> dict[str, Any]:
    """``plugin-params = "k=v;k2=v2"`` merged into the run config (a key given twice is an error)."""
    config = dict(run_config)
    text = str(config.get("plugin-params") or "")
    if not text.strip():
        return config
    extra = parse_assignments([part for part in text.split(";") if part.strip()])
    clash = sorted(k for k in extra if k in config and config[k] != extra[k])
    if clash:
        raise ParamError(f"plugin-params sets {clash}, which the run config sets too: give each key once")
    return {**config, **extra}


def check_model_fits(params: Mapping[str, Any], dataset_dir: str | os.PathLike[str]) -> None:
    """Before any work: the ``model`` parameter fits the dataset (a CNN needs image features; a plugin model is
    imported and built for the dataset's inputs)."""
    model = params.get("model", "auto")
    if model in ("auto", "logreg", "mlp") or not dataset_dir or is_task_set(dataset_dir):
        return
    from fedfair.data import read_manifest

    manifest = read_manifest(dataset_dir)
    if model != "cnn":
        from fedfair.models import build_model

        try:
            build_model({"model": model}, len(manifest.features), num_classes=manifest.num_classes,
                        input_shape=manifest.input_shape)
        except plugins.PluginError:
            raise
        except Exception as err:  # noqa: BLE001 (a plugin's own error, reported as the user's problem)
            raise ParamError(f"model {model!r} cannot be built for {dataset_dir} ({len(manifest.features)} features, "
                             f"{manifest.num_classes} classes, input_shape {manifest.input_shape}): "
                             f"{type(err).__name__}: {err}") from None
        return
    if manifest.input_shape is None:
        raise ParamError(f"model 'cnn' needs image features, but {dataset_dir} is tabular (its manifest has no "
                         f"input_shape); use --set model=logreg or model=mlp")


def check_min_nodes(params: Mapping[str, Any], num_clients: int, dataset: str | os.PathLike[str] = "") -> None:
    """Before a simulation starts: ``min-nodes`` is at most the number of clients of its dataset (a simulation
    starts one SuperNode per client, so the server would wait forever for the others)."""
    wanted = int(params.get("min-nodes") or 0)
    if wanted > num_clients:
        where = f"{dataset or params.get('dataset') or 'the dataset'}"
        raise ParamError(f"parameter 'min-nodes' = {wanted} but {where} has {num_clients} client(s): a simulation "
                         f"starts one SuperNode per client and would wait forever; set min-nodes <= {num_clients}, "
                         f"or 0 (= every client)")


# keys of a run's config.json that are not run parameters, and run-directory bookkeeping
CONFIG_FILE_SKIPPED = ("dataset-dir", "resume", "overwrite")


def _line_of(text: str, key: str) -> int | None:
    """The 1-based line where ``key`` is assigned in a TOML / JSON text (None if not found)."""
    key = re.escape(key)
    pattern = re.compile(rf'^\s*"?{key}"?\s*=|"{key}"\s*:|^\s*\[{key}\]')  # TOML key, JSON key, TOML table
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)), None)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _line_of_text(text: str, word: str) -> int:
    return next((n for n, line in enumerate(text.splitlines(), 1) if word in line), 1)


def _app_config(data: dict[str, Any], file: Path, flag: str) -> dict[str, Any]:
    """A TOML file's run parameters: its ``[tool.flwr.app.config]`` when it has a ``[tool]`` table (a
    pyproject.toml), else its top-level keys."""
    if "tool" not in data:
        return data
    node: Any = data
    for part in ("tool", "flwr", "app", "config"):
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ParamError(f"{flag} {file}: has a [tool] table but no [tool.flwr.app.config] table of run "
                             f"parameters; put the parameters at the top level or under [tool.flwr.app.config]")
    return node


def read_config_file(path: str | os.PathLike[str], flag: str = "--config") -> dict[str, Any]:
    """Run parameters from a TOML or JSON file: the keys of ``--set`` / ``[tool.flwr.app.config]`` (a
    pyproject.toml gives its app config), or a run's own config.json (its dataset-dir is skipped, and its
    out-dir when that is the file's own directory, so the run is repeated elsewhere). Every key is checked
    (known, type, range); errors name the ``flag``, the file and the line."""
    file = Path(path)
    if not file.is_file():
        raise ParamError(f"{flag} {file}: no such file")
    if file.suffix not in (".toml", ".json"):
        raise ParamError(f"{flag} {file}: a config file is .toml or .json")
    fix = "a config file holds run parameters as top-level keys (see `fedfair params`)"
    text = read_text(file, flag, fix, ParamError)
    if file.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ParamError(f"{flag} {file}: not valid TOML ({err})") from None
        data = _app_config(data, file, flag)
    else:
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as err:
            raise ParamError(f"{flag} {file}, line {err.lineno}: not valid JSON ({err.msg})") from None
        except ValueError as err:  # NaN / Infinity
            raise ParamError(f"{flag} {file}, line {_line_of_text(text, str(err))}: {err} is not a finite number") from None
        except RecursionError:
            raise ParamError(f"{flag} {file}: nested too deeply; {fix}") from None
    if not isinstance(data, dict):
        raise ParamError(f"{flag} {file}: expected a table of run parameters, got a {type(data).__name__}")
    values = {k: v for k, v in data.items() if k not in CONFIG_FILE_SKIPPED}
    if values.get("out-dir") and Path(str(values["out-dir"])).resolve() == file.parent.resolve():
        del values["out-dir"]
    everything = known_params()
    if isinstance(values.get("strategy"), str) and values["strategy"] not in STRATEGIES:  # a plugin's own keys
        try:
            everything = {**merge_components(strategy_class(values["strategy"]).param_components()), **everything}
        except plugins.PluginError as err:
            raise ParamError(f"{flag} {file}, line {_line_of(text, 'strategy')}: {err}") from None
    for key, value in values.items():
        line = _line_of(text, key)
        where = f"{flag} {file}" + (f", line {line}" if line else "")
        if isinstance(value, dict):
            raise ParamError(f"{where}: [{key}] is a table; run parameters are top-level keys (see `fedfair params`)")
        if key not in everything:
            close = closest(key, everything)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise ParamError(f"{where}: unknown parameter {key!r}{hint}; see `fedfair params`")
        try:
            validate_params({key: value}, {key: everything[key]})
        except ParamError as err:
            raise ParamError(f"{where}: {err}") from None
    return values


def build_builtin_dataset(name: str, out: str | os.PathLike[str], seed: int, **options: Any) -> Path:
    """Write the builtin dataset ``name`` to ``out``."""
    if name not in DATASETS:
        raise UnknownNameError(_unknown_dataset(name))
    return _load(BUILD_BUILTIN)(name, out, seed=seed, **{k: v for k, v in options.items() if v is not None})


def _unknown_dataset(name: str) -> str:
    return (
        f"unknown dataset {name!r}: not a directory with {MANIFEST} and not a builtin name; "
        f"valid builtin datasets: {', '.join(sorted(DATASETS))}{did_you_mean([name], DATASETS)}"
    )


def resolve_dataset(name_or_path: str, seed: int = 0, **options: Any) -> Path:
    """Directory of a dataset given by path or builtin name (built once, then cached).

    Builtin datasets are cached under ``<cache>/datasets/<name>-seed<seed>-<hash>``
    where the hash covers the builder options, so different options never share
    a directory. Building is atomic, so concurrent callers are safe.
    """
    path = Path(name_or_path).expanduser()
    if (path / MANIFEST).is_file() or is_task_set(path):
        return path.resolve()
    if name_or_path not in DATASETS:
        if path.exists():
            raise DatasetError(f"{path} is not a fedfair dataset: {MANIFEST} not found")
        raise UnknownNameError(_unknown_dataset(name_or_path))
    key = json.dumps({"v": BUILDER_VERSION, **{k: v for k, v in options.items() if v not in (None, "") and k not in _LOCATION_OPTIONS}}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    out = cache_dir() / "datasets" / f"{name_or_path}-seed{seed}-{digest}"
    if not (out / MANIFEST).is_file() and not is_task_set(out):
        build_builtin_dataset(name_or_path, out, seed, **options)
    return out
