"""Run parameters: names, types, defaults, accepted ranges, validation.

Parameters flow through Flower's run_config (kebab-case keys, the
``[tool.flwr.app.config]`` table of pyproject.toml) and mirror the CLI's
``--set KEY=VALUE``. A strategy may declare extra parameters (``extra_params``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ParamError(ValueError):
    """A run parameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    """One run parameter: its type, default, the accepted range and a help text."""

    type: type
    default: Any
    help: str
    accepted: str = ""
    check: Callable[[Any], bool] | None = None
    maximum: int | None = None  # an integer parameter's largest magnitude (None: INT_LIMIT)


# Every integer parameter is bounded (a parameter that declares no ``maximum`` by INT_LIMIT): rounds = 2**63 or
# batch-size = 10**12 is a typo, and a run with it starts and never ends.
INT_LIMIT = 10**6


def _positive(x: float) -> bool:
    return x > 0


def _known_model(name: str) -> bool:
    from fedfair import plugins
    from fedfair.schemas import MODEL_NAMES

    return plugins.known("model", name, dict.fromkeys(MODEL_NAMES))


def _plugin_objective(name: str) -> bool:
    from fedfair import plugins

    return plugins.known("local objective", name, {})


def _hidden(text: str) -> bool:
    parts = [p for p in str(text).replace(" ", "").split(",") if p]
    return bool(parts) and all(p.isdigit() and int(p) > 0 for p in parts)


# the ``device`` values (checked against a machine by fedfair.device.check_device)
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(?::(\d+))?")
DEVICE_VALUES = "auto, cpu, cuda or cuda:K (K a device index, e.g. cuda:0)"


def _device(text: str) -> bool:
    return DEVICE_PATTERN.fullmatch(str(text)) is not None


# the simulation engines (fedfair.simulation.simulate_many)
ENGINES = ("auto", "inprocess", "ray")

# client-side mitigations: plug-ins of fedfair.local any strategy can add to its local training
MITIGATIONS = ("fairif", "puffle")

COMMON_PARAMS: dict[str, Param] = {
    "strategy": Param(str, "fedavg", "server algorithm (see `fedfair strategies`)"),
    "dataset": Param(str, "synthetic-gaussian-8", "builtin dataset name or dataset directory; '' = each SuperNode's node-config dataset-dir"),
    "rounds": Param(int, 10, "federated rounds", "integer >= 1", lambda x: x >= 1),
    "seed": Param(int, 0, "seed of data generation, initialisation and local shuffling", "integer in [0, 2**31)",
                  lambda x: 0 <= x < 2**31, maximum=2**31 - 1),
    "out-dir": Param(str, "", "run directory; '' = ~/.fedfair/runs/<timestamp>-<strategy>"),
    "model": Param(str, "auto", "logreg, mlp, cnn (image datasets), auto (the dataset's default model), or a model "
                   "plugin (package.module:Name or a fedfair.models entry point)",
                   "auto, logreg, mlp, cnn or a model plugin", lambda x: x == "auto" or _known_model(x)),
    "hidden": Param(str, "32", "MLP hidden sizes, comma separated", "comma-separated positive integers, e.g. 64,32", _hidden),
    "lr": Param(float, 0.05, "local SGD learning rate", "float > 0", _positive),
    "local-epochs": Param(int, 1, "local epochs per round", "integer >= 1", lambda x: x >= 1),
    "batch-size": Param(int, 32, "local mini-batch size", "integer >= 1", lambda x: x >= 1),
    "fraction-train": Param(float, 1.0, "fraction of clients sampled for training each round", "float in (0, 1]",
                            lambda x: 0 < x <= 1),
    "fraction-evaluate": Param(float, 1.0, "fraction of the clients with a test split evaluated in an evaluation "
                               "round (a seeded sample; the final round evaluates every client)", "float in (0, 1]",
                               lambda x: 0 < x <= 1),
    "eval-every": Param(int, 1, "evaluate every k-th round (the final round always)", "integer >= 1", lambda x: x >= 1),
    "eval-split": Param(str, "test", "the clients' split every evaluation scores: test, or val (the validation split a "
                        "hyper-parameter search selects on: fedfair tune; clients without one are not evaluated)",
                        "test or val", lambda x: x in ("test", "val")),
    "fold-evaluation": Param(bool, True, "ask a client for the previous round's evaluation in its next train message "
                             "when it trains from the model it deploys (one message instead of two; same numbers); "
                             "false = a separate evaluate message every round"),
    "plugin-params": Param(str, "", "more run parameters as KEY=VALUE pairs separated by ';', e.g. a plugin's "
                           "own (`flwr run . --run-config` takes only the keys of pyproject.toml)",
                           "'' or KEY=VALUE;KEY=VALUE", lambda x: all("=" in part for part in str(x).split(";") if part.strip())),
    "data-root": Param(str, "", "directory with raw source files (e.g. adult.data); also $FEDFAIR_DATA_ROOT"),
    "min-nodes": Param(int, 0, "SuperNodes to wait for before starting; 0 = the dataset's number of clients (1 without a dataset)",
                       "integer >= 0", lambda x: x >= 0),
    "timeout": Param(float, 600.0, "seconds to wait for the SuperNodes, and for client replies in one round unless "
                     "round-timeout is set", "float > 0", _positive),
    "resume": Param(bool, False, "continue the run in out-dir from its last checkpoint (fedfair run --resume DIR)"),
    "overwrite": Param(bool, False, "replace a complete run in out-dir (fedfair's files of it; other files stay); "
                       "without it a complete run is never replaced (fedfair run --overwrite)"),
    "round-timeout": Param(float, 0.0, "seconds to wait for a round's replies; a client still silent then counts as "
                           "failed (0 = timeout)", "float >= 0", lambda x: x >= 0),
    "min-replies": Param(float, 0.5, "fraction of a round's messages that must be answered; the round goes on "
                         "without the failed clients (recorded), else the run stops naming them",
                         "float in (0, 1]", lambda x: 0 < x <= 1),
    "fail-rate": Param(float, 0.0, "fault injection: seeded probability that a client raises in a round's training",
                       "float in [0, 1)", lambda x: 0 <= x < 1),
    "straggle-rate": Param(float, 0.0, "fault injection: seeded probability that a client is late in a round's "
                           "training", "float in [0, 1]", lambda x: 0 <= x <= 1),
    "straggle-seconds": Param(float, 0.0, "fault injection: how late a straggler is (seconds)", "float >= 0",
                              lambda x: x >= 0),
    "ci-level": Param(float, 0.95, "level of the bootstrap confidence intervals in summary.json and the printed table",
                      "float in (0, 1)", lambda x: 0 < x < 1),
    "ci-resamples": Param(int, 1000, "bootstrap resamples of each client's test rows (from its confusion counts) "
                          "and of the clients for the means; 0 = no intervals", "integer >= 0", lambda x: x >= 0),
    "plots": Param(bool, True, "draw the run's figures (accuracy_vs_fairness.png, ...) when it finishes; false = "
                   "summary and metrics only (fedfair compare / bench set it: their reports draw their own)"),
    "plot-format": Param(str, "png", "file format of the run's figures: png (150 dpi), svg or pdf", "png, svg or pdf",
                         lambda x: x in ("png", "svg", "pdf")),
    "mitigation": Param(str, "none", "client-side fairness mitigation added to any strategy's local training: none, "
                        "fairif (seed 004's influence reweighting), puffle (PUFFLE's regulariser) or a local-objective "
                        "plugin (package.module:Name or a fedfair.local_objectives entry point)",
                        "none, fairif, puffle or a local-objective plugin", lambda x: x in ("none", *MITIGATIONS)
                        or _plugin_objective(x)),
    "engine": Param(str, "auto", "simulation engine: inprocess (the ClientApp called in this process, no Ray: "
                    "seconds to start, clients one after the other), ray (Flower's Ray engine: a process per core, "
                    "or the cluster of RAY_ADDRESS), auto (ray when RAY_ADDRESS is set, else inprocess); "
                    "`flwr run .` and deployments ignore it", "auto, inprocess or ray",
                    lambda x: x in ENGINES),
    "batch-clients": Param(bool, True, "in-process engine: train a round's clients as one computation where the "
                           "model and plug-ins allow it (logreg / mlp with sgd, proximal, group-weights, finetune, "
                           "puffle, fairif; the same weights to float rounding); false = one client after the other"),
    "device": Param(str, "auto", "where clients train and evaluate: auto (CUDA when the node has it, else the CPU), "
                    "cpu, cuda (the GPU Ray gives the client) or cuda:K", DEVICE_VALUES, _device),
    "client-num-cpus": Param(float, 1.0, "simulation: CPU cores Ray reserves per client (clients at once = cores / "
                             "this)", "float > 0", _positive),
    "client-num-gpus": Param(float, 0.0, "simulation: GPUs Ray reserves per client, fractional allowed (0.25 = four "
                             "clients per GPU); 0 with device auto or cuda on a CUDA machine = the GPUs shared evenly "
                             "by the clients that run at once", "float >= 0", lambda x: x >= 0),
}

# the sensitive attribute fair strategies and mitigations use (one spec, shared by the components that read it)
SENSITIVE_PARAM = Param(str, "", "sensitive attribute the fair strategies and mitigations use; '' = the dataset's first")


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value like TOML would: int, float, bool, else string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["lr=0.1", "model=mlp"]`` -> ``{"lr": 0.1, "model": "mlp"}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParamError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out


def _coerce(key: str, spec: Param, value: Any) -> Any:
    if spec.type is bool:
        if isinstance(value, bool):
            return value
        raise ParamError(f"parameter {key!r} must be true or false, got {value!r}")
    if spec.type is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ParamError(f"parameter {key!r} must be an integer ({spec.accepted or 'integer'}), got {value!r}")
        return int(value)
    if spec.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"parameter {key!r} must be a number ({spec.accepted or 'float'}), got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ParamError(f"parameter {key!r} must be a finite number ({spec.accepted or 'float'}), got {value!r}")
        return number
    if not isinstance(value, (str, int, float)):
        raise ParamError(f"parameter {key!r} must be a string ({spec.accepted or 'text'}), got {value!r}")
    return str(value)


def validate_params(values: Mapping[str, Any], specs: Mapping[str, Param]) -> dict[str, Any]:
    """Defaults filled in, types coerced, ranges checked; errors name the key and the range."""
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ParamError(f"unknown parameter(s) {unknown}; valid parameters: {', '.join(sorted(specs))}"
                         f"{did_you_mean(unknown, specs)}")
    out = {}
    for key, spec in specs.items():
        value = _coerce(key, spec, values.get(key, spec.default))
        if spec.check is not None and not spec.check(value):
            raise ParamError(f"parameter {key!r} = {value!r} is out of range: accepted {spec.accepted}")
        if spec.type is int and abs(value) > int_limit(spec):
            raise ParamError(f"parameter {key!r} = {value!r} is out of range: accepted {accepted(spec)} (a larger "
                             f"value is a typo: the run would not end)")
        out[key] = value
    return out


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (difflib's ratio >= 0.6), None when none is close."""
    import difflib

    match = difflib.get_close_matches(name, list(valid), n=1)
    return match[0] if match else None


def did_you_mean(unknown: Sequence[str], valid: Iterable[str]) -> str:
    """``"; did you mean 'lr'?"`` for the unknown names that are close to a valid one (``lrr`` -> ``lr``; several:
    ``'lr' for 'lrr', 'seed' for 'sed'``), else ''."""
    valid = list(valid)
    close = {name: closest(name, valid) for name in unknown}
    close = {name: match for name, match in close.items() if match}
    if not close:
        return ""
    if len(unknown) == 1:
        return f"; did you mean {next(iter(close.values()))!r}?"
    return "; did you mean " + ", ".join(f"{match!r} for {name!r}" for name, match in close.items()) + "?"


def int_limit(spec: Param) -> int:
    """The largest magnitude an integer parameter accepts: its ``maximum``, else INT_LIMIT."""
    return spec.maximum if spec.maximum is not None else INT_LIMIT


def accepted(spec: Param) -> str:
    """The accepted values of a parameter as `fedfair params` shows them (an integer's upper bound included)."""
    if spec.type is not int or spec.maximum is not None:
        return spec.accepted
    return f"{spec.accepted or 'integer'}, at most {int_limit(spec)}"


def hidden_sizes(text: str) -> list[int]:
    """``"64,32"`` -> ``[64, 32]``."""
    return [int(p) for p in str(text).replace(" ", "").split(",") if p]
