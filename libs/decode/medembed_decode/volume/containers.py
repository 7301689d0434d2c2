"""gzip, zip and tar unpacked under caps: sizes and counts checked before anything is inflated in full.

A decompression bomb (a small item that inflates past `max_volume_bytes`) is TOO_LARGE naming the
cap, never an out-of-memory worker. zip members' declared sizes and count are checked from the
central directory before extraction (zipfile then stops each member at its declared size and checks
its CRC); tar members' sizes are read from their headers while listing.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator

from ..limits import DecodeError, DecodeErrorKind, DecodeLimits
from ..pixels import library_message

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty archive
_CHUNK = 1 << 20


def _too_large(message: str) -> DecodeError:
    return DecodeError(DecodeErrorKind.TOO_LARGE, message)


def inflate(data: bytes, cap: int, what: str = "gzip data") -> bytes:
    """The gzip stream `data` (every member) inflated, at most `cap` bytes.

    Raises TOO_LARGE as soon as the output passes `cap` (naming the cap: a decompression bomb is
    stopped after cap + 1 bytes, not after inflating it all) and DECODE_ERROR for damaged data.
    """
    out = bytearray()
    rest = data
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=31)
            pending = rest
            while pending:
                out += inflater.decompress(pending, cap + 1 - len(out))
                if len(out) > cap:
                    raise _too_large(f"{what} inflates to more than max_volume_bytes = {cap} bytes "
                                     "(a decompression bomb, or a volume to send in parts)")
                pending = inflater.unconsumed_tail
            if not inflater.eof:
                raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"{what} is truncated: the gzip stream ends early")
            rest = inflater.unused_data
            if rest and not rest.startswith(GZIP_MAGIC):  # padding after the last member
                break
    except zlib.error as exc:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"{what} is damaged: {library_message(exc)}") from None
    return bytes(out)


def inflate_head(data: bytes, size: int) -> bytes:
    """The first `size` bytes the gzip stream `data` inflates to (fewer when it is shorter or
    damaged): enough to tell what it holds without inflating it all."""
    try:
        return zlib.decompressobj(wbits=31).decompress(data, size)
    except zlib.error:
        return b""


def is_tar(data: bytes) -> bool:
    """A POSIX (ustar) or GNU tar archive, by the magic at offset 257."""
    return data[257:262] == b"ustar"


def archive_members(data: bytes, limits: DecodeLimits) -> tuple[int, Iterator[tuple[str, bytes]]]:
    """The number of regular files in the zip or tar (optionally gzip-compressed) `data`, and an
    iterator of their (name, bytes), extracted one at a time.

    Before anything is extracted: the member count against `max_archive_members`, and the
    members' declared sizes together against `max_volume_bytes` (TOO_LARGE naming the number and
    the limit); a gzip-compressed tar is inflated under the same byte cap. Damaged archives are
    DECODE_ERROR.
    """
    if data[:4] in ZIP_MAGIC:
        return _zip_members(data, limits)
    if data[:2] == GZIP_MAGIC:
        data = inflate(data, limits.max_volume_bytes, "the gzip-compressed archive")
    if not is_tar(data):
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          "not a zip or tar archive: send a DICOM series as a zip or a tar (optionally gzipped)")
    return _tar_members(data, limits)


def _zip_members(data: bytes, limits: DecodeLimits) -> tuple[int, Iterator[tuple[str, bytes]]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"damaged zip archive: {library_message(exc)}") from None
    _check_count(len(infos), limits)
    _check_total(sum(info.file_size for info in infos), limits)

    def extract() -> Iterator[tuple[str, bytes]]:
        for info in infos:
            try:
                yield info.filename, archive.read(info)
            except NotImplementedError as exc:
                raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                                  f"zip member {info.filename!r}: {library_message(exc)}") from None
            except RuntimeError as exc:  # encrypted
                raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                                  f"zip member {info.filename!r} is encrypted: {library_message(exc)}") from None
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
                raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                                  f"zip member {info.filename!r} is damaged: {library_message(exc)}") from None

    return len(infos), extract()


def _tar_members(data: bytes, limits: DecodeLimits) -> tuple[int, Iterator[tuple[str, bytes]]]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 (read by extract())
        infos: list[tarfile.TarInfo] = []
        for info in archive:
            if info.isfile():
                infos.append(info)
                _check_count(len(infos), limits, "at least ")
    except tarfile.TarError as exc:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"damaged tar archive: {library_message(exc)}") from None
    _check_total(sum(info.size for info in infos), limits)

    def extract() -> Iterator[tuple[str, bytes]]:
        with archive:
            for info in infos:
                try:
                    member = archive.extractfile(info)
                    data = member.read() if member is not None else b""
                except tarfile.TarError as exc:
                    raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                                      f"tar member {info.name!r} is damaged: {library_message(exc)}") from None
                yield info.name, data

    return len(infos), extract()


def _check_count(count: int, limits: DecodeLimits, bound: str = "") -> None:
    if count > limits.max_archive_members:
        raise _too_large(f"the archive holds {bound}{count} files, over max_archive_members = "
                         f"{limits.max_archive_members}")


def _check_total(total: int, limits: DecodeLimits) -> None:
    if total > limits.max_volume_bytes:
        raise _too_large(f"the archive's files declare {total} bytes, over max_volume_bytes = "
                         f"{limits.max_volume_bytes} (a decompression bomb, or a series to send in parts)")
