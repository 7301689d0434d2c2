"""A DICOM series sent as one item: a zip or tar (optionally gzipped) of the files of one
SeriesInstanceUID, stacked by position along the slice normal (never by file name).

Members that are not DICOM (README, AppleDouble `._*` files, thumbnails), DICOMDIR and DICOM
objects without pixels (structured reports, presentation states) are skipped and counted in a
note. Files of several series in one archive are DECODE_ERROR naming the UIDs. A multi-frame file
in the archive contributes each of its frames.
"""

from __future__ import annotations

import io
import posixpath

import pydicom
from pydicom.dataset import Dataset

from ..dicom import frame_count, read_dataset
from ..limits import DecodeError, DecodeErrorKind, DecodeLimits
from ..sniff import sniff_format
from .containers import archive_members
from .dicomvol import DicomVolume, FrameRef
from .geometry import frame_geometry
from .limits import check_volume

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (PS3.10)
# (7FE0,0010) Pixel Data, (7FE0,0008) Float and (7FE0,0009) Double Float Pixel Data, little endian;
# Pixel Data big endian (the retired Explicit VR Big Endian syntax)
_PIXEL_TAGS = (b"\xe0\x7f\x10\x00", b"\xe0\x7f\x08\x00", b"\xe0\x7f\x09\x00", b"\x7f\xe0\x00\x10")


def read_series(data: bytes, limits: DecodeLimits, notes: list[str]) -> DicomVolume:
    """The DICOM series in the archive `data`, headers read and checked (limits, one series, one
    frame size), frames ordered; no pixel decoded yet. DECODE_ERROR when it holds no DICOM image."""
    frames: list[tuple[int, str, FrameRef]] = []
    skipped: list[str] = []
    series: dict[str, str] = {}
    size: tuple[int, int] | None = None
    files, members = archive_members(data, limits)
    for name, member in members:
        dataset = _image_dataset(name, member, limits)
        if dataset is None:
            skipped.append(posixpath.basename(name) or name)
            continue
        uid = str(dataset.get("SeriesInstanceUID", "") or "")
        series.setdefault(uid, name)
        shape = (int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0))
        if size is not None and shape != size:
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"{name} is {shape[1]}x{shape[0]} while other files of the series are "
                              f"{size[1]}x{size[0]}: not one volume")
        size = shape
        count = frame_count(dataset)
        if len(frames) + count > limits.max_volume_slices:  # stop reading headers: the archive is too deep
            raise DecodeError(DecodeErrorKind.TOO_LARGE,
                              f"DICOM series of more than {limits.max_volume_slices} slices (the archive holds "
                              f"{files} files) is over max_volume_slices = {limits.max_volume_slices}")
        check_volume("DICOM series", (shape[0], shape[1], len(frames) + count), len(frames) + count, limits)
        instance = _instance_number(dataset)
        for index in range(count):
            label = name if count == 1 else f"{name} frame {index + 1}"
            frames.append((instance, name, FrameRef(dataset, index, frame_geometry(dataset, index), label)))
    if len(series) > 1:
        listed = "; ".join(f"{uid or '(no SeriesInstanceUID)'} ({name})" for uid, name in series.items())
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"the archive holds {len(series)} series: {listed}; send one series per item")
    if not frames or size is None:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"the archive holds no DICOM image ({len(skipped)} other file(s)): a DICOM series is "
                          "sent as a zip or tar of its .dcm files")
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        notes.append(f"{len(skipped)} archive member(s) that are not DICOM images skipped: {shown}")
    frames.sort(key=lambda entry: (entry[0], entry[1]))  # Instance Number: the order when positions are missing
    return DicomVolume("DICOM series", [ref for _, _, ref in frames], size[0], size[1], limits, notes)


def _image_dataset(name: str, member: bytes, limits: DecodeLimits) -> Dataset | None:
    """The member's data set when it is a DICOM image; None for anything to skip; DecodeError
    naming the member for a DICOM image that cannot be read."""
    if sniff_format(member) != "DICOM":
        return None
    if not any(tag in member for tag in _PIXEL_TAGS) or _is_dicomdir(member):
        return None
    try:
        return read_dataset(member, limits)
    except DecodeError as exc:
        raise DecodeError(exc.kind, f"{name}: {exc}") from None


def _is_dicomdir(member: bytes) -> bool:
    if _DICOMDIR_CLASS.encode() not in member[:2048]:  # its file meta names the class near the start
        return False
    try:
        meta = pydicom.dcmread(io.BytesIO(member), stop_before_pixels=True, force=True,
                               specific_tags=["MediaStorageSOPClassUID", "SOPClassUID"])
    except Exception:  # read_dataset will say what is wrong with it
        return False
    classes = {str(meta.file_meta.get("MediaStorageSOPClassUID", "")) if meta.file_meta else "",
               str(meta.get("SOPClassUID", ""))}
    return _DICOMDIR_CLASS in classes


def _instance_number(dataset: Dataset) -> int:
    try:
        return int(dataset.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0
