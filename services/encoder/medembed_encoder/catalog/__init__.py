"""The model catalog: YAML entries that say what a model id is and where its weights come from."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

WEIGHT_KINDS = ("random", "package", "pretrained", "hub", "local")
_ENTRY_KEYS = {"id", "family", "architecture", "weights", "default_spec", "dim", "input_size",
               "gated", "options", "description"}
# Keys a catalog may hold for its readers, accepted and not stored: nothing serves differently by them.
_DOCUMENTATION_KEYS = {"license"}


class CatalogError(ValueError):
    """A catalog file or entry is invalid, or a model id is unknown."""


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from: `kind` (one of WEIGHT_KINDS), `ref` (package name, pretrained
    tag, hub id or path; a `local` path is made absolute at parse), `revision`, and the `seed` of
    random weights."""

    kind: str  # random | package | pretrained (family tag) | hub (hf-hub id) | local (path)
    ref: str = ""  # package name, pretrained tag, hub id or path
    revision: str = ""
    seed: int = 0  # for kind=random: the init is reproducible

    @property
    def is_random(self) -> bool:
        """True for kind `random`: seeded random initialisation, no real weights."""
        return self.kind == "random"


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog model: its id, family and architecture, weights source, default spec, expected dim
    of that spec, input size in pixels (None: the model's config decides), whether it is gated and the
    family's options (checked against the family's schema, families/options.py). The YAML's `license:`
    documents the weights' terms for the reader and is not kept here."""

    id: str
    family: str
    architecture: str
    weights: WeightsSource
    default_spec: str = "default"
    dim: int | None = None  # expected dim of the default spec; checked at load
    input_size: int | None = None  # None = the model's own config decides
    gated: bool = False
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)


def _parse_entry(raw: dict[str, Any], origin: str) -> CatalogEntry:
    if not isinstance(raw, dict) or "id" not in raw:
        raise CatalogError(f"{origin}: every model needs an 'id'")
    model_id = raw["id"]
    unknown = set(raw) - _ENTRY_KEYS - _DOCUMENTATION_KEYS
    if unknown:
        raise CatalogError(f"{origin}: model {model_id!r}: unknown keys {sorted(unknown)}")
    for key in ("family", "architecture", "weights"):
        if key not in raw:
            raise CatalogError(f"{origin}: model {model_id!r}: missing {key!r}")
    weights_raw = raw["weights"]
    if not isinstance(weights_raw, dict) or weights_raw.get("kind") not in WEIGHT_KINDS:
        raise CatalogError(f"{origin}: model {model_id!r}: weights.kind must be one of {WEIGHT_KINDS}")
    weights = WeightsSource(kind=weights_raw["kind"], ref=str(weights_raw.get("ref", "")),
                            revision=str(weights_raw.get("revision", "")),
                            seed=int(weights_raw.get("seed", 0)))
    if weights.kind != "random" and not weights.ref:
        raise CatalogError(f"{origin}: model {model_id!r}: weights.ref is required for kind {weights.kind}")
    if weights.kind == "local":
        base = Path(origin).parent if origin.endswith((".yaml", ".yml")) else Path.cwd()
        ref_path = Path(os.path.expandvars(weights.ref)).expanduser()  # e.g. ${MEDEMBED_WEIGHTS_DIR}/...
        weights = WeightsSource("local", str(ref_path if ref_path.is_absolute() else base / ref_path),
                                weights.revision, weights.seed)
    return CatalogEntry(
        id=str(model_id), family=str(raw["family"]), architecture=str(raw["architecture"]),
        weights=weights, default_spec=str(raw.get("default_spec", "default")),
        dim=raw.get("dim"), input_size=raw.get("input_size"),
        gated=bool(raw.get("gated", False)), description=str(raw.get("description", "")),
        options=dict(raw.get("options") or {}),
    )


def parse_catalog(text: str, origin: str) -> dict[str, CatalogEntry]:
    """The entries of one catalog YAML text (its `models:` list) by id; `origin` names the text in
    errors, and relative `local` weight paths resolve against its folder when it is a YAML path.
    Raises CatalogError for invalid YAML, an invalid entry or an id defined twice."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CatalogError(f"{origin}: not valid YAML: {exc}") from None
    entries: dict[str, CatalogEntry] = {}
    for raw in document.get("models", []):
        entry = _parse_entry(raw, origin)
        if entry.id in entries:
            raise CatalogError(f"{origin}: model {entry.id!r} defined twice")
        entries[entry.id] = entry
    return entries


def builtin_catalog_text() -> str:
    """The text of the catalog shipped in the package (catalog/models.yaml)."""
    return resources.files(__package__).joinpath("models.yaml").read_text()


def load_catalog(extra_path: str | Path | None = None) -> dict[str, CatalogEntry]:
    """The built-in catalog, with the entries of `extra_path` added or replacing same ids."""
    entries = parse_catalog(builtin_catalog_text(), "built-in catalog")
    if extra_path:
        path = Path(extra_path)
        entries.update(parse_catalog(path.read_text(), str(path)))
    return entries


def select(entries: dict[str, CatalogEntry], model_ids: tuple[str, ...]) -> list[CatalogEntry]:
    """The entries of `model_ids`, in that order. Raises CatalogError, listing the known ids, for an
    unknown one."""
    unknown = [model_id for model_id in model_ids if model_id not in entries]
    if unknown:
        raise CatalogError(f"--models: unknown model id(s) {', '.join(unknown)}; `medembed-encoder catalog` lists "
                           f"the {len(entries)} known ids: {', '.join(sorted(entries))}")
    return [entries[model_id] for model_id in model_ids]
