"""`medembed embed DIR` on folders as users have them: files known by content (DICOM without a suffix,
a DICOMDIR that is no image), hidden and system files never samples, names that are not UTF-8."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import MediaStorageDirectoryStorage

from helpers.dicom import dicom_bytes, dicomdir_bytes
from helpers.images import encode, random_image


def medembed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medembed_client.cli", *args], capture_output=True, text=True,
                          timeout=120)




def pacs_export(folder: Path) -> list[bytes]:
    """Ten DICOM images, four named IM00000N.dcm and six without a suffix, a named DICOMDIR and one
    under another name; returns the images' bytes in name order."""
    folder.mkdir(parents=True)
    images = []
    for i in range(10):
        pixels = np.random.default_rng(i).integers(0, 4096, (32, 32))
        data = dicom_bytes(pixels, bits_stored=12)
        (folder / (f"IM{i:06d}.dcm" if i < 4 else f"IM{i:06d}")).write_bytes(data)
        images.append(data)
    (folder / "DICOMDIR").write_bytes(dicomdir_bytes())
    (folder / "sub").mkdir()
    (folder / "sub" / "INDEX").write_bytes(dicomdir_bytes())  # a DICOMDIR known by its SOP class alone
    return images


def test_dicom_without_suffix_is_embedded_and_a_dicomdir_is_skipped_and_named(tiny_server, tmp_path):
    images = pacs_export(tmp_path / "export")
    assert pydicom.dcmread(tmp_path / "export" / "DICOMDIR").file_meta.MediaStorageSOPClassUID == \
        MediaStorageDirectoryStorage
    out = tmp_path / "feats.npy"
    completed = medembed("--target", tiny_server.target, "embed", str(tmp_path / "export"), "--model", "tiny-timm",
                         "--out", str(out), "--quiet")
    assert completed.returncode == 0, completed.stderr
    files = (tmp_path / "feats.files.txt").read_text().splitlines()
    assert [Path(f).name for f in files] == [f"IM{i:06d}.dcm" if i < 4 else f"IM{i:06d}" for i in range(10)]
    assert [Path(f).read_bytes() for f in files] == images
    vectors = np.load(out)
    assert vectors.shape[0] == 10 and np.isfinite(vectors).all()
    assert json.loads((tmp_path / "feats.errors.json").read_text()) == {}
    for dicomdir in (tmp_path / "export" / "DICOMDIR", tmp_path / "export" / "sub" / "INDEX"):
        assert f"medembed: skipped {dicomdir}: a DICOMDIR (the index of a DICOM media set, not an image)" \
            in completed.stderr


def hygiene_folder(root: Path) -> list[bytes]:
    """An ImageFolder (3 + 3 PNGs) with what real folders carry; returns the images' bytes in order."""
    images = []
    for label in ("benign", "malignant"):
        folder = root / label
        (folder / ".ipynb_checkpoints").mkdir(parents=True)
        for i in range(3):
            data = encode(random_image(10 * len(images) + i))
            (folder / f"{label}_{i}.png").write_bytes(data)
            images.append(data)
            # macOS AppleDouble: a header of its own, not a PNG (RFC 1740 AppleDouble magic 0x00051607)
            (folder / f"._{label}_{i}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(4000))
            (folder / ".ipynb_checkpoints" / f"{label}_{i}-checkpoint.png").write_bytes(data)
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
        (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
        (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")
        (folder / "notes.txt").write_text("scanned 2021\n")
    (root / "__MACOSX" / "benign").mkdir(parents=True)
    (root / "__MACOSX" / "benign" / "._benign_0.png").write_bytes(encode(random_image(99)))
    return images


def test_hidden_and_system_files_are_never_samples(tiny_server, tmp_path):
    images = hygiene_folder(tmp_path / "data")
    out = tmp_path / "feats.npy"
    completed = medembed("--target", tiny_server.target, "embed", str(tmp_path / "data"), "--model", "tiny-timm",
                         "--out", str(out), "--quiet")
    assert completed.returncode == 0, completed.stderr
    files = (tmp_path / "feats.files.txt").read_text().splitlines()
    assert [Path(f).read_bytes() for f in files] == images
    assert np.load(out).shape[0] == 6
    assert f"medembed: {tmp_path / 'data'}: left out 15 hidden or system file(s) or folder(s)" in completed.stderr
    assert "2 file(s) that are neither images nor volumes (benign/notes.txt, malignant/notes.txt)" in completed.stderr


@pytest.mark.skipif(sys.platform == "darwin", reason="APFS refuses file names that are not UTF-8")
def test_names_that_are_not_utf8_are_embedded_and_listed(tiny_server, tmp_path):
    folder = tmp_path / "latin1"
    folder.mkdir()
    names = [b"caf\xe9.png", b"ok.png", b"r\xe9sum\xe9"]  # Latin-1 bytes; the last is a DICOM without suffix
    contents = [encode(random_image(1)), encode(random_image(2)), dicom_bytes(np.arange(64).reshape(8, 8))]
    for name, data in zip(names, contents, strict=True):
        with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
            handle.write(data)
    out = tmp_path / "feats.npy"
    completed = medembed("--target", tiny_server.target, "embed", str(folder), "--model", "tiny-timm",
                         "--out", str(out), "--quiet")
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    listed = (tmp_path / "feats.files.txt").read_bytes().splitlines()
    assert [os.path.basename(line) for line in listed] == sorted(names)
    assert [Path(os.fsdecode(line)).read_bytes() for line in listed] == [
        contents[names.index(name)] for name in sorted(names)]
    assert np.isfinite(np.load(out)).all() and np.load(out).shape[0] == 3
    assert json.loads((tmp_path / "feats.errors.json").read_text()) == {}
    assert json.loads((tmp_path / "feats.provenance.json").read_text())["model_id"] == "tiny-timm"


def test_a_damaged_file_with_an_image_suffix_stays_a_sample_and_fails_alone(tiny_server, tmp_path):
    folder = tmp_path / "lfs"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(random_image(3)))
    (folder / "b.png").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n")
    completed = medembed("--target", tiny_server.target, "embed", str(folder), "--model", "tiny-timm",
                         "--out", str(tmp_path / "feats.npy"), "--quiet")
    assert completed.returncode == 1, completed.stderr
    errors = json.loads((tmp_path / "feats.errors.json").read_text())
    assert list(errors) == [str(folder / "b.png")]
