"""One validation layer for the files a user hands fedfair: each file kind has one declared schema, checked once
where the file is read; the readers after it receive typed objects.

Schemas are pydantic v2 models in strict mode: a number where a name is expected, a string where a count is,
an object where a list is, an unknown field, are errors; pydantic gives each error the field's path
(``clients[3].n_train``), which the one-line message names together with the accepted form and the fix.
(pydantic rather than hand-written dataclass checks: nested lists of typed entries, strict types, unknown-field
detection and error locations come with it, and it is already installed with Flower's dependencies.)

File kinds and where they are read:

- ``manifest.json`` of a federated dataset: :class:`ManifestModel` (:func:`fedfair.data.read_manifest`);
- ``tasks.json`` of a task set: :class:`TaskSetModel` (:func:`fedfair.tasks.read_task_set`);
- config files (.toml / .json / pyproject.toml): the run-parameter catalogue of :mod:`fedfair.config` is their
  schema, through :func:`read_table` here and :func:`fedfair.registry.read_config_file`;
- build spec and modifications files: :func:`read_table` + :class:`fedfair.partitioners.builder.BuildSpec`;
- source tables (CSV / parquet / hf): :func:`fedfair.partitioners.sources.check_finite` (NaN / inf);
- bids CSV: :func:`fedfair.recruitment.read_bids`;
- checkpoints: :class:`CheckpointMeta` (:mod:`fedfair.strategies.checkpoint`).

Paths (:func:`inside`): a dataset's client directories and a task set's dataset directories are relative paths
that must stay inside the directory of the file naming them (no ``..`` escape); an absolute path is allowed,
because the file then records it explicitly.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class DatasetError(ValueError):
    """A federated dataset (or another input file) is missing, malformed or inconsistent."""


MODEL_NAMES = ("logreg", "mlp", "cnn")
Scalar = int | float | str | bool


class _Schema(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ModelSpec(_Schema):
    """A model spec: ``{"model": "logreg"}``, ``{"model": "mlp", "hidden": [32]}``, ``{"model": "cnn", ...}``."""

    model: Literal["logreg", "mlp", "cnn"] = Field("logreg", description="'logreg', 'mlp' or 'cnn'")
    hidden: list[typing.Annotated[int, Field(gt=0)]] | None = Field(None, description="a list of positive integers, e.g. [64, 32]")
    channels: list[typing.Annotated[int, Field(gt=0)]] | None = Field(None, description="a list of positive integers, e.g. [10, 20]")
    kernel: int | None = Field(None, gt=0, description="a positive integer")
    fc: int | None = Field(None, gt=0, description="a positive integer")
    padding: int | None = Field(None, ge=0, description="an integer >= 0")

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class SensitiveSpec(_Schema):
    values: list[Scalar] = Field(description="the list of the attribute's values, e.g. [1, 2]")
    labels: dict[str, str] = Field(default_factory=dict, description='an object of value -> label, e.g. {"1": "Male"}')


class ClientEntry(_Schema):
    """One client of a manifest."""

    name: str = Field(min_length=1, description="a non-empty string, e.g. \"CA\"")
    dir: str = Field(min_length=1, description="a directory inside the dataset, e.g. \"client_000\"")
    n_train: int | None = Field(None, ge=0, description="an integer >= 0")
    n_val: int | None = Field(None, ge=0, description="an integer >= 0")
    n_test: int | None = Field(None, ge=0, description="an integer >= 0")
    role: Literal["train", "test"] | None = Field(None, description="'train' or 'test' (cross-device), or absent")
    parent: str | None = Field(None, description="a string (the natural client), or absent")


class ManifestModel(_Schema):
    """``manifest.json`` (format 1); see :mod:`fedfair.data` for the meaning of each field."""

    format: Literal[1] = Field(description="1")
    name: str = Field("", description="a string")
    features: list[str] = Field(min_length=1, description="a non-empty list of column names")
    label: str = Field(min_length=1, description="the label column's name")
    positive_label: Any = None
    sensitive: dict[str, SensitiveSpec] = Field(description='an object of attribute -> {"values": [...], "labels": {...}}')
    clients: list[ClientEntry] = Field(min_length=1, description="a non-empty list of client objects")
    default_model: ModelSpec = Field(default_factory=ModelSpec, description='a model spec, e.g. {"model": "logreg"}')
    source: dict[str, Any] = Field(default_factory=dict, description="an object")
    seed: int = Field(0, ge=0, description="an integer >= 0")
    preprocessing: list[dict[str, Any]] = Field(default_factory=list, description="a list of objects")
    modifications: list[dict[str, Any]] = Field(default_factory=list, description="a list of objects")
    synthetic: bool = Field(False, description="true or false")
    warnings: list[str] = Field(default_factory=list, description="a list of strings")
    num_classes: int = Field(2, ge=2, le=100_000, description="an integer in [2, 100000]")
    input_shape: list[typing.Annotated[int, Field(gt=0)]] | None = Field(
        None, min_length=1, max_length=3, description="a list of 1-3 positive integers, e.g. [1, 28, 28]")

    @model_validator(mode="after")
    def _consistent(self) -> "ManifestModel":
        if len(set(self.features)) != len(self.features):
            raise ValueError("features: a column is listed twice")
        if self.label in self.features:
            raise ValueError(f"features: the label column {self.label!r} is listed among the features (a model "
                             f"would read the answer); remove it from features")
        if self.label in self.sensitive:
            raise ValueError(f"sensitive: {self.label!r} is the label column; a sensitive attribute must be another "
                             f"column")
        shared = [a for a in self.sensitive if a in self.features]
        if shared:
            raise ValueError(f"features: the sensitive attribute {shared[0]!r} is listed among the features; remove "
                             f"it (rebuild with --sensitive-as-features to give models an encoded copy)")
        names = [c.name for c in self.clients]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"clients: names {twice[:5]} appear twice; client names must be distinct")
        seen: dict[str, int] = {}
        for k, client in enumerate(self.clients):
            where = os.path.normpath(client.dir)
            if where in seen:
                first = seen[where]
                raise ValueError(f"clients[{k}].dir: {client.dir!r} is also the directory of clients[{first}] "
                                 f"({self.clients[first].name!r}); every client needs its own directory")
            seen[where] = k
        for attr, spec in self.sensitive.items():
            if len({(isinstance(v, str), v) for v in spec.values}) != len(spec.values):  # 1 == 1.0, not '1'
                raise ValueError(f"sensitive.{attr}.values: a value is listed twice ({list(spec.values)})")
        if self.input_shape is not None and math.prod(self.input_shape) != len(self.features):
            raise ValueError(f"input_shape {self.input_shape} does not match the {len(self.features)} feature columns")
        return self


# a task's (and a task dataset directory's) name: letters, digits, - _ . + (no '/', no '..': a task set writes one
# directory per task under its --out)
PLAIN_NAME = re.compile(r"\w[\w.+-]*")


def plain_name(value: str, where: str) -> str:
    """``value`` when it is a plain name (:data:`PLAIN_NAME`), else a DatasetError naming ``where``."""
    if not isinstance(value, str) or not PLAIN_NAME.fullmatch(value):
        raise DatasetError(f"{where}: {value!r} is not a plain name: use letters, digits, '-', '_', '.' or '+' "
                           f"(no '/' or '..'), e.g. mnist")
    return value


class TaskEntry(_Schema):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)  # e.g. "stand_in": what a task stands in for

    name: str = Field(min_length=1, pattern=f"^{PLAIN_NAME.pattern}$",
                      description="a plain name: letters, digits, - _ . + (no '/' or '..')")
    dataset: str | None = Field(None, min_length=1, description="a dataset directory inside the task set (default: the task's name)")
    model: ModelSpec | None = Field(None, description='a model spec, e.g. {"model": "cnn"}, or absent')


class TaskSetModel(_Schema):
    """``tasks.json`` (format 1); see :mod:`fedfair.tasks`."""

    format: Literal[1] = Field(description="1")
    name: str = Field("", description="a string")
    clients: list[str] = Field(min_length=1, description="a non-empty list of distinct client names (strings)")
    tasks: list[TaskEntry] = Field(min_length=1, description="a non-empty list of task objects")
    source: dict[str, Any] = Field(default_factory=dict, description="an object")

    @model_validator(mode="after")
    def _distinct(self) -> "TaskSetModel":
        if len(set(self.clients)) != len(self.clients):
            raise ValueError("clients: a name appears twice; client names must be distinct")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks: every task needs a distinct non-empty name, got {names}")
        return self


class CheckpointMeta(_Schema):
    """``checkpoint.json``: what a checkpoint is of, and the checksum of its arrays file."""

    format: Literal[1] = Field(description="1")
    fedfair_version: str
    strategy: str
    dataset: str
    round: int = Field(ge=0, description="the last completed round")
    arrays: str = Field(pattern=r"^checkpoint-[0-9]+\.npz$", description="checkpoint-<round>.npz, a file in the run directory")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="the SHA-256 of the arrays file and the state (64 hex digits)")
    # what the run started from (absent in checkpoints of older fedfair versions: not compared then)
    dataset_fingerprint: dict[str, Any] | None = Field(None, description="the dataset's fingerprint: sha256, files, bytes")
    params: dict[str, Any] | None = Field(None, description="the run's parameters that decide its results")
    state: Any = None

    @field_validator("state")
    @classmethod
    def _tree(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("the state must be an object")
        return value


# ----- reading files ---------------------------------------------------------------
def read_text(path: Path, what: str, fix: str, error: type[ValueError] = DatasetError) -> str:
    """A text file's content; missing, unreadable and binary files are one-line errors naming ``what``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except OSError as err:
        raise error(f"{what} {path} cannot be read ({err.strerror}); {fix}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{what} {path} is not a UTF-8 text file (byte {err.start} cannot be decoded); {fix}") from None


def read_json(path: Path, what: str, fix: str, error: type[ValueError] = DatasetError) -> Any:
    """A JSON file's content; invalid JSON is one line with its line number. NaN / Infinity are refused."""
    text = read_text(path, what, fix, error)

    def constant(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as err:
        raise error(f"{path} is not valid JSON ({err.msg}, line {err.lineno}); {fix}") from None
    except ValueError as err:
        raise error(f"{path}: {err} is not a valid JSON number (a NaN / infinite value); {fix}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be a {what}; {fix}") from None


def read_table(path: Path, what: str, fix: str, error: type[ValueError] = DatasetError) -> Any:
    """The content of a JSON or TOML file (``.toml`` = TOML, else JSON), one-line errors with the line."""
    if path.suffix == ".toml":
        text = read_text(path, what, fix, error)
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise error(f"{what} {path}: not valid TOML ({err}); {fix}") from None
    return read_json(path, what, fix, error)


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _accepted(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The description (accepted form) of the field at ``loc``, walking nested models."""
    current: type[BaseModel] | None = model
    form = ""
    for part in loc:
        if current is not None and isinstance(part, str) and part in current.model_fields:
            field = current.model_fields[part]
            form = field.description or ""
            current = _inner_model(field.annotation)
    return form


def _message(error: dict[str, Any], model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    where = _location(loc)
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        owner: type[BaseModel] | None = model
        for part in loc[:-1]:
            if owner is not None and isinstance(part, str) and part in owner.model_fields:
                owner = _inner_model(owner.model_fields[part].annotation)
        known = ", ".join(owner.model_fields) if owner is not None else ""
        return f"{where}: unknown field" + (f" (the fields are: {known})" if known else "")
    if kind == "missing":
        form = _accepted(model, loc)
        return f"{where}: missing" + (f" (expected {form})" if form else "")
    if kind == "too_short":
        form = _accepted(model, loc)
        return f"{where}: empty" + (f" (expected {form})" if form else "")
    msg = re.sub(r" or instance of \w+", "", msg.removeprefix("Value error, "))
    value = error.get("input")
    shown = "" if kind == "value_error" or isinstance(value, (dict, list)) else f", got {_short(value)}"
    form = _accepted(model, loc)
    return (f"{where}: " if where else "") + msg + shown + (f" (expected {form})" if form and kind != "value_error" else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check(model: type[BaseModel], raw: Any, path: Path | str, fix: str) -> Any:
    """``raw`` validated against ``model``; the first problem as one DatasetError line (file, field, form, fix)."""
    if not isinstance(raw, dict):
        raise DatasetError(f"{path} holds a {type(raw).__name__}, not an object; {fix}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        missing = [e["loc"][0] for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
        if len(missing) > 1:
            raise DatasetError(f"{path}: missing keys {missing}; {fix}") from None
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise DatasetError(f"{path}: {_message(errors[0], model)}{more}; {fix}") from None


def inside(root: Path, value: str, where: str) -> Path:
    """The directory ``value`` names relative to ``root`` (or absolute, as recorded); a relative path that leaves
    ``root`` (``..``) is a DatasetError naming ``where``."""
    if os.path.isabs(value):
        return Path(value)
    target = Path(os.path.normpath(root / value))
    if not target.is_relative_to(Path(os.path.normpath(root))) or target == Path(os.path.normpath(root)):
        raise DatasetError(f"{where}: {value!r} leaves {root}; a relative path must name a directory inside it "
                           f"(no '..'), or give an absolute path")
    return target


def check_dataclass(cls: type, data: Any, what: str, fix: str) -> Any:
    """An instance of the dataclass ``cls`` from ``data``, each field checked against its annotation (pydantic,
    lax: a list for a tuple and an int for a float are fine, a list for a string is not); one DatasetError line."""
    from pydantic import TypeAdapter

    if not isinstance(data, dict):
        raise DatasetError(f"{what} holds a {type(data).__name__}, not a table; {fix}")
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = _location(tuple(first["loc"]))
        value = first.get("input")
        shown = "" if isinstance(value, (dict, list)) else f", got {_short(value)}"
        raise DatasetError(f"{what}: {where}: {str(first['msg']).removeprefix('Value error, ')}{shown}; {fix}") from None

