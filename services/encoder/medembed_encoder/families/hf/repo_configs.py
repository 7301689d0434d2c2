"""A checkpoint folder's own config.json and preprocessor_config.json, held against the catalog's record of them.

Catalog entries record a release's config so the model builds offline; when the real checkpoint is
read, its folder (hub repo or local directory) usually holds those files too. Every field that
shapes a vector must then agree with the catalog, else the model would be served with another
architecture or preprocessing than its authors' (checkpoint tensor shapes are checked by the loader;
these files also hold fields no tensor shape shows: LayerNorm eps, activation, resize and crop
sizes, interpolation, mean and std). Fields a file leaves out take the transformers class default,
as `from_pretrained` would. A folder without the file is logged (`repo_config_missing`), not refused.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from ...load_errors import ModelLoadError
from ...logs import event
from ...weights.hub import FileSource, MissingFile
from .processing import pil_image_processor

log = logging.getLogger(__name__)
# image processor fields that change pixels; bookkeeping keys (processor_class, auto_map, ...) are not compared
PIXEL_FIELDS = ("do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale", "rescale_factor",
                "do_normalize", "image_mean", "image_std", "do_convert_rgb")
BACKEND_SUFFIXES = ("Fast", "Pil")


def _read_json(source: FileSource, filename: str, model_id: str) -> dict[str, Any] | None:
    try:
        path = source.get(filename)
    except MissingFile as exc:
        event(log, "repo_config_missing", logging.WARNING, model=model_id, file=filename, error=str(exc),
              using="the catalog's record of it, unchecked")
        return None
    try:
        document = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"model {model_id!r}: {source.description}/{filename} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ModelLoadError(f"model {model_id!r}: {source.description}/{filename} is not a JSON object")
    return document


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) or isinstance(theirs, float):
        try:
            return math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    if isinstance(ours, (list, tuple)) and isinstance(theirs, (list, tuple)):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):  # unset (None) entries of a size dict are alike
        ours_set = {key: value for key, value in ours.items() if value is not None}
        theirs_set = {key: value for key, value in theirs.items() if value is not None}
        return ours_set.keys() == theirs_set.keys() and all(_same(ours_set[key], theirs_set[key]) for key in ours_set)
    return ours == theirs


def _differences(ours: Mapping[str, Any], theirs: Mapping[str, Any], fields: Any) -> list[str]:
    return [f"{name}: catalog {ours.get(name)!r}, repo {theirs.get(name)!r}" for name in fields
            if not _same(ours.get(name), theirs.get(name))]


def check_model_config(source: FileSource, model_id: str, catalog_config: Mapping[str, Any],
                       defaults: Mapping[str, Any], nested: str = "") -> None:
    """The repo's config.json (its `nested` sub-config where it has one, e.g. a whole SiglipModel's `vision_config`)
    must agree with the catalog's `config` on every field the catalog records; a field the file leaves out counts
    as `defaults[field]`.
    Raises ModelLoadError naming the model, the file and each differing field."""
    document = _read_json(source, "config.json", model_id)
    if document is None:
        return
    if nested and isinstance(document.get(nested), dict):
        document = document[nested]
    theirs = {name: document.get(name, defaults.get(name)) for name in catalog_config}
    differences = _differences(catalog_config, theirs, catalog_config)
    if differences:
        raise ModelLoadError(f"model {model_id!r}: {source.description}/config.json differs from the catalog entry "
                             f"({'; '.join(differences)}); correct the entry's options.config")


def _base_type(name: str) -> str:
    for suffix in BACKEND_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def check_image_processor(source: FileSource, model_id: str, spec: Mapping[str, Any]) -> None:
    """The repo's preprocessor_config.json must name the catalog's processor type and give the same value for every
    pixel-changing field (PIXEL_FIELDS), both read through the same transformers processor class (so defaults and
    spellings, e.g. `size: 224` vs `{shortest_edge: 224}`, are normalised alike). Raises ModelLoadError naming
    each differing field."""
    document = _read_json(source, "preprocessor_config.json", model_id)
    if document is None:
        return
    their_type = document.get("image_processor_type") or document.get("feature_extractor_type") or ""
    if their_type and _base_type(their_type) != _base_type(spec["type"]):
        raise ModelLoadError(f"model {model_id!r}: {source.description}/preprocessor_config.json names "
                             f"{their_type}, the catalog {spec['type']}; correct options.image_processor")
    ours = pil_image_processor(spec).to_dict()
    theirs = pil_image_processor({"type": spec["type"], "config": {
        key: value for key, value in document.items() if key in PIXEL_FIELDS}}).to_dict()
    differences = _differences(ours, theirs, PIXEL_FIELDS)
    if differences:
        raise ModelLoadError(f"model {model_id!r}: {source.description}/preprocessor_config.json differs from the "
                             f"catalog entry ({'; '.join(differences)}); correct options.image_processor")
