"""Each study dataset on a tiny fixture in the exact layout its public release ships."""

from __future__ import annotations

import numpy as np
import pytest

from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry

from .images import write_image


def _load(kind: str, data_root, path: str | None = None, **options):
    return load_dataset(DatasetEntry(name=kind, kind=kind, path=path, options=options), data_root)


def test_brainmr_training_and_optional_testing(tmp_path) -> None:
    root = tmp_path / "brainmr"
    for i, name in enumerate(("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")):
        write_image(root / "Training" / name / "gg (1).jpg", 10 * i)
        write_image(root / "Testing" / name / "image(1).jpg", 10 * i)
    training = _load("brainmr", tmp_path)
    assert training.class_names == ["glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"]
    assert training.labels().tolist() == [0, 1, 2, 3]
    assert training.samples[0].key == "Training/glioma_tumor/gg (1).jpg"
    both = _load("brainmr", tmp_path, splits=["Training", "Testing"])
    assert len(both) == 8
    assert {s.metadata["split"] for s in both.samples} == {"Training", "Testing"}
    with pytest.raises(DatasetError, match="folder not found: .*Validation"):
        _load("brainmr", tmp_path, splits=["Validation"])


def test_sarscov2ct_covid_is_the_positive_class(tmp_path) -> None:
    write_image(tmp_path / "sarscov2ct" / "COVID" / "Covid (1).png")
    write_image(tmp_path / "sarscov2ct" / "non-COVID" / "Non-Covid (1).png")
    dataset = _load("sarscov2ct", tmp_path)
    assert dataset.class_names == ["non-COVID", "COVID"]
    assert dict(zip([s.key for s in dataset.samples], dataset.labels().tolist(), strict=True)) == {
        "non-COVID/Non-Covid (1).png": 0,
        "COVID/Covid (1).png": 1,
    }
    (tmp_path / "sarscov2ct" / "non-COVID" / "Non-Covid (1).png").unlink()
    with pytest.raises(DatasetError, match="no images in folder .*non-COVID"):
        _load("sarscov2ct", tmp_path)


def test_pneumoniamnist_uses_the_train_split(tmp_path) -> None:
    np.savez(
        tmp_path / "pneumoniamnist.npz",
        train_images=np.zeros((3, 28, 28), np.uint8), train_labels=np.array([[0], [1], [1]], np.uint8),
        val_images=np.zeros((1, 28, 28), np.uint8), val_labels=np.array([[0]], np.uint8),
    )  # fmt: skip
    dataset = load_dataset(DatasetEntry(name="pneumoniamnist", kind="pneumoniamnist", path="."), tmp_path)
    assert dataset.class_names == ["normal", "pneumonia"]
    assert dataset.labels().tolist() == [0, 1, 1]
    assert dataset.samples[0].load_bytes().startswith(b"\x89PNG")


def test_busi_excludes_masks(tmp_path) -> None:
    root = tmp_path / "Dataset_BUSI_with_GT"
    for name in ("benign", "malignant", "normal"):
        write_image(root / name / f"{name} (1).png")
        write_image(root / name / f"{name} (1)_mask.png", 255)
    write_image(root / "benign" / "benign (4)_mask_1.png", 255)
    dataset = _load("busi", tmp_path, path="Dataset_BUSI_with_GT")
    assert [s.key for s in dataset.samples] == [
        "benign/benign (1).png",
        "malignant/malignant (1).png",
        "normal/normal (1).png",
    ]
    assert dataset.class_counts() == {"benign": 1, "malignant": 1, "normal": 1}
    with pytest.raises(DatasetError, match="busi: folder not found"):
        _load("busi", tmp_path, path="elsewhere")


def _breakhis_tree(root) -> None:
    slides = root / "BreaKHis_v1" / "histology_slides" / "breast"
    for cls, code, subtype, patient in (
        ("benign", "B", "adenosis", "14-22549AB"),
        ("malignant", "M", "ductal_carcinoma", "14-10926"),
    ):
        short = "A" if cls == "benign" else "DC"
        folder = slides / cls / "SOB" / subtype / f"SOB_{code}_{short}_{patient}"
        for mag in ("40X", "100X", "200X", "400X"):
            write_image(folder / mag / f"SOB_{code}_{short}-{patient}-{mag[:-1]}-001.png")


def test_breakhis_labels_metadata_and_magnification_filter(tmp_path) -> None:
    _breakhis_tree(tmp_path / "breakhis")
    everything = _load("breakhis", tmp_path)
    assert everything.class_counts() == {"benign": 4, "malignant": 4}
    first = everything.samples[0]
    assert first.metadata == {"subtype": "adenosis", "patient": "14-22549AB", "magnification": "100X"}
    only_40 = _load("breakhis", tmp_path, magnification=["40X"])
    assert [s.metadata["magnification"] for s in only_40.samples] == ["40X", "40X"]
    assert only_40.labels().tolist() == [0, 1]
    assert len(_load("breakhis", tmp_path, magnification=[200, "400x"])) == 4
    with pytest.raises(DatasetError, match="unknown magnification.*50X"):
        _load("breakhis", tmp_path, magnification=["50X"])
    with pytest.raises(DatasetError, match="folder not found: .*histology_slides"):
        _load("breakhis", tmp_path, path="empty")


def test_hicervix_csv_classes_and_levels(tmp_path) -> None:
    root = tmp_path / "hicervix"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(root / "train" / name)
    (root / "train.csv").write_text(
        "image_name,class_name,class_id,level_1,level_2,level_3\n"
        "a.jpg,NILM,0,negative,NILM,\n"
        "b.jpg,HSIL,5,ASC,HSIL,\n"
        "c.jpg,ASC-US,3,ASC,ASC-US,\n"
    )
    dataset = _load("hicervix", tmp_path)
    assert dataset.class_names == ["ASC-US", "HSIL", "NILM"]
    assert dataset.labels().tolist() == [2, 1, 0]
    assert dataset.samples[1].metadata == {"level_1": "ASC", "level_2": "HSIL"}
    assert dataset.samples[0].key == "train/a.jpg"
    (root / "bad.csv").write_text("image_name,label\na.jpg,x\n")
    with pytest.raises(DatasetError, match=r"bad.csv lacks column\(s\) class_name"):
        _load("hicervix", tmp_path, csv="bad.csv", images="train")


def _deepdrid_tree(root) -> None:
    split = root / "regular_fundus_images" / "regular-fundus-training"
    write_image(split / "Images" / "1" / "1_l1.jpg")
    write_image(split / "Images" / "1" / "1_r1.jpg")
    write_image(split / "Images" / "2" / "l2.jpg")  # one of the files stored without its patient prefix
    write_image(split / "Images" / "2" / "2_r2.jpg")
    (split / "regular-fundus-training.csv").write_text(
        "patient_id,image_id,image_path,Overall quality,left_eye_DR_Level,right_eye_DR_Level,patient_DR_Level,"
        "Clarity,Field definition,Artifact\n"
        "1,1_l1,\\regular-fundus-training\\1\\1_l1.jpg,1,0,,3,8,10,0\n"
        "1,1_r1,\\regular-fundus-training\\1\\1_r1.jpg,1,,3,3,8,10,0\n"
        "2,2_l2,\\regular-fundus-training\\2\\2_l2.jpg,1,4,,5,8,10,0\n"
        "2,2_r2,\\regular-fundus-training\\2\\2_r2.jpg,0,,5,5,8,10,0\n"
    )


def test_deepdrid_eye_grades_and_ungradable_dropped(tmp_path) -> None:
    _deepdrid_tree(tmp_path / "DeepDRiD")
    dataset = _load("deepdrid", tmp_path, path="DeepDRiD")
    assert dataset.class_names == ["0", "1", "2", "3", "4"]
    assert [s.key for s in dataset.samples] == [
        "regular-fundus-training/Images/1/1_l1.jpg",
        "regular-fundus-training/Images/1/1_r1.jpg",
        "regular-fundus-training/Images/2/l2.jpg",
    ]
    assert dataset.labels().tolist() == [0, 3, 4]
    assert dataset.samples[1].metadata == {"patient": "1", "eye": "right", "split": "training"}


def test_deepdrid_missing_column_and_missing_split(tmp_path) -> None:
    _deepdrid_tree(tmp_path / "DeepDRiD")
    with pytest.raises(DatasetError, match="folder not found: .*regular-fundus-validation"):
        _load("deepdrid", tmp_path, path="DeepDRiD", splits=["validation"])
    csv_path = (
        tmp_path / "DeepDRiD" / "regular_fundus_images" / "regular-fundus-training" / "regular-fundus-training.csv"
    )
    csv_path.write_text("patient_id,image_id,image_path\n1,1_l1,x\n")
    with pytest.raises(
        DatasetError, match=r"lacks column\(s\) left_eye_DR_Level, right_eye_DR_Level, patient_DR_Level"
    ):
        _load("deepdrid", tmp_path, path="DeepDRiD")


def test_isic2019_one_hot_labels_and_dropped_empty_classes(tmp_path) -> None:
    root = tmp_path / "isic"
    header = "image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\n"
    rows = {
        "ISIC_0000000": "0.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",
        "ISIC_0000001": "1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",
        "ISIC_0000002": "0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0",
    }
    root.mkdir()
    (root / "ISIC_2019_Training_GroundTruth.csv").write_text(header + "".join(f"{k},{v}\n" for k, v in rows.items()))
    (root / "ISIC_2019_Training_Metadata.csv").write_text(
        "image,age_approx,anatom_site_general,lesion_id,sex\nISIC_0000001,55.0,anterior torso,BCN_0001,male\n"
    )
    for image in rows:
        write_image(root / "ISIC_2019_Training_Input" / f"{image}.jpg")
    dataset = _load("isic2019", tmp_path, path="isic")
    assert dataset.class_names == ["MEL", "NV", "SCC"]
    assert dataset.labels().tolist() == [1, 0, 2]
    assert dataset.samples[1].metadata["lesion_id"] == "BCN_0001"
    (root / "ISIC_2019_Training_GroundTruth.csv").write_text("image,MEL,NV\nISIC_0000000,1.0,0.0\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) BCC, AK, BKL, DF, VASC, SCC, UNK"):
        _load("isic2019", tmp_path, path="isic")
