"""A multi-frame DICOM file (Enhanced CT / MR, legacy-converted, XA or US cine) read as a volume.

Frames are ordered by their per-frame Plane Position along the slice normal when every frame has
one (Enhanced CT / MR); otherwise they stay in stored order and the volume has no orientation
(only the stored frame axis can be sliced). Rescale and VOI per frame come from the functional
groups through the 2-D decode's `dicom_frame`.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from ..dicom import frame_count, read_dataset
from ..limits import DecodeError, DecodeErrorKind, DecodeLimits
from .dicomvol import DicomVolume, FrameRef
from .geometry import frame_geometry

KIND = "multi-frame DICOM"


def read_multiframe(data: bytes, limits: DecodeLimits, notes: list[str], dataset: Dataset | None = None) -> DicomVolume:
    """The frames of the DICOM file `data` as a volume; header checked against `limits` first.
    `dataset`: `data` as `read_dataset` already read it (an Enhanced header of hundreds of
    functional group items takes a second to parse), else it is read here."""
    dataset = read_dataset(data, limits) if dataset is None else dataset
    count = frame_count(dataset)
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    if not rows or not columns:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, "DICOM header lacks (0028,0010) Rows or (0028,0011) Columns")
    frames = [FrameRef(dataset, index, frame_geometry(dataset, index), f"frame {index + 1}") for index in range(count)]
    # Several stacks or time points in one file (cardiac phases, diffusion directions) keep their
    # stored order, said so, rather than refusing the file.
    return DicomVolume(KIND, frames, rows, columns, limits, notes, shared_positions_ok=True)
