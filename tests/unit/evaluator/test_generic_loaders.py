from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry

from .images import write_image


def test_imagefolder_sorted_classes_recursive_and_only_images(tmp_path) -> None:
    root = tmp_path / "folder"
    write_image(root / "zebra" / "b.png", 10)
    write_image(root / "zebra" / "sub" / "a.jpg", 20)
    write_image(root / "apple" / "x.TIF", 30)
    write_image(root / "apple" / "y.dcm", 40)
    (root / "apple" / "notes.txt").write_text("not an image")
    dataset = load_dataset(DatasetEntry(name="f", kind="imagefolder", path="folder"), tmp_path)
    assert dataset.class_names == ["apple", "zebra"]
    assert [s.key for s in dataset.samples] == ["apple/x.TIF", "apple/y.dcm", "zebra/b.png", "zebra/sub/a.jpg"]
    assert dataset.labels().tolist() == [0, 0, 1, 1]
    assert dataset.samples[2].load_bytes() == (root / "zebra" / "b.png").read_bytes()


def test_imagefolder_classes_option_picks_and_orders_classes(tmp_path) -> None:
    for name in ("a", "b", "c"):
        write_image(tmp_path / "f" / name / "x.png")
    dataset = load_dataset(DatasetEntry(name="f", kind="imagefolder", options={"classes": ["c", "a"]}), tmp_path)
    assert dataset.class_names == ["c", "a"]
    assert [s.key for s in dataset.samples] == ["c/x.png", "a/x.png"]


def test_imagefolder_errors_name_the_folder(tmp_path) -> None:
    with pytest.raises(DatasetError, match="folder not found: .*missing"):
        load_dataset(DatasetEntry(name="f", kind="imagefolder", path="missing"), tmp_path)
    (tmp_path / "f" / "empty_class").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no images in folder .*empty_class \(files are known by their content: "
                                           r"PNG, JPEG, TIFF, BMP, WEBP, DICOM \(with or without a suffix\) or NIfTI"):
        load_dataset(DatasetEntry(name="f", kind="imagefolder"), tmp_path)


def _busi_like_folder(root, *, masks: bool) -> None:
    """BUSI's public layout: `benign (1).png` with `benign (1)_mask.png` (and `_mask_1.png`) beside it."""
    for label, name in enumerate(("benign", "malignant", "normal")):
        for index in range(1, 4):
            write_image(root / name / f"{name} ({index}).png", 40 * label + index)
            if masks:
                write_image(root / name / f"{name} ({index})_mask.png", 255)
    if masks:
        write_image(root / "benign" / "benign (2)_mask_1.png", 255)
        write_image(root / "malignant" / "malignant (3)_MASK_2.png", 255)


def test_imagefolder_leaves_out_segmentation_masks_and_says_so(tmp_path, caplog) -> None:
    _busi_like_folder(tmp_path / "with", masks=True)
    _busi_like_folder(tmp_path / "without", masks=False)
    with caplog.at_level("INFO", logger="medembed_evaluator.datasets.imagefolder"):
        with_masks = load_dataset(DatasetEntry(name="f", kind="imagefolder", path="with"), tmp_path)
    plain = load_dataset(DatasetEntry(name="f", kind="imagefolder", path="without"), tmp_path)
    assert len(with_masks) == len(plain) == 9
    assert with_masks.class_counts() == plain.class_counts() == {"benign": 3, "malignant": 3, "normal": 3}
    assert [s.key for s in with_masks.samples] == [s.key for s in plain.samples]
    assert with_masks.content_hash() == plain.content_hash()
    assert "left out 11 segmentation mask(s)" in caplog.text and "keep_masks: true" in caplog.text


def test_imagefolder_keeps_masks_when_asked_and_a_name_merely_containing_mask_is_an_image(tmp_path) -> None:
    _busi_like_folder(tmp_path / "f", masks=True)
    write_image(tmp_path / "f" / "normal" / "mask_of_lesion.png", 7)
    write_image(tmp_path / "f" / "normal" / "unmasked.png", 8)
    kept = load_dataset(DatasetEntry(name="f", kind="imagefolder", options={"keep_masks": True}), tmp_path)
    assert len(kept) == 9 + 11 + 2
    dropped = load_dataset(DatasetEntry(name="f", kind="imagefolder"), tmp_path)
    assert len(dropped) == 9 + 2


def _write_npz(path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def test_medmnist_splits_label_shapes_and_png_encoding(tmp_path) -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 255, size=(4, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 255, size=(2, 28, 28, 3), dtype=np.uint8)
    _write_npz(
        tmp_path / "m" / "organ.npz",
        train_images=train, train_labels=np.array([[0], [2], [1], [2]]),
        test_images=test, test_labels=np.array([1, 0]),
    )  # fmt: skip
    entry = DatasetEntry(name="m", kind="medmnist", options={"file": "organ.npz", "splits": ["train", "test"]})
    dataset = load_dataset(entry, tmp_path)
    assert dataset.class_names == ["0", "1", "2"]
    assert [s.key for s in dataset.samples] == ["train/0", "train/1", "train/2", "train/3", "test/0", "test/1"]
    assert dataset.labels().tolist() == [0, 2, 1, 2, 1, 0]
    decoded = np.asarray(Image.open(io.BytesIO(dataset.samples[1].load_bytes())))
    np.testing.assert_array_equal(decoded, train[1])
    rgb = np.asarray(Image.open(io.BytesIO(dataset.samples[4].load_bytes())))
    np.testing.assert_array_equal(rgb, test[0])


def test_medmnist_missing_split_and_missing_file(tmp_path) -> None:
    _write_npz(tmp_path / "m.npz", train_images=np.zeros((1, 28, 28), np.uint8), train_labels=np.zeros((1, 1)))
    with pytest.raises(DatasetError, match="has no array 'val_images'"):
        load_dataset(DatasetEntry(name="m", kind="medmnist", path="m.npz", options={"splits": ["val"]}), tmp_path)
    with pytest.raises(DatasetError, match="file not found: .*nothere.npz"):
        load_dataset(DatasetEntry(name="m", kind="medmnist", path="nothere.npz"), tmp_path)


def test_csv_manifest_paths_relative_to_csv_with_metadata(tmp_path) -> None:
    root = tmp_path / "manifest"
    write_image(root / "imgs" / "a.png", 1)
    write_image(root / "imgs" / "b.png", 2)
    (root / "list.csv").write_text("file,diagnosis,patient\nimgs/a.png,sick,p1\nimgs/b.png,healthy,p2\n")
    options = {"file": "list.csv", "path_column": "file", "label_column": "diagnosis", "metadata_columns": ["patient"]}
    dataset = load_dataset(DatasetEntry(name="c", kind="csv", path="manifest", options=options), tmp_path)
    assert dataset.class_names == ["healthy", "sick"]
    assert dataset.labels().tolist() == [1, 0]
    assert [s.key for s in dataset.samples] == ["imgs/a.png", "imgs/b.png"]
    assert dataset.samples[1].metadata == {"patient": "p2"}


def test_csv_manifest_missing_column_and_missing_image(tmp_path) -> None:
    root = tmp_path / "manifest"
    root.mkdir()
    (root / "manifest.csv").write_text("path,class\nx.png,a\n")
    with pytest.raises(DatasetError, match=r"manifest.csv lacks column\(s\) label \(has: path, class\)"):
        load_dataset(DatasetEntry(name="c", kind="csv", path="manifest"), tmp_path)
    with pytest.raises(DatasetError, match="line 2: file not found: .*x.png"):
        load_dataset(DatasetEntry(name="c", kind="csv", path="manifest", options={"label_column": "class"}), tmp_path)
