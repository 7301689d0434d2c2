"""Which files of a folder are samples: files are known by their first bytes, hidden files never count.

One rule for `medembed embed DIR` and the evaluator's folder datasets (it imports this module):

- A file is a sample when its first bytes say it is an image the encoder reads (PNG, JPEG, TIFF and
  BigTIFF, BMP, WEBP, DICOM with or without its 128-byte preamble, or a bare DICOM data set) or a
  volume (NIfTI-1/2 in one file, raw or gzip-compressed), whatever its name or suffix: a PACS export's
  `IM000004` is a DICOM image. A file that carries an image suffix (IMAGE_SUFFIXES, `.nii`,
  `.nii.gz`) is a sample too whatever it holds, so a damaged image or a Git LFS pointer left where an
  image should be comes back as an item error that the server names, never dropped without a word.
- A DICOMDIR (a file named DICOMDIR, or DICOM whose Media Storage SOP Class is the Media Storage
  Directory Storage class 1.2.840.10008.1.3.10, DICOM PS3.10 §7.2 / PS3.3 F.2) is the index of a
  DICOM media set, not an image: it is skipped and named (FolderFiles.skipped).
- Hidden and system files are never samples, whether the file itself or any folder it sits in is
  hidden: names starting with "." (macOS `._*` AppleDouble files, `.DS_Store`, Jupyter's
  `.ipynb_checkpoints/`, `.git/`), `__MACOSX/` (the resource forks macOS zips carry), `Thumbs.db`
  and `desktop.ini` (Windows Explorer's thumbnail cache and folder settings); see is_hidden.

This is a light pre-filter, on purpose free of decoders (the client does not depend on
medembed-decode): the encoder's own sniff (medembed_decode.sniff) is authoritative and decides how an
item is read; a file this filter takes that the encoder cannot read comes back as an item error.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from .inputs import IMAGE_SUFFIXES

VOLUME_SUFFIXES = (".nii", ".nii.gz")
"""Suffixes of NIfTI volumes, which count as samples like IMAGE_SUFFIXES (matched case-insensitively)."""
SYSTEM_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini"})
"""File and folder names (compared case-folded) that operating systems leave in folders; never samples."""
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
"""Media Storage Directory Storage (DICOM PS3.4 Annex B / PS3.6): the SOP Class of a DICOMDIR."""
HEAD_BYTES = 8192
"""Bytes read from a file to know it: enough for any format's magic and a DICOM file meta group."""

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
)
# DIB header sizes Pillow's BmpImagePlugin reads (BITMAPCOREHEADER 12 ... BITMAPV5HEADER 124): "BM" alone
# is two bytes, too weak a mark to take a file for an image by.
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
# A bare DICOM data set (no preamble, no "DICM") starts with an element of group 0002 or 0008, as
# medembed_decode.sniff reads it.
_BARE_DICOM_GROUPS = (0x0002, 0x0008)
_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split())
# Explicit VR elements whose length is 4 bytes after 2 reserved ones (DICOM PS3.5 §7.1.2).
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_NIFTI1_HEADER, _NIFTI2_HEADER = 348, 540  # sizeof_hdr of NIfTI-1 and NIfTI-2, at byte 0


@dataclass(frozen=True)
class Skipped:
    """A file a folder holds that is not a sample, and why (a sentence naming what it is)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FolderFiles:
    """What a folder holds, by the rule of this module.

    samples: the sample files, sorted by path relative to the folder (stable order and keys);
    skipped: files left out that are worth naming (a DICOMDIR); hidden: how many hidden or system
    files and folders were left out (a hidden folder counts once, its files are not looked at);
    other: files left out because they are neither images nor volumes (notes.txt, a CSV), sorted.
    """

    samples: tuple[Path, ...]
    skipped: tuple[Skipped, ...] = ()
    hidden: int = 0
    other: tuple[Path, ...] = ()

    def summary(self, folder: Path) -> str:
        """One line on what was left out of `folder` (hidden, system and non-image files); "" when nothing."""
        parts = []
        if self.hidden:
            parts.append(f"{self.hidden} hidden or system file(s) or folder(s) (names starting with '.', "
                         "__MACOSX, Thumbs.db, desktop.ini)")
        if self.other:
            shown = ", ".join(p.relative_to(folder).as_posix() for p in self.other[:3])
            more = ", ..." if len(self.other) > 3 else ""
            parts.append(f"{len(self.other)} file(s) that are neither images nor volumes ({shown}{more})")
        return f"left out {' and '.join(parts)}" if parts else ""


def is_hidden_name(name: str) -> bool:
    """Whether one file or folder name is hidden or a system file: starts with "." or is one of SYSTEM_NAMES."""
    return name.startswith(".") or name.casefold() in SYSTEM_NAMES


def is_hidden(path: Path, root: Path | None = None) -> bool:
    """Whether `path` is hidden or sits in a hidden folder (below `root` when given: the folder the
    user named may itself be anything). `benign/.ipynb_checkpoints/a.png`, `x/._a.png`,
    `__MACOSX/a.png` and `Thumbs.db` are hidden."""
    parts = path.relative_to(root).parts if root is not None else path.parts
    return any(is_hidden_name(part) for part in parts)


def has_sample_suffix(name: str) -> bool:
    """Whether a file name ends in an image or volume suffix (IMAGE_SUFFIXES, .nii, .nii.gz), any case."""
    lower = name.lower()
    return Path(lower).suffix in IMAGE_SUFFIXES or lower.endswith(VOLUME_SUFFIXES)


def sniff_head(head: bytes) -> str | None:
    """The format the first bytes of a file say it is: "PNG", "JPEG", "TIFF", "BigTIFF", "BMP", "WEBP",
    "DICOM", "DICOMDIR", "NIfTI-1", "NIfTI-2" (NIfTI compressed with gzip too); None for anything else.

    `head` is the file's first bytes (HEAD_BYTES of them, or the whole file when shorter). A
    pre-filter: medembed_decode.sniff, on the server, is authoritative.
    """
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return name
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack_from("<I", head, 14)[0] in _BMP_HEADER_SIZES:
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[128:132] == b"DICM" or head[:4] == b"DICM" or _bare_dicom(head):
        return "DICOMDIR" if media_storage_sop_class(head) == DICOMDIR_SOP_CLASS else "DICOM"
    if head[:2] == b"\x1f\x8b":
        return _nifti(_gunzip_head(head))
    return _nifti(head)


def sniff_file(path: Path) -> str | None:
    """sniff_head of the file's first HEAD_BYTES, and "DICOMDIR" for a file named DICOMDIR (any case)
    whatever it holds. Raises OSError when the file cannot be read."""
    if path.name.upper() == "DICOMDIR":
        return "DICOMDIR"
    with path.open("rb") as handle:
        return sniff_head(handle.read(HEAD_BYTES))


def media_storage_sop_class(head: bytes) -> str | None:
    """The Media Storage SOP Class UID (0002,0002) of a DICOM file's meta group, None when the first
    bytes hold none. The meta group is always explicit VR little endian (DICOM PS3.10 §7.1)."""
    offset = 132 if head[128:132] == b"DICM" else 4 if head[:4] == b"DICM" else 0
    while offset + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, offset)
        if group != 0x0002:
            return None
        vr = head[offset + 4:offset + 6]
        if vr in _LONG_VRS:
            if offset + 12 > len(head):
                return None
            (length,) = struct.unpack_from("<I", head, offset + 8)
            start = offset + 12
        else:
            (length,) = struct.unpack_from("<H", head, offset + 6)
            start = offset + 8
        if length == 0xFFFFFFFF:
            return None
        if element == 0x0002:
            return head[start:start + length].decode("ascii", "replace").rstrip("\x00 ")
        offset = start + length
    return None


def folder_files(folder: Path) -> FolderFiles:
    """Every file under `folder` (sub-folders too, hidden ones never entered), sorted into samples,
    named skips, hidden files and other files by the rule in this module's docstring.

    Symbolic links to folders are not followed. A file that cannot be read is a sample: reading it
    for embedding names the problem.
    """
    samples: list[Path] = []
    skipped: list[Skipped] = []
    other: list[Path] = []
    hidden = 0
    for current, dirs, names in os.walk(folder):
        base = Path(current)
        kept = [d for d in dirs if not is_hidden_name(d)]
        hidden += len(dirs) - len(kept)
        dirs[:] = kept
        for name in names:
            path = base / name
            if is_hidden_name(name):
                hidden += 1
            elif not path.is_file():
                continue
            elif (kind := _kind(path)) == "DICOMDIR":
                skipped.append(Skipped(path, "a DICOMDIR (the index of a DICOM media set, not an image); the "
                                             "images it lists are taken from their own files"))
            elif kind is not None or has_sample_suffix(name):
                samples.append(path)
            else:
                other.append(path)

    def order(path: Path) -> str:
        return path.relative_to(folder).as_posix()

    return FolderFiles(tuple(sorted(samples, key=order)), tuple(sorted(skipped, key=lambda s: order(s.path))),
                       hidden, tuple(sorted(other, key=order)))


def _kind(path: Path) -> str | None:
    """sniff_file, skipping the read for files whose suffix already makes them samples (only `.dcm`,
    which may be a DICOMDIR, is read among those); "unreadable" when the file cannot be read."""
    lower = path.name.lower()
    if path.name.upper() != "DICOMDIR" and has_sample_suffix(lower) and not lower.endswith(".dcm"):
        return "suffix"
    try:
        return sniff_file(path)
    except OSError:
        return "unreadable"


def _bare_dicom(head: bytes) -> bool:
    if len(head) < 12:
        return False
    group, _element = struct.unpack_from("<HH", head)
    if group not in _BARE_DICOM_GROUPS:
        return False
    if head[4:6] in _EXPLICIT_VRS:
        return True
    implicit_length: int = struct.unpack_from("<I", head, 4)[0]
    return implicit_length <= len(head) - 8


def _gunzip_head(head: bytes) -> bytes:
    """The first bytes of a gzip stream's content (up to a NIfTI-2 header's 544), b"" when not inflatable."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _NIFTI2_HEADER + 4)
    except zlib.error:
        return b""


def _nifti(head: bytes) -> str | None:
    """NIfTI-1 ("n+1" at byte 344) or NIfTI-2 ("n+2" at byte 4) single-file headers, either byte order
    (the NIfTI-1 and NIfTI-2 header layouts, nifti.nimh.nih.gov). A header alone ("ni1", the .hdr of
    a .hdr/.img pair) holds no image: not a sample."""
    if len(head) < 8:
        return None
    sizes = {struct.unpack_from(order, head)[0] for order in ("<i", ">i")}
    if _NIFTI1_HEADER in sizes and head[344:348] == b"n+1\x00":
        return "NIfTI-1"
    if _NIFTI2_HEADER in sizes and head[4:12] == b"n+2\x00\r\n\x1a\n":
        return "NIfTI-2"
    return None
