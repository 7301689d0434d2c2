"""Shared pieces of the family tests: tiny catalog entries, images, comparisons."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from medembed_encoder.catalog import CatalogEntry, WeightsSource
from medembed_encoder.families import LoadedEncoder, load_encoder

CPU = torch.device("cpu")
META = torch.device("meta")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)


def tiny_entry(family: str, architecture: str, weights: WeightsSource, dim: int | None = None,
               **options: Any) -> CatalogEntry:
    return CatalogEntry(id=f"tiny-{architecture}", family=family, architecture=architecture, weights=weights,
                        dim=dim, options=options)


def local(path: Path) -> WeightsSource:
    return WeightsSource("local", str(path))


def as_random(entry: CatalogEntry) -> CatalogEntry:
    return dataclasses.replace(entry, weights=WeightsSource("random"))


def load(entry: CatalogEntry, device: torch.device = CPU) -> LoadedEncoder:
    return load_encoder(entry, device, allow_random_weights=entry.weights.is_random)


def embed(encoder: LoadedEncoder, spec: str, batch: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return encoder.specs[spec](batch)


def assert_same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def images(count: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)
