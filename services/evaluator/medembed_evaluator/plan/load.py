"""Loading a plan: YAML -> the schema's classes through the one typed reader (typed_settings), then the checks
that span sections (targets, names the bias test and `compare:` refer to, dataset options by kind).

Whether the encoder actually serves a model is checked by the runner when it starts, not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml

from medembed_evaluator.comparison import TABLES, CompareSettings, published_table
from medembed_evaluator.datasets.registry import dataset_kind
from medembed_evaluator.errors import EvaluatorError, PlanError
from medembed_evaluator.paths import check_name
from medembed_evaluator.plan.schema import (
    DEFAULT_TARGET,
    AnalysisSettings,
    DatasetEntry,
    ModelEntry,
    OutputSettings,
    Plan,
    SecuritySettings,
)
from medembed_evaluator.probe_protocol import Protocol
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID
from medembed_evaluator.typed_settings import read_settings, read_value, unknown_keys_message

SECTIONS = {f.name for f in fields(Plan)}
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def load_plan(path: Path, *, extra_datasets: Iterable[DatasetEntry | Mapping[str, Any]] = ()) -> Plan:
    """Read and validate the plan file at `path`; `extra_datasets` (entries or plan-style mappings,
    e.g. from --add-imagefolder) are appended to its datasets.

    Raises:
        PlanError: the file cannot be read, is not YAML, or fails a check; the message starts with
            "plan PATH:" and names the entry and the key.
    """
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanError(f"cannot read plan {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise PlanError(f"plan {path} is not valid YAML: {error}") from None
    try:
        return parse_plan(document, extra_datasets=extra_datasets)
    except PlanError as error:
        raise PlanError(f"plan {path}: {error}") from None


def parse_plan(document: Any, *, extra_datasets: Iterable[DatasetEntry | Mapping[str, Any]] = ()) -> Plan:
    """A plan from its parsed YAML `document` (a mapping); see load_plan. Raises PlanError."""
    top = read_value(dict[str, Any], document, "the plan")
    if unknown := sorted(set(top) - SECTIONS):
        raise PlanError(unknown_keys_message("the plan", unknown, sorted(SECTIONS)))
    encoders = read_value(dict[str, str], top.get("encoders") or {}, "encoders")
    for key, address in encoders.items():
        if not _HOST_PORT.match(address):
            raise PlanError(f"encoders.{key}: '{address}' is not HOST:PORT")
    models = [_model(entry, f"models[{i}]", encoders)
              for i, entry in enumerate(read_value(list[Any], top.get("models") or [], "models"))]
    written = [(entry_where(entry, f"datasets[{i}]", DatasetEntry.entry_key), entry)
               for i, entry in enumerate(read_value(list[Any], top.get("datasets") or [], "datasets"))]
    written += [(entry_where(entry, f"extra dataset {i}", DatasetEntry.entry_key), entry)
                for i, entry in enumerate(extra_datasets)]
    datasets = [_dataset(entry, where) for where, entry in written]
    _no_duplicates([m.label for m in models], "model label", hint="; entries sharing an id need distinct labels")
    _no_duplicates([d.name for d in datasets], "dataset name")
    if not models:
        raise PlanError("models: the plan lists no models")
    if not datasets:
        raise PlanError("datasets: the plan lists no datasets")
    return Plan(
        name=check_name(read_value(str, top.get("name", "plan"), "name"), "name"),
        encoders=encoders,
        models=models,
        datasets=datasets,
        protocol=read_settings(Protocol, top.get("protocol"), where="protocol"),
        output=read_settings(OutputSettings, top.get("output"), where="output"),
        analysis=_analysis(top["analysis"], models, datasets) if "analysis" in top else None,
        compare=_compare(top["compare"]) if top.get("compare") else None,
        security=_security(top.get("security")),
    )


def entry_where(entry: Any, where: str, key: str) -> str:
    """`where` with the entry's id or name when it has one: "models[1] (uni)"."""
    if isinstance(entry, Mapping) and entry.get(key) not in (None, ""):
        return f"{where} ({entry[key]})"
    return where


def _model(entry: Any, where: str, encoders: Mapping[str, str]) -> ModelEntry:
    where = entry_where(entry, where, ModelEntry.entry_key)
    model = read_settings(ModelEntry, entry, where=where)
    if model.id == RAW_PIXELS_MODEL_ID:
        if model.target is not None:
            raise PlanError(f"{where}: raw-pixels is computed by the evaluator and takes no target")
        return model
    return replace(model, target=_resolve_target(model.target or DEFAULT_TARGET, encoders, where))


def _resolve_target(target: str, encoders: Mapping[str, str], where: str) -> str:
    if target in encoders:
        return encoders[target]
    if _HOST_PORT.match(target):
        return target
    known = ", ".join(sorted(encoders)) or "none defined"
    raise PlanError(f"{where}.target: '{target}' is neither a key of encoders ({known}) nor HOST:PORT")


def _dataset(entry: Any, where: str) -> DatasetEntry:
    """The entry read, its kind known and its options fitting the kind's loader, before any file is read."""
    dataset = entry if isinstance(entry, DatasetEntry) else read_settings(DatasetEntry, entry, where=where)
    try:
        kind = dataset_kind(dataset.kind)
    except EvaluatorError as error:
        raise PlanError(f"{where}.kind: {error}") from None
    kind.read_options(dataset.options, where=f"{where}.options", error=PlanError)
    if not kind.needs_path and dataset.path is not None:
        raise PlanError(f"{where}.path: kind '{dataset.kind}' is generated and takes no path")
    return dataset


def _analysis(entry: Any, models: list[ModelEntry], datasets: list[DatasetEntry]) -> AnalysisSettings:
    if isinstance(entry, Mapping) and entry.get("maps") is False:
        entry = {**entry, "maps": "off"}  # YAML 1.1 reads a bare `maps: off` as false
    analysis = read_settings(AnalysisSettings, entry, where="analysis")
    if analysis.bias is not None:
        dataset_names = {d.name for d in datasets}
        model_names = {m.id for m in models} | {m.label for m in models}
        for name in analysis.bias.datasets:
            if name not in dataset_names:
                raise PlanError(f"analysis.bias.datasets: '{name}' is not a dataset of the plan")
        for name in analysis.bias.models:
            if name not in model_names:
                raise PlanError(f"analysis.bias.models: '{name}' is neither a model id nor a label of the plan")
    return analysis


def _compare(entry: Any) -> CompareSettings:
    settings = (CompareSettings(table=entry) if isinstance(entry, str)
                else read_settings(CompareSettings, entry, where="compare"))
    if settings.table not in TABLES:
        raise PlanError(f"compare: '{settings.table}' is not a table to compare with (known: {', '.join(TABLES)})")
    table = published_table()
    rows = {row for row, _, _ in table}
    columns = {column for _, column, _ in table}
    for model, row in settings.models.items():
        if row not in rows:
            raise PlanError(f"compare.models.{model}: '{row}' is not a published row (rows: {', '.join(sorted(rows))})")
    for dataset, column in settings.datasets.items():
        if column not in columns:
            raise PlanError(f"compare.datasets.{dataset}: '{column}' is not a published dataset "
                            f"(datasets: {', '.join(sorted(columns))})")
    return settings


def _security(entry: Any) -> SecuritySettings:
    if isinstance(entry, Mapping) and "token" in entry:
        raise PlanError("security.token: a token's value never goes in a plan; use security.token_file (a secret "
                        "file) or the MEDEMBED_TOKEN env var")
    return read_settings(SecuritySettings, entry, where="security")


def _no_duplicates(names: list[str], what: str, *, hint: str = "") -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise PlanError(f"duplicate {what} '{name}'{hint}")
        seen.add(name)
