"""The plan: models x datasets from a YAML file, validated when it loads.

Whether the encoder actually serves a model is checked by the runner, not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

from medembed_client.security import ENV as SECURITY_ENV
from medembed_evaluator.analysis.spec import AnalysisSpec
from medembed_evaluator.comparison import CompareSpec, parse_compare
from medembed_evaluator.datasets import DatasetSpec, dataset_kind
from medembed_evaluator.datasets.options import parse_options
from medembed_evaluator.errors import EvaluatorError, PlanError
from medembed_evaluator.paths import check_name
from medembed_evaluator.probe import Protocol
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID

GROUPS = ("medical", "modality-specific", "non-medical", "non-VLM")
"""Row groups of the study's table, in table order."""
DEFAULT_TARGET = "default"
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class ModelSpec:
    id: str
    group: str
    label: str
    spec: str = ""
    """Embedding spec; empty = the model's default."""
    target: str | None = None
    """Resolved HOST:PORT of the encoder serving it; None for models the evaluator computes."""


@dataclass(frozen=True)
class OutputSpec:
    stream: bool = False
    """Publish each finished pair on the Redis stream."""
    redis_url: str | None = None


@dataclass(frozen=True)
class SecuritySpec:
    """How the evaluator reaches its encoders: files only, never a secret's value in the plan.
    The MEDEMBED_TLS_* / MEDEMBED_TOKEN* env vars and the command line's flags win over these."""

    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_server_name: str = ""
    token_file: str = ""

    def as_env(self) -> dict[str, str]:
        return {SECURITY_ENV[name]: value for name, value in vars(self).items() if value}


@dataclass(frozen=True)
class Plan:
    name: str
    encoders: dict[str, str]
    models: list[ModelSpec]
    datasets: list[DatasetSpec]
    protocol: Protocol
    output: OutputSpec
    analysis: AnalysisSpec | None = None
    """None: the plan has no `analysis:` section, so only the probe runs."""
    compare: CompareSpec | None = None
    """`compare: published`: the study's published value and our difference beside each cell."""
    security: SecuritySpec = SecuritySpec()


def load_plan(path: Path, *, extra_datasets: Iterable[DatasetSpec | Mapping[str, Any]] = ()) -> Plan:
    """Read and validate a plan; `extra_datasets` (specs or plan-style mappings) are appended."""
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


def parse_plan(document: Any, *, extra_datasets: Iterable[DatasetSpec | Mapping[str, Any]] = ()) -> Plan:
    top = _mapping(document, "the plan")
    _no_unknown(top, {"name", "encoders", "models", "datasets", "protocol", "output", "analysis", "compare",
                      "security"},
                "the plan")
    encoders = {str(k): _string(v, f"encoders.{k}") for k, v in _mapping(top.get("encoders") or {}, "encoders").items()}
    for key, address in encoders.items():
        if not _HOST_PORT.match(address):
            raise PlanError(f"encoders.{key}: '{address}' is not HOST:PORT")
    models = [_model(entry, i, encoders) for i, entry in enumerate(_list(top.get("models"), "models"))]
    datasets = [_dataset(entry, f"datasets[{i}]") for i, entry in enumerate(_list(top.get("datasets"), "datasets"))]
    datasets += [
        entry if isinstance(entry, DatasetSpec) else _dataset(entry, f"extra dataset {i}")
        for i, entry in enumerate(extra_datasets)
    ]
    for entry in datasets:
        _check_dataset_options(entry)
    _no_duplicates([m.label for m in models], "model label", hint="; entries sharing an id need distinct labels")
    _no_duplicates([d.name for d in datasets], "dataset name")
    if not models:
        raise PlanError("models: the plan lists no models")
    if not datasets:
        raise PlanError("datasets: the plan lists no datasets")
    return Plan(
        name=check_name(_string(top.get("name", "plan"), "name"), "name"),
        encoders=encoders,
        models=models,
        datasets=datasets,
        protocol=_protocol(top.get("protocol") or {}),
        output=_output(top.get("output") or {}),
        analysis=_analysis(top["analysis"], models, datasets) if "analysis" in top else None,
        compare=parse_compare(top["compare"]) if top.get("compare") else None,
        security=_security(top.get("security") or {}),
    )


def _model(entry: Any, index: int, encoders: Mapping[str, str]) -> ModelSpec:
    where = f"models[{index}]"
    model = _mapping(entry, where)
    if "id" in model:
        where = f"models[{index}] ({model.get('id')})"
    _no_unknown(model, {"id", "group", "label", "spec", "target"}, where)
    model_id = _string(model.get("id"), f"{where}.id")
    group = _string(model.get("group"), f"{where}.group")
    if group not in GROUPS:
        raise PlanError(f"{where}.group: '{group}' is not one of {', '.join(GROUPS)}")
    target = None
    if model_id != RAW_PIXELS_MODEL_ID:
        target = _resolve_target(_string(model.get("target", DEFAULT_TARGET), f"{where}.target"), encoders, where)
    elif "target" in model:
        raise PlanError(f"{where}: raw-pixels is computed by the evaluator and takes no target")
    return ModelSpec(
        id=model_id,
        group=group,
        label=_string(model.get("label", model_id), f"{where}.label"),
        spec=_string(model.get("spec", ""), f"{where}.spec", allow_empty=True),
        target=target,
    )


def _resolve_target(target: str, encoders: Mapping[str, str], where: str) -> str:
    if target in encoders:
        return encoders[target]
    if _HOST_PORT.match(target):
        return target
    known = ", ".join(sorted(encoders)) or "none defined"
    raise PlanError(f"{where}.target: '{target}' is neither a key of encoders ({known}) nor HOST:PORT")


def _dataset(entry: Any, where: str) -> DatasetSpec:
    dataset = _mapping(entry, where)
    _no_unknown(dataset, {"name", "kind", "path", "options"}, f"{where} ({dataset['name']})" if "name" in dataset
                else where)
    name = _string(dataset.get("name"), f"{where}.name")
    path = dataset.get("path")
    relative = str(path if path is not None else name)
    if not relative.startswith("/") and ".." in relative.replace("\\", "/").split("/"):
        field = "path" if path is not None else "name (the default path)"
        raise PlanError(f"{where} ({name}).{field}: '{relative}' climbs out of the data root with '..'; give a "
                        "path inside --data-root, or an absolute one")
    return DatasetSpec(
        name=name,
        kind=_string(dataset.get("kind"), f"{where} ({name}).kind"),
        path=None if path is None else _string(path, f"{where} ({name}).path"),
        options=dict(_mapping(dataset.get("options") or {}, f"{where} ({name}).options")),
    )


def _check_dataset_options(spec: DatasetSpec) -> None:
    try:
        kind = dataset_kind(spec.kind)
        kind.parse_options(spec.options)
    except EvaluatorError as error:
        raise PlanError(f"dataset '{spec.name}': {error}") from None
    if not kind.needs_path and spec.path is not None:
        raise PlanError(f"dataset '{spec.name}': kind '{spec.kind}' is generated and takes no path")


def _protocol(entry: Any) -> Protocol:
    values = _mapping(entry, "protocol")
    known = {f.name: f.type for f in fields(Protocol)}
    _no_unknown(values, set(known), "protocol")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        converter = {"str": str, "int": int, "float": float}[known[key]]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise PlanError(f"protocol.{key}: expected a {converter.__name__}, got {value!r}")
        try:
            converted[key] = converter(value)
        except ValueError:
            raise PlanError(f"protocol.{key}: expected a {converter.__name__}, got {value!r}") from None
        if converter is int and converted[key] != value:
            raise PlanError(f"protocol.{key}: expected an integer, got {value!r}")
    try:
        return Protocol(**converted)
    except EvaluatorError as error:
        raise PlanError(str(error)) from None


def _analysis(entry: Any, models: list[ModelSpec], datasets: list[DatasetSpec]) -> AnalysisSpec:
    if isinstance(entry, Mapping) and entry.get("maps") is False:
        entry = {**entry, "maps": "off"}  # YAML 1.1 reads a bare `maps: off` as false
    analysis = parse_options(AnalysisSpec, entry, where="analysis", error=PlanError)
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


def _security(entry: Any) -> SecuritySpec:
    values = _mapping(entry, "security")
    if "token" in values:
        raise PlanError("security.token: a token's value never goes in a plan; use security.token_file (a secret "
                        "file) or the MEDEMBED_TOKEN env var")
    _no_unknown(values, {f.name for f in fields(SecuritySpec)}, "security")
    return SecuritySpec(**{key: _string(value, f"security.{key}") for key, value in values.items()})


def _output(entry: Any) -> OutputSpec:
    values = _mapping(entry, "output")
    _no_unknown(values, {"stream", "redis_url"}, "output")
    stream = values.get("stream", False)
    if not isinstance(stream, bool):
        raise PlanError(f"output.stream: expected true or false, got {stream!r}")
    redis_url = values.get("redis_url")
    return OutputSpec(stream=stream, redis_url=None if redis_url is None else _string(redis_url, "output.redis_url"))


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PlanError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlanError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _string(value: Any, where: str, *, allow_empty: bool = False) -> str:
    if value is None or (value == "" and not allow_empty):
        raise PlanError(f"{where}: missing")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PlanError(f"{where}: expected a string, got {value!r}")
    return str(value)


def _no_unknown(values: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in set(values) - known)
    if unknown:
        guesses = [f"{key}: did you mean {match[0]}?" for key in unknown
                   if (match := get_close_matches(key, known, n=1))]
        hint = f"; {' '.join(guesses)}" if guesses else ""
        raise PlanError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))}){hint}")


def _no_duplicates(names: list[str], what: str, *, hint: str = "") -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise PlanError(f"duplicate {what} '{name}'{hint}")
        seen.add(name)
