"""medembed_client.files: files known by content (files written by the reference libraries: Pillow,
tifffile, pydicom, nibabel), the hidden-file rule, and a folder sorted into samples and the rest."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom.uid import MediaStorageDirectoryStorage

from helpers.dicom import dicom_bytes, dicom_dataset, dicomdir_bytes
from medembed_client.files import (
    folder_files,
    is_hidden,
    is_hidden_name,
    media_storage_sop_class,
    sniff_file,
    sniff_head,
)
from medembed_decode.sniff import sniff_format


def pillow_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def tiff(bigtiff: bool, byteorder: str = "<") -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.arange(64, dtype=np.uint16).reshape(8, 8), bigtiff=bigtiff, byteorder=byteorder)
    return buffer.getvalue()


def dicom_without_preamble() -> bytes:
    ds = dicom_dataset(np.zeros((4, 4)))
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)  # the data set as it is: no preamble, no file meta
    data = buffer.getvalue()
    return data




def nifti(kind: type, tmp_path: Path, suffix: str) -> bytes:
    """A NIfTI file written by nibabel (gzip-compressed when the suffix says .gz), a non-identity affine."""
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    affine[:3, 3] = (-90, -120, 40)
    path = tmp_path / f"volume{suffix}"
    nib.save(kind(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), affine), path)
    return path.read_bytes()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "TIFF"])
def test_pillow_images_are_known_as_the_server_knows_them(fmt):
    data = pillow_bytes(fmt)
    assert sniff_head(data[:8192]) == fmt
    assert sniff_format(data) == fmt  # the server's sniff agrees


def test_tiff_and_bigtiff_in_both_byte_orders():
    for byteorder in "<>":
        assert sniff_head(tiff(False, byteorder)) == "TIFF"
        big = tiff(True, byteorder)
        assert big[:4] in (b"II+\x00", b"MM\x00+")
        assert sniff_head(big) == "BigTIFF"
        assert tifffile.TiffFile(io.BytesIO(big)).is_bigtiff


def test_dicom_with_preamble_without_it_and_bare():
    with_preamble = dicom_bytes(np.zeros((4, 4)))
    assert with_preamble[128:132] == b"DICM"
    assert sniff_head(with_preamble) == "DICOM"
    assert sniff_head(with_preamble[128:]) == "DICOM"  # preamble stripped: "DICM" at byte 0
    bare = dicom_without_preamble()
    assert b"DICM" not in bare[:132]
    assert sniff_head(bare) == "DICOM" == sniff_format(bare)


def test_a_dicomdir_is_known_by_its_media_storage_sop_class():
    data = dicomdir_bytes()
    assert media_storage_sop_class(data) == MediaStorageDirectoryStorage
    assert media_storage_sop_class(dicom_bytes(np.zeros((4, 4)))) == "1.2.840.10008.5.1.4.1.1.7"  # SC Image
    assert sniff_head(data) == "DICOMDIR"
    assert sniff_head(data[128:]) == "DICOMDIR"


def test_nifti_volumes_raw_and_gzip(tmp_path):
    assert sniff_head(nifti(nib.Nifti1Image, tmp_path, ".nii")[:8192]) == "NIfTI-1"
    assert sniff_head(nifti(nib.Nifti2Image, tmp_path, ".nii")[:8192]) == "NIfTI-2"
    compressed = nifti(nib.Nifti1Image, tmp_path, ".nii.gz")
    assert compressed[:2] == b"\x1f\x8b"
    assert sniff_head(compressed[:8192]) == "NIfTI-1"
    assert sniff_head(nifti(nib.Nifti2Image, tmp_path, ".nii.gz")[:8192]) == "NIfTI-2"
    header = nib.Nifti1Header().as_byteswapped(">")  # a big-endian header, as nibabel writes one
    path = tmp_path / "be.nii"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), ">i2"), np.eye(4), header), path)
    assert path.read_bytes()[:4] == (348).to_bytes(4, "big")
    assert sniff_head(path.read_bytes()) == "NIfTI-1"


def test_what_is_no_image_or_volume(tmp_path):
    nib.save(nib.Nifti1Pair(np.zeros((2, 2, 2), np.int16), np.eye(4)), tmp_path / "pair.img")
    header_only = (tmp_path / "pair.hdr").read_bytes()
    assert header_only[344:348] == b"ni1\x00"
    for data in (b"BMI by week\n1,2\n", b"", b"notes", gzip.compress(b"a csv,1\n" * 100), b"PK\x03\x04" + bytes(40),
                 header_only, b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(60)):
        assert sniff_head(data) is None, data[:16]


@pytest.mark.parametrize(("relative", "hidden"), [
    ("a.png", False), ("sub/a.png", False), ("._a.png", True), (".DS_Store", True), ("Thumbs.db", True),
    ("thumbs.db", True), ("desktop.ini", True), ("Desktop.ini", True), (".ipynb_checkpoints/a-checkpoint.png", True),
    ("__MACOSX/benign/a.png", True), ("benign/.hidden/deeper/a.png", True), ("a.png.", False),
])
def test_hidden_files_and_files_in_hidden_folders(tmp_path, relative, hidden):
    assert is_hidden(tmp_path / relative, tmp_path) is hidden
    assert is_hidden_name(Path(relative).name) is (hidden and not relative.startswith(("__MACOSX", ".ipynb", "benign")))


def test_the_named_root_may_itself_be_hidden(tmp_path):
    root = tmp_path / ".cache" / "images"
    assert not is_hidden(root / "a.png", root)
    assert is_hidden(root / "a.png")


def test_a_folder_is_sorted_into_samples_skips_hidden_and_other(tmp_path):
    root = tmp_path / "export"
    (root / "b" / ".ipynb_checkpoints").mkdir(parents=True)
    files = {
        "IM000001": dicom_bytes(np.zeros((4, 4))),
        "b/x.png": pillow_bytes("PNG"),
        "b/scan": pillow_bytes("JPEG"),
        "b/vol.nii.gz": nifti(nib.Nifti1Image, tmp_path, ".nii.gz"),
        "b/broken.jpg": b"version https://git-lfs.github.com/spec/v1\n",
        "b/._x.png": b"\x00\x05\x16\x07" + bytes(20),
        "b/.ipynb_checkpoints/x-checkpoint.png": pillow_bytes("PNG"),
        "DICOMDIR": dicomdir_bytes(),
        "b/index.dcm": dicomdir_bytes(),
        "notes.txt": b"hello",
        "Thumbs.db": b"\xd0\xcf\x11\xe0",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    found = folder_files(root)
    assert [p.relative_to(root).as_posix() for p in found.samples] == [
        "IM000001", "b/broken.jpg", "b/scan", "b/vol.nii.gz", "b/x.png"]
    assert [s.path.relative_to(root).as_posix() for s in found.skipped] == ["DICOMDIR", "b/index.dcm"]
    assert found.hidden == 3  # b/._x.png, b/.ipynb_checkpoints (once), Thumbs.db
    assert [p.name for p in found.other] == ["notes.txt"]
    assert sniff_file(root / "DICOMDIR") == "DICOMDIR"
    assert found.summary(root) == (
        "left out 3 hidden or system file(s) or folder(s) (names starting with '.', __MACOSX, Thumbs.db, "
        "desktop.ini) and 1 file(s) that are neither images nor volumes (notes.txt)")
    assert folder_files(root / "b" / ".ipynb_checkpoints").samples  # a hidden folder named itself is read
