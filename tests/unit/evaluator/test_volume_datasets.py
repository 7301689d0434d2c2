"""The `volumes` dataset kind: a folder per class of NIfTI files, DICOM files and DICOM series folders
(each series packed as one zip), read back with nibabel, pydicom and zipfile; its plan options."""

from __future__ import annotations

import gzip
import io
import logging
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from helpers.dicom import dicom_dataset, dicomdir_bytes, to_bytes
from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry

from .images import write_image


def _load(data_root: Path, path: str = "vols", **options):
    return load_dataset(DatasetEntry(name="v", kind="volumes", path=path, options=options), data_root)


def _ct_slice(series_uid: str, z: float, seed: int) -> bytes:
    ds = dicom_dataset(np.random.default_rng(seed).integers(-1000, 1000, (8, 8)), signed=True)
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series_uid
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    return to_bytes(ds)




def _volume_tree(root: Path) -> dict[str, bytes]:
    """Two classes: NIfTI files (raw, gzip) and a multi-frame DICOM, and DICOM series folders whose
    file names run against their slice positions, beside a DICOMDIR, hidden files and a PNG."""
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    affine[:3, 3] = (-100, -100, 20)
    (root / "normal").mkdir(parents=True)
    for i, name in enumerate(("case1.nii", "case2.nii.gz")):
        nib.save(nib.Nifti1Image(np.arange(8 * 8 * 5, dtype=np.int16).reshape(8, 8, 5) + i, affine),
                 root / "normal" / name)
    multiframe = dicom_dataset(np.arange(3 * 8 * 8).reshape(3, 8, 8), frames=3)
    (root / "normal" / "enhanced").write_bytes(to_bytes(multiframe))
    series = {}
    for patient in ("p01", "p02"):
        folder = root / "bleed" / patient / "CT_head"
        folder.mkdir(parents=True)
        uid = generate_uid()
        for i, z in enumerate((30.0, 10.0, 20.0)):  # IM000000 is the top slice: names are no order
            data = _ct_slice(uid, z, seed=i + 10 * len(series))
            (folder / f"IM{i:06d}").write_bytes(data)
            series[f"bleed/{patient}/CT_head/IM{i:06d}"] = data
        (folder / "DICOMDIR").write_bytes(dicomdir_bytes())
        (folder / "._IM000000").write_bytes(b"\x00\x05\x16\x07" + bytes(40))
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    write_image(root / "bleed" / "p01" / "screenshot.png")
    return series


def test_nifti_dicom_and_series_folders_are_samples(tmp_path, caplog) -> None:
    series = _volume_tree(tmp_path / "vols")
    with caplog.at_level(logging.INFO, logger="medembed_evaluator"):
        dataset = _load(tmp_path)
    assert dataset.class_names == ["bleed", "normal"]
    assert [(s.key, s.label, s.metadata["form"]) for s in dataset.samples] == [
        ("bleed/p01/CT_head", 0, "dicom-series"), ("bleed/p02/CT_head", 0, "dicom-series"),
        ("normal/case1.nii", 1, "nifti"), ("normal/case2.nii.gz", 1, "nifti"), ("normal/enhanced", 1, "dicom")]
    assert dataset.volume_options == {}
    assert "left out 1 image(s) that are neither NIfTI nor DICOM" in caplog.text
    assert "skipped p01/CT_head/DICOMDIR: a DICOMDIR" in caplog.text
    nifti = nib.Nifti1Image.from_bytes(gzip.decompress(dataset.samples[3].load_bytes()))
    assert np.array_equal(nifti.get_fdata(), np.arange(320).reshape(8, 8, 5) + 1)
    assert np.allclose(nifti.affine[:3, 3], (-100, -100, 20))
    assert pydicom.dcmread(io.BytesIO(dataset.samples[4].load_bytes())).NumberOfFrames == 3
    packed = dataset.samples[0].load_bytes()
    assert packed == dataset.samples[0].load_bytes()  # the same files always pack to the same bytes
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.namelist() == ["IM000000", "IM000001", "IM000002"]  # no DICOMDIR, no hidden file
        for name in archive.namelist():
            assert archive.read(name) == series[f"bleed/p01/CT_head/{name}"]
            assert pydicom.dcmread(io.BytesIO(archive.read(name))).ImagePositionPatient[2] in (10, 20, 30)
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_rules_giving_several_vectors_a_sample_are_refused(tmp_path) -> None:
    _volume_tree(tmp_path / "vols")
    for rule in ("all", "every:2", "sometimes"):
        with pytest.raises(DatasetError, match=rf"slices '{rule}': a probe needs one vector per sample; use middle, "
                                               r"index:N, mean"):
            _load(tmp_path, slices=rule)


def test_options_are_canonical_and_part_of_the_content_hash(tmp_path) -> None:
    pytest.importorskip("medembed_decode.volume", reason="the volume reader (medembed_decode.volume) is not here")
    _volume_tree(tmp_path / "vols")
    default = _load(tmp_path)
    middle_lung = _load(tmp_path, slices=" Middle ", axis="AXIAL", window="lung")
    assert middle_lung.volume_options == {"slices": "middle", "axis": "axial", "window": "lung"}
    mean = _load(tmp_path, slices="mean", window="brain, subdural, bone")
    assert mean.volume_options == {"slices": "mean", "window": "brain,subdural,bone"}
    hashes = {d.content_hash() for d in (default, middle_lung, mean)}
    assert len(hashes) == 3
    assert _load(tmp_path).content_hash() == default.content_hash()
    with pytest.raises(DatasetError, match="window 'lungs'"):
        _load(tmp_path, window="lungs")
    with pytest.raises(DatasetError, match="axis 'oblique'"):
        _load(tmp_path, axis="oblique")


def test_errors_name_the_folder(tmp_path) -> None:
    with pytest.raises(DatasetError, match="volumes: folder not found: .*missing"):
        _load(tmp_path, path="missing")
    (tmp_path / "vols" / "empty").mkdir(parents=True)
    write_image(tmp_path / "vols" / "empty" / "a.png")
    with pytest.raises(DatasetError, match=r"volumes: no volumes in folder .*empty \(NIfTI files"):
        _load(tmp_path)
