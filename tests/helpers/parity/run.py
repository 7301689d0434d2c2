"""Serve parity cases from one real encoder server and compare each vector with its upstream reference."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from medembed_client import Client
from medembed_encoder.testing import start_local_encoder

from .hubcache import server_env
from .images import IMAGES, decoded
from .registry import CASES, CaseContext, ParityCase, load_cases

SERVER_START_S = 900  # every model of the family loads and warms up first


@dataclass(frozen=True)
class Row:
    model_id: str
    spec: str
    image: str
    reference: str
    note: str
    max_abs: float
    cosine: float
    scale: float = float("nan")  # max abs value of the reference vector: a ~0 reference would prove nothing


def _expected(cases: Sequence[ParityCase], work: Path, full_depth: bool,
              say: Callable[[str], None]) -> tuple[list[dict], dict, dict]:
    """Build every case and run its references; only vectors are kept, the models are freed at once."""
    entries, expected, meta = [], {}, {}
    for case in cases:
        say(f"building {case.model_id}")
        built = case.build(CaseContext(work / case.model_id, work / "hub", full_depth))
        entries.append(json.loads(json.dumps(built.entry)))  # tuples -> lists for YAML
        for spec, reference in built.references.items():
            meta[(case.model_id, spec)] = (reference.description, built.note)
            with torch.inference_mode():
                for image, data in IMAGES.items():
                    vector = torch.as_tensor(reference.embed(decoded(data)), dtype=torch.float32)
                    expected[(case.model_id, spec, image)] = vector.reshape(-1).numpy()
        del built
        gc.collect()
    return entries, expected, meta


def run_cases(cases: Sequence[ParityCase], work: Path, full_depth: bool = False,
              say: Callable[[str], None] = lambda message: None) -> list[Row]:
    """One row per (case, spec, image): max abs difference and cosine of served vs upstream vector."""
    entries, expected, meta = _expected(cases, work, full_depth, say)
    catalog = work / "parity-catalog.yaml"
    catalog.write_text(yaml.safe_dump({"models": entries}, sort_keys=False))
    say(f"serving {len(entries)} models")
    server = start_local_encoder(",".join(case.model_id for case in cases), work / "logs",
                                 env=server_env(work / "hub"), wait=False, catalog=catalog, device="cpu",
                                 dtype="float32", decode_threads=1)
    rows = []
    with server:
        server.wait_serving(SERVER_START_S)
        with Client(server.target) as client:
            for info in client.list_models():  # a served spec without a reference is a failing row
                rows += [Row(info.id, spec.name, "-", "NO REFERENCE", "", float("nan"), float("nan"), float("nan"))
                         for spec in info.specs if (info.id, spec.name) not in meta]
            for (model_id, spec, image), want in expected.items():
                result = client.embed([IMAGES[image]], model_id, spec=spec)
                if result.errors:
                    raise AssertionError(f"{model_id} {spec} {image}: {result.errors}")
                got, want = result.vectors[0].astype(np.float64), want.astype(np.float64)
                cosine = float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want)))
                description, note = meta[(model_id, spec)]
                rows.append(Row(model_id, spec, image, description, note, float(np.abs(got - want).max()), cosine,
                                float(np.abs(want).max())))
    return rows


TOLERANCE = 1e-5  # max abs difference, fp32 on the CPU
MIN_SCALE = 1e-3  # a reference vector smaller than this everywhere would make the tolerance meaningless


def family_cases(family: str) -> list[ParityCase]:
    return [case for case in load_cases().values() if case.family == family]


def failures(rows: Sequence[Row], model_id: str) -> list[str]:
    """Why `model_id`'s rows fail the parity bar (empty when they pass)."""
    mine = [row for row in rows if row.model_id == model_id]
    if not mine:
        return [f"{model_id}: no rows"]
    return [f"{row.model_id} {row.spec} {row.image}: max abs {row.max_abs:.3g}, cosine {row.cosine:.7f} vs "
            f"{row.reference} (reference scale {row.scale:.3g})" for row in mine
            if not (row.max_abs <= TOLERANCE and row.scale >= MIN_SCALE)]


__all__ = ["CASES", "Row", "TOLERANCE", "failures", "family_cases", "run_cases"]
