"""The evaluator's folder datasets on folders as users have them: hidden and system files are never
samples (nor classes), files are known by content (DICOM without a suffix, a DICOMDIR named and
skipped), names that are not UTF-8 still give samples; BreakHis from every folder its release offers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from helpers.dicom import dicom_bytes, dicomdir_bytes
from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry

from .images import image_bytes, write_image


def _load(kind: str, data_root: Path, path: str | None = None, **options):
    return load_dataset(DatasetEntry(name=kind, kind=kind, path=path, options=options), data_root)




def _with_system_files(folder: Path, images: list[str]) -> None:
    """What macOS, Windows and Jupyter leave in a folder of `images`."""
    (folder / ".ipynb_checkpoints").mkdir(parents=True, exist_ok=True)
    for name in images:
        (folder / f"._{name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(200))  # AppleDouble
        (folder / ".ipynb_checkpoints" / name.replace(".png", "-checkpoint.png")).write_bytes(
            (folder / name).read_bytes())
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (folder / "notes.txt").write_text("scanned 2021\n")


def _hygiene_folder(root: Path, per_class: int = 10) -> None:
    for label in ("benign", "malignant"):
        names = [f"{label}_{i:02d}.png" for i in range(per_class)]
        for i, name in enumerate(names):
            write_image(root / label / name, 10 * i + (5 if label == "malignant" else 0))
        _with_system_files(root / label, names[:3])
    write_image(root / "__MACOSX" / "benign" / "._benign_00.png")  # the resource-fork folder of a macOS zip
    write_image(root / ".ipynb_checkpoints" / "stray.png")


def test_imagefolder_counts_no_hidden_or_system_file(tmp_path, caplog) -> None:
    _hygiene_folder(tmp_path / "hygiene")
    with caplog.at_level(logging.INFO, logger="medembed_evaluator"):
        dataset = _load("imagefolder", tmp_path, path="hygiene")
    assert dataset.class_names == ["benign", "malignant"]  # neither __MACOSX nor .ipynb_checkpoints is a class
    assert len(dataset) == 20 and dataset.class_counts() == {"benign": 10, "malignant": 10}
    assert [s.key for s in dataset.samples[:2]] == ["benign/benign_00.png", "benign/benign_01.png"]
    assert not any(part.startswith(".") for s in dataset.samples for part in s.key.split("/"))
    assert "benign: left out 7 hidden or system file(s) or folder(s)" in caplog.text
    assert "1 file(s) that are neither images nor volumes (notes.txt)" in caplog.text


def test_study_folder_kinds_follow_the_same_rule(tmp_path) -> None:
    root = tmp_path / "busi"
    for label in ("benign", "malignant", "normal"):
        write_image(root / label / f"{label} (1).png")
        write_image(root / label / f"{label} (1)_mask.png", 255)
        _with_system_files(root / label, [f"{label} (1).png"])
    dataset = _load("busi", tmp_path)
    assert [s.key for s in dataset.samples] == ["benign/benign (1).png", "malignant/malignant (1).png",
                                                "normal/normal (1).png"]


def test_dicom_without_suffix_is_a_sample_and_a_dicomdir_is_named_and_skipped(tmp_path, caplog) -> None:
    root = tmp_path / "export"
    for label in ("ct", "mr"):
        for i in range(3):
            name = f"IM{i:06d}" if i else f"IM{i:06d}.dcm"
            (root / label).mkdir(parents=True, exist_ok=True)
            (root / label / name).write_bytes(dicom_bytes(np.full((8, 8), 100 * i + len(label))))
        (root / label / "DICOMDIR").write_bytes(dicomdir_bytes())
        (root / label / "index.dcm").write_bytes(dicomdir_bytes())
    with caplog.at_level(logging.INFO, logger="medembed_evaluator"):
        dataset = _load("imagefolder", tmp_path, path="export")
    assert [s.key for s in dataset.samples] == [
        "ct/IM000000.dcm", "ct/IM000001", "ct/IM000002", "mr/IM000000.dcm", "mr/IM000001", "mr/IM000002"]
    for label in ("ct", "mr"):
        for name in ("DICOMDIR", "index.dcm"):
            assert f"{root / label}: skipped {name}: a DICOMDIR (the index of a DICOM media set" in caplog.text


def test_a_name_that_is_not_utf8_gives_a_sample_with_a_text_key(tmp_path) -> None:
    root = tmp_path / "latin1"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        with open(os.path.join(os.fsencode(root / label), b"caf\xe9.png"), "wb") as handle:
            handle.write(image_bytes(50 if label == "a" else 90))
    dataset = _load("imagefolder", tmp_path, path="latin1")
    assert [s.key for s in dataset.samples] == ["a/caf\\xe9.png", "b/caf\\xe9.png"]
    assert dataset.samples[1].load_bytes() == image_bytes(90)
    assert len(dataset.content_hash()) == 64


def _breakhis_files(breast: Path) -> None:
    """BreaKHis v1's layout under histology_slides/breast, with a Jupyter checkpoint and a macOS file."""
    for cls, code, subtype, patient in (("benign", "B", "adenosis", "14-22549AB"),
                                        ("malignant", "M", "ductal_carcinoma", "14-10926")):
        short = "A" if cls == "benign" else "DC"
        folder = breast / cls / "SOB" / subtype / f"SOB_{code}_{short}_{patient}"
        for mag in ("40X", "100X"):
            name = f"SOB_{code}_{short}-{patient}-{mag[:-1]}-001.png"
            write_image(folder / mag / name)
            _with_system_files(folder / mag, [name])


@pytest.mark.parametrize(("tree", "path"), [
    ("BreaKHis_v1/histology_slides/breast", "BreaKHis_v1"),                     # the release folder
    ("data/BreaKHis_v1/histology_slides/breast", "data"),                       # the folder holding it
    ("BreaKHis_v1/BreaKHis_v1/histology_slides/breast", "BreaKHis_v1"),         # a mirror's nesting
    ("BreaKHis_v1/histology_slides/breast", "BreaKHis_v1/histology_slides"),
    ("BreaKHis_v1/histology_slides/breast", "BreaKHis_v1/histology_slides/breast"),  # as the docstring promises
    ("copy", "copy"),                                                           # a copy that starts at benign/
])
def test_breakhis_from_every_folder_of_its_release(tmp_path, tree, path) -> None:
    _breakhis_files(tmp_path / tree)
    dataset = _load("breakhis", tmp_path, path=path)
    assert [s.key for s in dataset.samples] == [
        "benign/SOB/adenosis/SOB_B_A_14-22549AB/100X/SOB_B_A-14-22549AB-100-001.png",
        "benign/SOB/adenosis/SOB_B_A_14-22549AB/40X/SOB_B_A-14-22549AB-40-001.png",
        "malignant/SOB/ductal_carcinoma/SOB_M_DC_14-10926/100X/SOB_M_DC-14-10926-100-001.png",
        "malignant/SOB/ductal_carcinoma/SOB_M_DC_14-10926/40X/SOB_M_DC-14-10926-40-001.png",
    ]
    assert dataset.labels().tolist() == [0, 0, 1, 1]
    assert dataset.samples[0].metadata == {"subtype": "adenosis", "patient": "14-22549AB", "magnification": "100X"}


def test_breakhis_copy_without_the_sob_level_and_errors(tmp_path) -> None:
    write_image(tmp_path / "flat" / "benign" / "fibroadenoma" / "SOB_B_F_14-9133" / "40X" / "a.png")
    write_image(tmp_path / "flat" / "malignant" / "lobular_carcinoma" / "SOB_M_LC_14-12204" / "40X" / "b.png")
    dataset = _load("breakhis", tmp_path, path="flat")
    assert [s.metadata["subtype"] for s in dataset.samples] == ["fibroadenoma", "lobular_carcinoma"]
    assert [s.metadata["patient"] for s in dataset.samples] == ["14-9133", "14-12204"]
    with pytest.raises(DatasetError, match=r"folder not found: no benign/ and malignant/ folders under .*flat/benign"):
        _load("breakhis", tmp_path, path="flat/benign")
    busi_beside = tmp_path / "data"
    _breakhis_files(busi_beside / "BreaKHis_v1" / "histology_slides" / "breast")
    for label in ("benign", "malignant", "normal"):
        write_image(busi_beside / "Dataset_BUSI_with_GT" / label / f"{label} (1).png")
    assert len(_load("breakhis", tmp_path, path="data")) == 4  # BUSI's benign/ malignant/ are not BreaKHis
    _breakhis_files(tmp_path / "two" / "a")
    _breakhis_files(tmp_path / "two" / "b")
    with pytest.raises(DatasetError, match=r"several BreaKHis trees under .*two: .*two/a, .*two/b"):
        _load("breakhis", tmp_path, path="two")


# The 26 (class_name, level_1, level_2, level_3) combinations of HiCervix's public train/val/test.csv
# (github.com/Scu-sen/HiCervix, dataset/hierarchy_classification/version2023), class_id 0-25 in this order.
HICERVIX_PUBLIC = [
    *((name, "negative", name, "") for name in ("Normal", "ECC", "RPC", "MPC", "PG", "Atrophy", "EMC", "HCG")),
    *((name, "ASC", name, "") for name in ("ASC-US", "LSIL", "ASC-H", "HSIL", "SCC")),
    ("AGC", "AGC", "", ""), ("AGC-NOS", "AGC", "AGC-NOS", ""), ("AGC-FN", "AGC", "AGC-FN", ""),
    ("ADC", "AGC", "ADC", ""), ("AGC-ECC-NOS", "AGC", "AGC-NOS", "AGC-ECC-NOS"),
    ("AGC-EMC-NOS", "AGC", "AGC-NOS", "AGC-EMC-NOS"), ("ADC-ECC", "AGC", "ADC", "ADC-ECC"),
    ("ADC-EMC", "AGC", "ADC", "ADC-EMC"),
    *((name, "microbe", name, "") for name in ("FUNGI", "ACTINO", "TRI", "HSV", "CC")),
]


def test_hicervix_public_csv_has_26_classes_and_its_tree_29_nodes(tmp_path) -> None:
    root = tmp_path / "HiCervix"
    lines = ["image_name,class_name,class_id,level_1,level_2,level_3"]
    for class_id, (name, *levels) in enumerate(HICERVIX_PUBLIC):
        write_image(root / "train" / f"{class_id}.jpg", class_id)
        lines.append(f"{class_id}.jpg,{name},{class_id},{','.join(levels)}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    dataset = _load("hicervix", tmp_path, path="HiCervix")
    assert len(dataset.class_names) == 26
    tree = {value for s in dataset.samples for value in s.metadata.values()}
    assert len(tree) == 29  # the paper's "29 annotated classes": 4 level-1 + 21 level-2 + 4 level-3 nodes
    assert _load("hicervix", tmp_path, path="HiCervix", label_column="level_1").class_names == [
        "AGC", "ASC", "microbe", "negative"]
