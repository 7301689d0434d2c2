"""MedMNIST npz in every shape the releases use, or an error naming file, key, shape and dtype."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry


def _npz(path, images: np.ndarray) -> DatasetEntry:
    labels = (np.arange(len(images)) % 2).astype(np.uint8).reshape(-1, 1)
    np.savez(path, train_images=images, train_labels=labels)
    return DatasetEntry(name="m", kind="medmnist", path=str(path))


def _pixels(entry: DatasetEntry, root) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(s.load_bytes()))) for s in load_dataset(entry, root).samples]


@pytest.mark.parametrize("size", [28, 64, 128, 224])
def test_gray_with_and_without_the_channel_axis_and_float_give_the_same_images(tmp_path, size) -> None:
    gray = np.random.default_rng(size).integers(0, 256, (4, size, size), dtype=np.uint8)
    plain = _pixels(_npz(tmp_path / "a.npz", gray), tmp_path)
    for name, variant in {"nhwc1": gray[..., None], "float": gray / 255.0,
                          "float32 nhwc1": (gray[..., None] / 255.0).astype(np.float32)}.items():
        assert all(np.array_equal(a, b) for a, b in zip(_pixels(_npz(tmp_path / f"{name}.npz", variant), tmp_path),
                                                        plain, strict=True)), name
    assert plain[0].shape == (size, size) and np.array_equal(plain[1], gray[1])


def test_colour_images_stay_colour(tmp_path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    pixels = _pixels(_npz(tmp_path / "c.npz", rgb), tmp_path)
    assert pixels[2].shape == (28, 28, 3) and np.array_equal(pixels[2], rgb[2])
    assert np.array_equal(_pixels(_npz(tmp_path / "f.npz", rgb / 255.0), tmp_path)[3], rgb[3])


@pytest.mark.parametrize(("images", "why"), [
    (np.zeros((4, 28, 28, 2), np.uint8), "not a stack of gray or RGB images"),
    (np.zeros((4, 28), np.uint8), "not a stack"),
    (np.zeros((4, 28, 28), np.uint16), "not uint8 or float"),
    (np.full((4, 28, 28), 3.0), r"outside \[0, 1\] \(min 3, max 3"),
    (np.full((4, 28, 28), np.nan, np.float32), "no finite value"),
])
def test_other_arrays_are_refused_naming_file_key_shape_and_dtype(tmp_path, images, why) -> None:
    entry = _npz(tmp_path / "bad.npz", images)
    with pytest.raises(DatasetError, match=why) as caught:
        load_dataset(entry, tmp_path)
    message = str(caught.value)
    assert "bad.npz" in message and "'train_images'" in message
    assert str(images.shape) in message and str(images.dtype) in message
