"""Which volume an item is, from its bytes (never its file name): for decode_slices, the encoder's
messages and the folder scanners of the client and the evaluator."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pydicom

from ..sniff import sniff_format
from .containers import GZIP_MAGIC, ZIP_MAGIC, inflate_head, is_tar
from .nifti import nifti_magic

NIFTI = "NIfTI"
SERIES = "DICOM series archive"
MULTIFRAME = "multi-frame DICOM"
_LOOKED_AT_MEMBERS = 64
_TAR_HEAD_BYTES = 4 << 20


def container(data: bytes) -> str | None:
    """"NIfTI", "archive" (zip, tar, gzipped tar), "DICOM" or None (a 2-D raster, or unknown), by
    the first bytes only."""
    if data[:2] == GZIP_MAGIC:
        head = inflate_head(data, 1024)
        if nifti_magic(head):
            return "NIfTI"
        return "archive" if is_tar(head) else None
    if nifti_magic(data[:1024]):
        return "NIfTI"
    if data[:4] in ZIP_MAGIC or is_tar(data):
        return "archive"
    return "DICOM" if sniff_format(data) == "DICOM" else None


def volume_kind(data: bytes) -> str | None:
    """"NIfTI", "DICOM series archive" (a zip or tar, optionally gzipped, with a DICOM file among its
    first 64 members), "multi-frame DICOM" (Number of Frames > 1), or None: a 2-D item, or not a
    volume this package reads. Cheap: reads headers and at most 4 MiB of a gzipped tar, decodes no pixel."""
    kind = container(data)
    if kind == "NIfTI":
        return NIFTI
    if kind == "archive":
        return SERIES if _holds_dicom(data) else None
    if kind == "DICOM":
        return MULTIFRAME if dicom_frames(data) > 1 else None
    return None


def dicom_frames(data: bytes) -> int:
    """Number of Frames read from the DICOM header (no pixel decoded); 1 when absent or unreadable."""
    stream = bytes(128) + data if data[:4] == b"DICM" else data
    try:
        header = pydicom.dcmread(io.BytesIO(stream), stop_before_pixels=True, force=True,
                                 specific_tags=["NumberOfFrames"])
        return max(int(header.get("NumberOfFrames", 1) or 1), 1)
    except Exception:  # the decode says what is wrong with a damaged header
        return 1


def _holds_dicom(data: bytes) -> bool:
    try:
        if data[:4] in ZIP_MAGIC:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in [info for info in archive.infolist() if not info.is_dir()][:_LOOKED_AT_MEMBERS]:
                    with archive.open(info) as member:
                        if sniff_format(member.read(132)) == "DICOM":
                            return True
            return False
        raw = inflate_head(data, _TAR_HEAD_BYTES) if data[:2] == GZIP_MAGIC else data
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as archive:
            for seen, info in enumerate(archive):
                if seen >= _LOOKED_AT_MEMBERS:
                    break
                member = archive.extractfile(info) if info.isfile() else None
                if member is not None and sniff_format(member.read(132)) == "DICOM":
                    return True
    except Exception:  # damaged or cut at the head limit: what was seen decides
        return False
    return False
