"""Benchmark inputs: an ImageFolder on disk (e.g. ../shared/data/busi) or offline phantoms."""

from __future__ import annotations

from pathlib import Path

from medembed_client.cli import image_files


def load_images(data: str | None, limit: int | None = None, phantoms_per_class: int = 64) -> tuple[str, list[bytes]]:
    """(description, encoded image bytes). Without `data`, deterministic phantom images."""
    if data:
        root = Path(data)
        files = [p for p in image_files([str(root)]) if "_mask" not in p.name]
        if not files:
            raise SystemExit(f"no images under {root}")
        images = [p.read_bytes() for p in files[:limit]]
        return f"{root} ({len(images)} images)", images
    from medembed_evaluator.datasets import load_dataset
    from medembed_evaluator.plan.schema import DatasetEntry

    dataset = load_dataset(DatasetEntry("phantoms", "phantoms", options={"n_per_class": phantoms_per_class}), Path("."))
    images = [sample.load_bytes() for sample in dataset.samples[:limit]]
    return f"phantoms ({len(images)} images, offline)", images
