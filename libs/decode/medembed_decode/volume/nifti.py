"""NIfTI-1 and NIfTI-2 single-file volumes (.nii, .nii.gz) read with nibabel from bytes.

Known by content: the header's magic ("n+1" at byte 344 for NIfTI-1, "n+2" at byte 4 for NIfTI-2: the NIfTI-1 and
NIfTI-2 header definitions, nifti1.h / nifti2.h, https://nifti.nimh.nih.gov), gzip inflated first under
`max_volume_bytes`. Values are nibabel's (scl_slope / scl_inter applied by its array proxy); the
orientation is nibabel's best affine (sform, else qform). A 4-D file yields its first volume (noted).
cal_min / cal_max, when set (cal_max > cal_min), are the file's own display range ("display
intensities <= cal_min black, >= cal_max white", nifti1.h), as a DICOM window is.

A CIFTI-2 file (.dconn.nii, .dtseries.nii, .dscalar.nii ...) is a NIfTI-2 container whose values
are a matrix over brainordinates (surface vertices and voxels), not an image in voxel space: it is
UNSUPPORTED_FORMAT naming it. Known as nibabel knows it: intent code 3000-3099 (the CIFTI-2
standard's NIFTI_INTENT_CONNECTIVITY_* codes, nibabel.cifti2) or a CIFTI extension (ecode 32).
"""

from __future__ import annotations

import struct

import nibabel
import numpy as np

from ..limits import DecodeError, DecodeErrorKind, DecodeLimits
from ..pixels import library_message
from .containers import GZIP_MAGIC, inflate, inflate_head
from .limits import check_volume
from .planes import Plane

# CIFTI-2 intent code -> what the file holds and its file name ending (CIFTI-2 standard, appendix A).
_CIFTI_KINDS = {3001: "dense connectivity (.dconn.nii)", 3002: "dense data series (.dtseries.nii)",
                3003: "parcellated connectivity (.pconn.nii)", 3004: "parcellated data series (.ptseries.nii)",
                3006: "dense scalar (.dscalar.nii)", 3007: "dense label (.dlabel.nii)",
                3008: "parcellated scalar (.pscalar.nii)", 3009: "parcellated-dense connectivity (.pdconn.nii)",
                3010: "dense-parcellated connectivity (.dpconn.nii)"}
_CIFTI_EXTENSION = 32
_PAIR_HEADER = "a NIfTI header of a .hdr/.img pair (magic {magic!r}) holds no voxels: send the single-file .nii"


def nifti_magic(head: bytes) -> str | None:
    """"n+1" / "ni1" (NIfTI-1) or "n+2" / "ni2" (NIfTI-2) when `head` (uncompressed, at least 548
    bytes for NIfTI-2) starts a NIfTI header, in either byte order; else None."""
    if len(head) >= 348 and head[344:348] in (b"n+1\0", b"ni1\0") and _sizeof_hdr(head) == 348:
        return head[344:347].decode()
    if len(head) >= 12 and head[4:12] in (b"n+2\0\r\n\x1a\n", b"ni2\0\r\n\x1a\n") and _sizeof_hdr(head) == 540:
        return head[4:7].decode()
    return None


def _sizeof_hdr(head: bytes) -> int:
    little, big = struct.unpack_from("<i", head)[0], struct.unpack_from(">i", head)[0]
    return little if little in (348, 540) else big


def is_nifti(data: bytes) -> bool:
    """A NIfTI-1/-2 file, raw or gzip-compressed (only its head is inflated to tell)."""
    head = inflate_head(data, 1024) if data[:2] == GZIP_MAGIC else data[:1024]
    return nifti_magic(head) is not None


class NiftiVolume:
    """A NIfTI volume read plane by plane through nibabel's array proxy (see `planes.Volume`)."""

    kind = "NIfTI volume"
    stack_axis = 2

    def __init__(self, data: bytes, limits: DecodeLimits, notes: list[str]) -> None:
        """Read the header of raw or gzipped NIfTI `data` and check it against `limits` (TOO_LARGE)
        and the data's length (DECODE_ERROR when truncated), before any voxel is read."""
        if data[:2] == GZIP_MAGIC:
            data = inflate(data, limits.max_volume_bytes, "the gzip-compressed NIfTI")
        magic = nifti_magic(data)
        if magic in ("ni1", "ni2"):
            raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT, _PAIR_HEADER.format(magic=magic))
        image_class = nibabel.Nifti2Image if magic == "n+2" else nibabel.Nifti1Image
        try:
            image = image_class.from_bytes(data)
        except Exception as exc:  # nibabel raises several types for malformed headers
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"cannot read the NIfTI header: {library_message(exc)}") from None
        header = image.header
        _refuse_cifti(header)
        dims = tuple(int(side) for side in image.shape)
        if not dims or min(dims) < 1:
            raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"NIfTI volume of shape {dims} holds no voxels")
        dtype = header.get_data_dtype()
        if dtype.kind not in "uif":
            raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                              f"NIfTI voxels of type {dtype} (NIfTI datatype {int(header['datatype'])}) are not "
                              "read: only gray (integer or float) volumes")
        self.shape: tuple[int, int, int] = (dims + (1, 1))[:3]  # type: ignore[assignment]
        check_volume(self.kind, self.shape, self.shape[2], limits)
        needed = int(image.dataobj.offset) + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        if len(data) < needed:
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"truncated NIfTI volume: its header needs {needed} bytes, the file has {len(data)}")
        if len(dims) > 3 and int(np.prod(dims[3:])) > 1:
            notes.append(f"{len(dims)}-D NIfTI of shape {'x'.join(map(str, dims))}: its first 3-D volume is read")
        if header.get_sform(coded=True)[1] == 0 and header.get_qform(coded=True)[1] == 0:
            notes.append("NIfTI without sform or qform (both codes 0): orientation taken from nibabel's default "
                         "affine (the voxel sizes, x flipped)")
        self.affine = np.asarray(image.affine, dtype=np.float64)
        self._image = image
        self._extra = (0,) * max(len(dims) - 3, 0)
        low, high = float(header["cal_min"]), float(header["cal_max"])
        self._own_range = (low, high) if np.isfinite([low, high]).all() and high > low else None

    def plane(self, axis: int, index: int, notes: list[str]) -> Plane:
        """The slice at `index` along array `axis` as float64 values (scl_slope / scl_inter applied)."""
        where: list[int | slice] = [slice(None)] * 3
        where[axis] = index
        ndim = len(self._image.shape)
        key = tuple(where[:ndim]) + self._extra
        try:
            values = np.asarray(self._image.dataobj[key], dtype=np.float64)
        except Exception as exc:
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"cannot read the NIfTI voxels: {library_message(exc)}") from None
        return Plane(values.reshape([side for i, side in enumerate(self.shape) if i != axis]),
                     own_range=self._own_range)


def _refuse_cifti(header: nibabel.Nifti1Header) -> None:
    """UNSUPPORTED_FORMAT for a CIFTI-2 file, naming its kind (module docstring)."""
    code = int(header["intent_code"])
    if not (3000 <= code < 3100 or any(ext.get_code() == _CIFTI_EXTENSION for ext in header.extensions)):
        return
    kind = _CIFTI_KINDS.get(code, f"intent code {code}")
    raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                      f"a CIFTI-2 {kind} file: a matrix over brainordinates (surface vertices and voxels) in a "
                      "NIfTI-2 container, not an image in voxel space; export its volume part as a NIfTI first "
                      "(Connectome Workbench: wb_command -cifti-separate ... -volume-all OUT.nii) and send that")


def read_nifti(data: bytes, limits: DecodeLimits, notes: list[str]) -> NiftiVolume:
    """The NIfTI volume in `data` (raw or gzip), headers checked; see NiftiVolume."""
    return NiftiVolume(data, limits, notes)
