"""Which format an item is, from its bytes (never from a file name), and what the others are."""

from __future__ import annotations

import struct
import zlib

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)
_READ = "send PNG, JPEG, TIFF, BMP, WEBP or DICOM"
# Formats people send that we do not read, named in the error so the next step is clear.
_KNOWN_OTHERS = (
    (b"GIF8", "GIF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000 codestream"),
    (b"%PDF", "PDF"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"NRRD000", "an NRRD volume"),
    (b"ObjectType = Image", "a MetaImage volume (.mha)"),
    (b"TRACK\x00", "a TrackVis tractography file (.trk: streamlines, not an image)"),
    (b"mrtrix tracks", "an MRtrix tractography file (.tck: streamlines, not an image)"),
)
# Neuroimaging volumes in formats other than NIfTI (the ones nibabel reads), named with the next step.
_OTHER_VOLUMES = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a MINC-2 volume, .mnc?)"),
    (b"CDF\x01", "a netCDF file (a MINC-1 volume, .mnc?)"),
    (b"CDF\x02", "a netCDF file (a MINC-1 volume, .mnc?)"),
    (b"MATRIX7", "an ECAT 7 PET volume (.v)"),
    (b"# === DATA DESCRIPTION FILE", "a Philips PAR header (.PAR; its voxels are in the .REC file)"),
    (b"\ntype = ", "an AFNI header (.HEAD; its voxels are in the .BRIK file)"),
)
_TO_NIFTI = "convert it to a single-file NIfTI (.nii, .nii.gz; nibabel reads it) and send that"
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}
_HTML = (b"<!doctype html", b"<html", b"<?xml")
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"
_GZIP, _ZIP = b"\x1f\x8b", (b"PK\x03\x04", b"PK\x05\x06")
# Groups a bare DICOM data set (no preamble, no "DICM") starts with: file meta or identifying elements.
_BARE_DICOM_GROUPS = (0x0002, 0x0008)
_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split())
_PEEK = 1024  # bytes of a gzip stream inflated to say what it holds


def sniff_format(data: bytes) -> str | None:
    """PNG, JPEG, TIFF (BigTIFF included), BMP, WEBP or DICOM by magic bytes; None for anything else.

    DICOM: "DICM" after the 128-byte preamble wins over anything the preamble holds (a TIFF header
    in a "dual-personality" file, PS3.10 7.5), then "DICM" at offset 0 (preamble stripped), or a
    bare data set whose first element is in group 0002 or 0008.
    """
    if data[128:132] == b"DICM":
        return "DICOM"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] == b"DICM" or _bare_dicom(data):
        return "DICOM"
    return None


def is_bigtiff(data: bytes) -> bool:
    """True for BigTIFF's header (version 43 in place of TIFF's 42)."""
    return data[:4] in (b"II+\x00", b"MM\x00+")


def _bare_dicom(data: bytes) -> bool:
    if len(data) < 12:
        return False
    group, _element = struct.unpack_from("<HH", data)
    if group not in _BARE_DICOM_GROUPS:  # explicit VR big endian, the other byte order
        return struct.unpack_from(">H", data)[0] in _BARE_DICOM_GROUPS and data[4:6] in _EXPLICIT_VRS
    if data[4:6] in _EXPLICIT_VRS:
        return True
    (implicit_length,) = struct.unpack_from("<I", data, 4)
    return implicit_length <= len(data) - 8


def nifti_version(data: bytes) -> int:
    """1 or 2 for a NIfTI-1 / NIfTI-2 header (sizeof_hdr 348 / 540 in either byte order and the
    magic "n+1"/"ni1" at byte 344, "n+2"/"ni2" at byte 4), else 0."""
    if len(data) >= 348 and data[344:347] in (b"n+1", b"ni1") and (
            struct.unpack_from("<i", data)[0] == 348 or struct.unpack_from(">i", data)[0] == 348):
        return 1
    if len(data) >= 12 and data[4:7] in (b"n+2", b"ni2") and (
            struct.unpack_from("<i", data)[0] == 540 or struct.unpack_from(">i", data)[0] == 540):
        return 2
    return 0


def _is_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar"


def _gunzip_head(data: bytes) -> bytes:
    """The first inflated bytes of a gzip stream (at most _PEEK); b"" when it cannot be inflated."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, _PEEK)
    except zlib.error:
        return b""


def describe_unknown(data: bytes) -> str:
    """The unsupported-format message: what the bytes are, and the next step."""
    if data.startswith(_LFS_POINTER):
        return ("a Git LFS pointer file, not the image it stands for: fetch the real file "
                "(`git lfs pull` in its repository) and send that")
    volume = _describe_volume(data)
    if volume:
        return volume
    volume = _describe_other_volume(data)
    if volume:
        return volume
    if data.startswith(_GZIP):
        inner = _gunzip_head(data)
        volume = _describe_volume(inner, compressed=True) or _describe_other_volume(inner, compressed=True)
        if volume:
            return volume
        if _is_tar(inner):
            return f"a gzip-compressed tar archive is not an image: unpack it and {_READ} files"
        inner_format = sniff_format(inner)
        if inner_format:
            return f"a gzip-compressed {inner_format} file: decompress it and send the {inner_format} file"
        return f"gzip-compressed data is not an image: decompress it and {_READ}"
    if data.startswith(_ZIP):
        return f"a ZIP archive is not an image: unpack it and {_READ} files"
    if _is_tar(data):
        return f"a tar archive is not an image: unpack it and {_READ} files"
    for magic, name in _KNOWN_OTHERS:
        if data.startswith(magic):
            return f"{name} is not read; {_READ}"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return f"{_HEIF_BRANDS[data[8:12]]} is not read; {_READ}"
    if data.lstrip()[:14].lower().startswith(_HTML):
        return ("an HTML or XML page, not an image (a download that returned a web page, such as a "
                f"login or error page?); {_READ}")
    shown = data[:8].hex(" ")
    return f"not a PNG, JPEG, TIFF, BMP, WEBP or DICOM file (first bytes: {shown})"


def _describe_other_volume(data: bytes, compressed: bool = False) -> str:
    """The message for a neuroimaging volume in a format other than NIfTI, else "". DICM at byte
    128 wins here too (nibabel's siemens_dwi_*.dcm carry sizeof_hdr 348 in their preamble)."""
    if data[128:132] == b"DICM":
        return ""
    name = next((name for magic, name in _OTHER_VOLUMES if data.startswith(magic)), "")
    if _analyze_header(data):
        name = "an ANALYZE 7.5 header (.hdr; its voxels are in the .img file)"
    elif _mgh_header(data):
        name = f"an MGH volume ({'.mgz' if compressed else '.mgh'}, FreeSurfer)"
    return f"{name} is not read: {_TO_NIFTI}" if name else ""


def _mgh_header(data: bytes) -> bool:
    """FreeSurfer's MGH header (big-endian): version 1, four positive dimensions, a voxel type of
    0, 1, 3 or 4 (uchar, int, float, short), as nibabel.freesurfer.mghformat reads it."""
    if len(data) < 284 or data[:4] != b"\x00\x00\x00\x01":
        return False
    dims = struct.unpack_from(">4i", data, 4)
    return min(dims) > 0 and struct.unpack_from(">i", data, 20)[0] in (0, 1, 3, 4)


def _analyze_header(data: bytes) -> bool:
    """An ANALYZE 7.5 header: NIfTI-1's layout without its magic (sizeof_hdr 348 in either byte
    order: the Mayo Clinic ANALYZE 7.5 format, as nibabel.analyze reads it)."""
    return (len(data) >= 348 and not nifti_version(data)
            and 348 in (struct.unpack_from("<i", data)[0], struct.unpack_from(">i", data)[0]))


def _describe_volume(data: bytes, compressed: bool = False) -> str:
    version = nifti_version(data)
    if not version:
        return ""
    suffix = ".nii.gz" if compressed else ".nii"
    return (f"a NIfTI-{version} volume ({suffix}), not a 2-D image: volumes are read slice by slice "
            "with the volume slice options (slice rule, axis, window)")


