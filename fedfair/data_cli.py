"""``fedfair data build | report | info``: build FeDa4Fair-style datasets and audit their bias."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from fedfair.data import DatasetError

MOD_PATTERN = re.compile(r"^(?P<client>[^:]+):(?P<attr>[^=&:]+)=(?P<value>[^&:]+)(?:&(?P<xattr>[^=&:]+)=(?P<xvalue>[^&:]+))?:(?P<rate>[0-9.eE+-]+)$")


def _csv(text: Optional[str]) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _fractions(text: str) -> list[float]:
    """'0.7,0.15,0.15' -> [0.7, 0.15, 0.15]; anything else a one-line error naming the option's forms."""
    try:
        return [float(x) for x in _csv(text)]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give train,val,test fractions (e.g. 0.7,0.15,0.15) or 'source'",
                                 param_hint="--splits") from None


def _value(text: str) -> Any:
    """'2' -> 2, '2.5' -> 2.5, 'True' -> True, else the text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_modification_flag(text: str, kind: str) -> dict[str, Any]:
    """``CLIENT:ATTR=VALUE[&ATTR2=VALUE2]:RATE`` -> a modification table."""
    match = MOD_PATTERN.match(text.strip())
    if not match:
        raise DatasetError(f"--{kind} {text!r}: expected CLIENT:ATTR=VALUE[&ATTR2=VALUE2]:RATE, e.g. AL:RAC1P=2:0.3")
    mod: dict[str, Any] = {"client": match["client"], "attribute": match["attr"], "value": _value(match["value"])}
    if match["xattr"]:
        mod.update(extra_attribute=match["xattr"], extra_value=_value(match["xvalue"]))
    mod[f"{kind}_rate"] = float(match["rate"])
    return mod


def merge_modifications(mods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A --drop and a --flip on the same client and group become one modification (drop first)."""
    merged: dict[tuple, dict[str, Any]] = {}
    for mod in mods:
        key = (mod["client"], mod["attribute"], str(mod["value"]), mod.get("extra_attribute"), str(mod.get("extra_value")))
        merged.setdefault(key, {}).update(mod)
    return list(merged.values())


def parse_partition_flag(text: str) -> tuple[str, Any]:
    """``[CLIENT=]RULE`` with RULE ``whole``, ``iid:N`` or a JSON object."""
    text = text.strip()
    client, rule = "*", text
    if not text.startswith("{") and "=" in text.split("{")[0]:
        client, rule = text.split("=", 1)
    if rule.startswith("{"):
        try:
            return client, json.loads(rule)
        except json.JSONDecodeError as err:
            raise DatasetError(f"--partition {text!r}: invalid JSON ({err})") from err
    return client, rule


def parse_pairs(items: list[str], flag: str) -> dict[str, Any]:
    """``ATTR=PRESET`` or ``ATTR={json}`` items."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise DatasetError(f"{flag} {item!r}: expected ATTR=PRESET or ATTR={{json}}")
        attr, rule = item.split("=", 1)
        out[attr.strip()] = json.loads(rule) if rule.strip().startswith("{") else rule.strip()
    return out


def _task_entry(text: str) -> tuple[str, str, dict[str, Any] | None]:
    """``TASK=DIR[:MODEL]`` -> (task, dir, model spec or None)."""
    task, sep, rest = text.partition("=")
    if not sep or not task or not rest:
        raise DatasetError(f"{text!r}: expected TASK=DATASET_DIR[:MODEL], e.g. mnist=data/mnist:cnn")
    from fedfair.schemas import plain_name

    plain_name(task.strip(), f"{text!r}: task name")  # the task's directory in --out: no '/' or '..'
    directory, model = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and head and not tail.startswith(("/", "\\")):
        directory = head
        model = json.loads(tail) if tail.startswith("{") else {"model": tail}
    return task.strip(), directory, model


@contextlib.contextmanager
def claim_output(out: Path, command: str, overwrite: bool = False) -> Iterator[Any]:
    """``out`` claimed for ``command`` under fedfair's output-directory policy (:mod:`fedfair.outdirs`: a new or empty
    directory, or one an earlier call of the command wrote, whose complete output is replaced only with
    ``--overwrite``; other files stay; one writer at a time); marked complete when the block ends without an error,
    left as it was (unmarked / removed) when it fails before writing anything."""
    from fedfair.outdirs import claim

    held = claim(out, command, overwrite=overwrite)
    try:
        yield held
    except BaseException:
        held.abandon()
        raise
    else:
        held.done()
    finally:
        held.release()


def _datasheet_path(dataset: Path) -> Path:
    """DATASET/DATASHEET.md when fedfair may (re)write it (absent, or fedfair's); else a one-line error."""
    from fedfair.outdirs import replaceable_file
    from fedfair.partitioners.datasheet import DATASHEET

    return replaceable_file(Path(dataset) / DATASHEET, "Generated by fedfair")


def register(data_app: typer.Typer, console: Any, fail: Any, user_errors: tuple) -> None:
    """Add build / report / info to the ``fedfair data`` group."""

    @data_app.command("build")
    def build(
        out: Path = typer.Option(..., "--out", "-o", help="dataset directory to write (atomic; a new or empty "
                                 "directory, or one an earlier build wrote)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace the dataset an earlier build wrote to "
                                       "--out (fedfair's files; other files stay)"),
        recipe: Optional[str] = typer.Option(None, "--recipe", help="FeDa4Fair benchmark recipe: attribute-silo, value-silo, attribute-device, value-device"),
        spec_file: Optional[Path] = typer.Option(None, "--spec", help="JSON / TOML build spec (flags given here override it)"),
        source: Optional[str] = typer.Option(None, "--source", help="acs, csv-dir, hf, synthetic-acs, adult, synthetic-gaussian-8"),
        path: Optional[str] = typer.Option(None, "--path", help="csv-dir: directory of per-client CSV files; hf: a save_to_disk directory, parquet / csv / arrow files, or a hub name (online)"),
        hf_split: Optional[str] = typer.Option(None, "--split", help="hf: the dataset split to read (default train)"),
        natural_client: Optional[str] = typer.Option(None, "--natural-client", help="hf: one natural client per value of this column (e.g. a state or hospital column)"),
        task: Optional[str] = typer.Option(None, "--task", help="acs: folktables task (ACSIncome, ACSEmployment, ACSHealthInsurance, ACSPublicCoverage, ...)"),
        year: Optional[int] = typer.Option(None, "--year", help="acs: survey year (default 2018)"),
        horizon: Optional[str] = typer.Option(None, "--horizon", help="acs: 1-Year or 5-Year"),
        states: Optional[str] = typer.Option(None, "--states", help="comma-separated states / clients (default: all 50 + PR / every file)"),
        acs_root: Optional[Path] = typer.Option(None, "--acs-root", help="acs: folktables data directory (<root>/<year>/<horizon>/psam_p<FIPS>.csv); offline"),
        data_root: Optional[Path] = typer.Option(None, "--data-root", help="adult: directory with adult.data / adult.test"),
        rows_per_state: Optional[int] = typer.Option(None, "--rows-per-state", help="synthetic-acs: mean rows per state"),
        label: Optional[str] = typer.Option(None, "--label", help="label column (csv-dir)"),
        positive: Optional[str] = typer.Option(None, "--positive", help="raw label value meaning 1 (default True for bool labels, else 1)"),
        sensitive: Optional[str] = typer.Option(None, "--sensitive", help="comma-separated sensitive columns, e.g. SEX,RAC1P,MAR"),
        map_: list[str] = typer.Option([], "--map", help="value mapping ATTR=PRESET (race-binary, race-5) or ATTR={\"from\": to, \"*\": other}; repeatable"),
        value_labels: list[str] = typer.Option([], "--value-labels", help="names of values, ATTR=PRESET or ATTR={json}; repeatable"),
        drop: list[str] = typer.Option([], "--drop", help="drop positives: CLIENT:ATTR=VALUE[&ATTR2=VALUE2]:RATE; repeatable"),
        flip: list[str] = typer.Option([], "--flip", help="flip positives to 0: CLIENT:ATTR=VALUE[&ATTR2=VALUE2]:RATE; repeatable"),
        modifications: Optional[Path] = typer.Option(None, "--modifications", help="JSON / TOML file: a list of modification tables"),
        partition: list[str] = typer.Option([], "--partition", help="[CLIENT=]RULE: whole, iid:N or a flwr-datasets partitioner as JSON; repeatable"),
        setting: Optional[str] = typer.Option(None, "--setting", help="cross-silo (train/val/test per client) or cross-device (held-out test clients)"),
        splits: Optional[str] = typer.Option(None, "--splits", help="cross-silo train,val,test fractions (default 0.7,0.15,0.15), or 'source': the source's own split"),
        test_clients: Optional[str] = typer.Option(None, "--test-clients", help="cross-device: fraction of held-out clients (default 0.2) or comma-separated names"),
        max_train: Optional[int] = typer.Option(None, "--max-train", help="cap on train rows per client (seed 000: 1000)"),
        max_test: Optional[int] = typer.Option(None, "--max-test", help="cap on test rows per client (seed 000: 2000)"),
        categorical: Optional[str] = typer.Option(None, "--categorical", help="comma-separated columns to one-hot encode"),
        drop_columns: Optional[str] = typer.Option(None, "--drop-columns", help="comma-separated columns to leave out"),
        sensitive_as_features: Optional[bool] = typer.Option(None, "--sensitive-as-features/--no-sensitive-as-features", help="also give models the sensitive columns"),
        standardise: Optional[str] = typer.Option(None, "--standardise", help="client (fit on each client's train split; default), global (z-score on the union of the train splits), global-minmax ([0, 1] over that union), none"),
        scale_ids: Optional[str] = typer.Option(None, "--scale-ids", help="seed 000 knob: 1-based client positions whose features are multiplied, e.g. 1,10,20,30,40,50"),
        scale_clients: Optional[str] = typer.Option(None, "--scale-clients", help="client names whose features are multiplied"),
        scale_factor: float = typer.Option(0.6, "--scale-factor", help="the multiplier (seed 000: 0.6)"),
        scale_on: str = typer.Option("standardised", "--scale-on", help="scale the standardised features (default) or "
                                     "the raw ones before standardising (raw: seed 000's reading; with --standardise "
                                     "global the scaled clients keep their shift)"),
        threshold: Optional[float] = typer.Option(None, "--threshold", help="recipes: DD threshold both local models must exceed (default 0.1)"),
        impute: Optional[str] = typer.Option(None, "--impute", help="missing / NaN / infinite feature values: none (an "
                                             "error, default), mean or median (of the natural client's column), drop (the rows); "
                                             "labels and sensitive columns must always be complete"),
        name: Optional[str] = typer.Option(None, "--name", help="dataset name in the manifest"),
        seed: Optional[int] = typer.Option(None, "--seed", help="seed of every random step (default 0)"),
    ) -> None:
        """Build a federated dataset: source -> value mapping -> bias exacerbation -> partitioning -> splits -> write.

        Example (FeDa4Fair attribute-silo release, offline):
        fedfair data build --source csv-dir --path ../shared/data/feda4fair/cross_silo_attribute_final
        --label PINCP --sensitive SEX,RAC1P,MAR --out DIR
        """
        from fedfair.partitioners.builder import BuildSpec, build_dataset, read_table_file

        try:
            data: dict[str, Any] = {}
            if spec_file:
                data = read_table_file(spec_file, "spec file")
                BuildSpec.from_dict(data)  # every key and type checked before the flags are merged in
                data = dict(data)
            opts = dict(data.get("source_options", {}))
            for key, value in (("path", path), ("split", hf_split), ("natural_client", natural_client), ("task", task), ("year", year), ("horizon", horizon), ("acs_root", acs_root),
                               ("data_root", data_root), ("rows_per_state", rows_per_state)):
                if value is not None:
                    opts[key] = str(value) if isinstance(value, Path) else value
            if states:
                opts["states"] = _csv(states)
            data["source_options"] = opts
            for key, value in (("source", source), ("label", label), ("setting", setting), ("standardise", standardise),
                               ("name", name), ("seed", seed), ("max_train", max_train), ("max_test", max_test),
                               ("sensitive_as_features", sensitive_as_features), ("impute", impute)):
                if value is not None:
                    data[key] = value
            if positive is not None:
                data["positive"] = _value(positive)
            if sensitive:
                data["sensitive"] = _csv(sensitive)
            if categorical:
                data["categorical"] = _csv(categorical)
            if drop_columns:
                data["drop_columns"] = _csv(drop_columns)
            if splits:
                data["splits"] = "source" if splits.strip() == "source" else _fractions(splits)
            if test_clients:
                items = _csv(test_clients)
                data["test_clients"] = float(items[0]) if len(items) == 1 and _value(items[0]) != items[0] else items
            data["mapping"] = {**data.get("mapping", {}), **parse_pairs(map_, "--map")}
            data["value_labels"] = {**data.get("value_labels", {}), **parse_pairs(value_labels, "--value-labels")}
            mods = list(data.get("modifications", []))
            if modifications:
                mods += _read_modifications(modifications)
            mods += merge_modifications([parse_modification_flag(t, "drop") for t in drop] + [parse_modification_flag(t, "flip") for t in flip])
            data["modifications"] = mods
            rules = dict(data.get("partitioning", {}))
            for item in partition:
                client, rule = parse_partition_flag(item)
                rules[client] = rule
            data["partitioning"] = rules
            if scale_ids or scale_clients:
                data["scale"] = {"ids": [int(i) for i in _csv(scale_ids)], "clients": _csv(scale_clients), "factor": scale_factor,
                                 "on": scale_on}
            if recipe:
                from fedfair.partitioners.recipes import build_recipe

                with claim_output(out, "dataset", overwrite) as held:
                    root, log = build_recipe(recipe, data, held.path, threshold=threshold,
                                             echo=lambda m: console.print(m, highlight=False))
            else:
                if "source" not in data:
                    raise DatasetError("give --source (acs, csv-dir, hf, synthetic-acs, adult, synthetic-gaussian-8), --spec or --recipe")
                spec = BuildSpec.from_dict(data)
                with claim_output(out, "dataset", overwrite) as held:
                    root = build_dataset(spec, held.path)
        except user_errors as err:
            fail(err)
        _print_info(console, root)
        console.print(f"wrote {root}", highlight=False)

    @data_app.command("tasks")
    def data_tasks(
        tasks: list[str] = typer.Argument(..., help="TASK=DATASET_DIR[:MODEL], MODEL e.g. cnn, mlp or logreg, or a "
                                          "JSON spec such as '{\"model\": \"mlp\", \"hidden\": [64]}'"),
        out: Path = typer.Option(..., "--out", "-o", help="task-set directory to write"),
        name: str = typer.Option("", "--name", help="task-set name (default: the directory name)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace the task set an earlier call wrote to "
                                       "--out (fedfair's files; other files stay)"),
    ) -> None:
        """Combine built datasets into a task set for multi-model FL (tasks.json + one copy per task).

        The clients are the union of the datasets' client names; a client may lack a task.
        Train it with `fedfair run --dataset DIR --strategy fedfair-mmfl`.
        """
        from fedfair.partitioners.task_sets import combine_task_set

        try:
            entries = [_task_entry(item) for item in tasks]
            with claim_output(out, "task-set", overwrite) as held:
                root = combine_task_set(held.path, entries, name=name)
        except user_errors as err:
            fail(err)
        console.print(f"wrote {root}: tasks {', '.join(e[0] for e in entries)}", highlight=False)

    @data_app.command("report")
    def report(
        dataset: Path = typer.Argument(..., help="dataset directory (with manifest.json)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="report directory (default DATASET-audit)"),
        models: str = typer.Option("lr,xgb", "--models", help="comma-separated local models: lr, xgb (labels are always audited)"),
        include_sensitive: bool = typer.Option(False, "--include-sensitive", help="let the local models see the sensitive columns"),
        intersectional: bool = typer.Option(False, "--intersectional", help="also audit the intersection of all sensitive attributes"),
        threshold: float = typer.Option(0.1, "--threshold", help="DD / EOD threshold for the 'both models agree' counts"),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="parallel processes (default: CPU count)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace the report an earlier call wrote to "
                                       "--out (fedfair's files; other files stay)"),
        fmt: str = typer.Option("png", "--format", help="figure files: png, svg or pdf"),
    ) -> None:
        """Audit every client's bias: DD and EOD on the labels and on local LR / XGBoost models.

        Writes audit.csv (one row per client and model), pairs.csv (every value pair),
        report.md (counts of most-biased attributes and values, like FeDa4Fair's Tables 3-6)
        and plots (dd_per_client.png, eod_per_client.png, lr_vs_xgb.png, max_gap_values.png).
        """
        import time

        from fedfair.partitioners.audit import audit_dataset
        from fedfair.results import status

        start = time.perf_counter()
        try:
            _datasheet_path(dataset)  # the datasheet this updates is fedfair's (checked before any work)
            from fedfair.figures import check_format

            check_format(fmt)
            with claim_output(out or Path(f"{str(dataset).rstrip('/')}-audit"), "data-report", overwrite) as held, \
                    status(f"auditing {dataset}: DD and EOD of every client on its labels and its local {models} "
                           f"model(s) ..."):
                result = audit_dataset(dataset, held.path, models=models, include_sensitive=include_sensitive,
                                       intersectional=intersectional, jobs=jobs, threshold=threshold, fmt=fmt)
        except user_errors as err:
            fail(err)
        from fedfair.partitioners.datasheet import write_datasheet

        sheet = write_datasheet(dataset, result.out / "audit.csv")
        n_clients = result.table["client"].nunique()
        console.print(f"audited {n_clients} clients in {time.perf_counter() - start:.1f} s: "
                      f"{result.out}/audit.csv, pairs.csv, report.md, *.{fmt}; {sheet} updated", highlight=False)

    @data_app.command("datasheet")
    def datasheet(
        dataset: Path = typer.Argument(..., help="dataset directory (with manifest.json)"),
        audit: Optional[Path] = typer.Option(None, "--audit", help="audit.csv of `fedfair data report` (default DATASET-audit/audit.csv when it exists)"),
    ) -> None:
        """(Re)write DATASET/DATASHEET.md from its manifest, its clients' files and its audit (FeDa4Fair's datasheet)."""
        from fedfair.partitioners.datasheet import write_datasheet

        try:
            if audit is not None and not audit.is_file():
                raise DatasetError(f"--audit {audit}: no such file; run `fedfair data report {dataset}` first")
            _datasheet_path(dataset)  # never a DATASHEET.md fedfair did not write
            path = write_datasheet(dataset, audit)
        except user_errors as err:
            fail(err)
        console.print(f"wrote {path}", highlight=False)

    @data_app.command("info")
    def info(dataset: Path = typer.Argument(..., help="dataset directory (with manifest.json)")) -> None:
        """Clients, sizes, label rate and per-group label rates of a dataset."""
        try:
            _print_info(console, dataset)
        except user_errors as err:
            fail(err)


def _read_modifications(path: Path) -> list[dict[str, Any]]:
    """A JSON list, or a JSON / TOML table with a ``modifications`` list."""
    from fedfair.partitioners.builder import read_table_file

    data = read_table_file(path, "modifications file")
    return list(data if isinstance(data, list) else data.get("modifications", []))


def _print_info(console: Any, root: Path) -> None:
    from fedfair.data import read_manifest
    from fedfair.partitioners.datasheet import client_rows

    manifest = read_manifest(root)
    rows = client_rows(manifest.root)
    synthetic = " (SYNTHETIC)" if manifest.spec.synthetic else ""
    table = Table(title=escape(f"{manifest.name}: {len(rows)} clients{synthetic}"))  # names are text, not markup
    attrs = list(manifest.sensitive_values)
    for col in ["client", "role", "n_train", "n_val", "n_test", "P(y=1)"] + [f"{a}: share / P(y=1)" for a in attrs]:
        table.add_column(escape(col), justify="left" if col in ("client", "role") else "right")
    for r in rows:
        cells = [", ".join(f"{v}: {s:.2f}/{'-' if p is None else f'{p:.2f}'}" for v, (s, p) in r[a].items()) for a in attrs]
        table.add_row(escape(str(r["client"])), r["role"], str(r["n_train"]), str(r["n_val"]), str(r["n_test"]),
                      f"{r['label_rate']:.3f}", *map(escape, cells))
    console.print(table)
    mods = manifest.spec.modifications

    def count(key: str) -> int:
        return int(sum(m.get(key, 0) for m in mods if isinstance(m.get(key, 0), (int, float))))

    console.print(f"features: {len(manifest.features)}; sensitive: {', '.join(attrs)}; modifications: {len(mods)} "
                  f"({count('dropped')} rows dropped, {count('flipped')} flipped)", highlight=False, markup=False)
    for warning in manifest.spec.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
