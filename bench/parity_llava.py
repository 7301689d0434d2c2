"""Parity rows for the LLaVA catalog models: medembed's vector vs the upstream feature function, per spec.

No hub is reachable, so each catalog model is stood in for by a tiny checkpoint (2-layer, width-32
CLIP tower at the real 336 px / patch 14, the real grid pinpoints and S² scales) written in the release
layout its upstream reads (tests/helpers/llava_upstream.py), with the catalog entry's `upstream`
and S² setting. medembed loads it through its catalog path (decode, preprocessing, collate, spec);
the reference is the upstream's own feature function on the same image.

    python bench/parity_llava.py            # one row per LLaVA catalog model and spec

`parity_rows(model_id, work_dir)` is what bench/parity.py calls.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.llava_upstream import as_upstream_reads, parity_images, tiny_checkpoint_like  # noqa: E402
from medembed_decode import DecodeLimits, decode_image  # noqa: E402
from medembed_encoder.catalog import WeightsSource, load_catalog  # noqa: E402
from medembed_encoder.families import load_encoder  # noqa: E402

CPU = torch.device("cpu")
REFERENCES = {  # upstream -> spec -> the reference, in the upstream's API words
    "llava_next_hf": {
        "default": "transformers LlavaNextModel.get_image_features(...).pooler_output[0].mean(0)",
        "base_view": "get_image_features(...).pooler_output[0][:576].mean(0) (the base view's tokens)",
        "pre_projection": "LlavaNextModel.vision_tower(base view).pooler_output",
        "layer:-2:patch_mean": "pack_image_features(hidden_states[-2][:, 1:], image_newline=None).mean(0)",
    },
    "llava_med": {
        "default": "LLaVA-Med encode_images(process_images(...)).mean(1): CLIPImageProcessor + CLIPVisionModel "
                   "hidden_states[-2][:, 1:] + mm_projector",
        "pre_projection": "CLIPVisionModel(process_images(...)).pooler_output",
        "layer:-2:patch_mean": "CLIPVisionTower.feature_select(...).mean(1)",
    },
    "medtrinity": {
        "default": "MedTrinity encode_images(process_images(...)).mean(1): CLIPVisionTowerS2 (s2wrapper.forward "
                   "at 336/672/1008) + mm_projector",
        "pre_projection": "CLIPVisionModel(bicubic 336 of the 1008 input).pooler_output",
        "layer:-2:patch_mean": "s2wrapper.forward(feature_select, ...).mean(1) (3 scales concatenated)",
    },
}


class ParityRow(NamedTuple):
    model_id: str
    spec: str
    reference: str
    max_abs_diff: float  # over the images
    cosine: float  # the smallest over the images


def parity_rows(model_id: str, work_dir: Path, images: dict[str, bytes] | None = None) -> list[ParityRow]:
    """One row per spec of catalog model `model_id` (architecture llava), on `images` (default: a non-square
    RGB, a gray and a 16-bit PNG)."""
    entry = load_catalog()[model_id]
    upstream = entry.options["upstream"]
    options, reference = tiny_checkpoint_like(upstream, bool(entry.options["config"].get("s2")), work_dir)
    tiny = dataclasses.replace(entry, weights=WeightsSource("local", str(work_dir / (
        "llava-next" if upstream == "llava_next_hf" else "llava"))), options=options, dim=None)
    encoder = load_encoder(tiny, CPU, allow_random_weights=False)
    images = images or parity_images()
    limits = DecodeLimits(2**30, 10**9, 1)
    expected = {name: reference(as_upstream_reads(data)) for name, data in images.items()}
    rows = []
    for spec, embed in encoder.specs.items():
        batch = encoder.collate([encoder.preprocess(decode_image(data, limits)) for data in images.values()], CPU)
        with torch.inference_mode():
            served = embed(batch).numpy()
        wanted = np.stack([expected[name][spec] for name in images])
        cosines = (served * wanted).sum(1) / np.linalg.norm(served, axis=1) / np.linalg.norm(wanted, axis=1)
        rows.append(ParityRow(model_id, spec, REFERENCES[upstream][spec], float(np.abs(served - wanted).max()),
                              float(cosines.min())))
    return rows


def main() -> None:
    catalog = load_catalog()
    print(f"{'model':28} {'spec':22} {'max abs diff':>12} {'cosine':>9}  reference")
    for model_id in sorted(m for m, e in catalog.items() if e.architecture == "llava"):
        with tempfile.TemporaryDirectory() as tmp:
            for row in parity_rows(model_id, Path(tmp)):
                print(f"{row.model_id:28} {row.spec:22} {row.max_abs_diff:12.2e} {row.cosine:9.6f}  {row.reference}")


if __name__ == "__main__":
    main()
