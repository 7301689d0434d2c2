"""Volume limits from headers and capped inflation: bombs and oversized volumes fail alone, TOO_LARGE."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from dataclasses import replace

import numpy as np
import pytest

from helpers.volumes import nifti_bytes
from medembed_decode import DEFAULT_LIMITS, DecodeError, DecodeErrorKind
from medembed_decode.volume import SliceOptions, decode_slices


def gzip_of_zeros(head: bytes, total: int) -> bytes:
    """`head` followed by zeros up to `total` bytes, gzip-compressed in chunks (a bomb: ~1000:1)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as stream:
        stream.write(head)
        chunk = bytes(1 << 20)
        left = total - len(head)
        while left > 0:
            stream.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)
    return out.getvalue()


def test_a_gzip_bomb_is_too_large_naming_the_cap() -> None:
    head = nifti_bytes(np.zeros((16, 16, 2), np.uint8), np.eye(4))[:352]
    limits = replace(DEFAULT_LIMITS, max_volume_bytes=4 << 20)
    bomb = gzip_of_zeros(head, 32 << 20)
    assert len(bomb) < 64 << 10
    with pytest.raises(DecodeError) as caught:
        decode_slices(bomb, SliceOptions(), limits)
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE
    assert f"inflates to more than max_volume_bytes = {4 << 20} bytes" in str(caught.value)


def test_a_declared_2000_slice_nifti_is_too_large_before_its_voxels_are_read() -> None:
    header = bytearray(nifti_bytes(np.zeros((16, 16, 2), np.int16), np.eye(4))[:352])
    struct.pack_into("<h", header, 40 + 2 * 3, 2000)  # dim[3] (nifti1.h: dim at byte 40)
    with pytest.raises(DecodeError) as caught:
        decode_slices(bytes(header), SliceOptions(), DEFAULT_LIMITS)  # no voxel data at all
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE
    assert "NIfTI volume of 2000 slices is over max_volume_slices = 1000" in str(caught.value)


def test_voxels_over_the_limit_name_the_shape() -> None:
    data = nifti_bytes(np.zeros((16, 16, 8), np.uint8), np.eye(4))
    with pytest.raises(DecodeError) as caught:
        decode_slices(data, SliceOptions(), replace(DEFAULT_LIMITS, max_volume_voxels=1000))
    assert "16x16x8 = 2048 voxels is over max_volume_voxels = 1000" in str(caught.value)


def test_a_damaged_gzip_is_a_decode_error() -> None:
    voxels = np.random.default_rng(0).integers(0, 255, size=(16, 16, 8)).astype(np.uint8)
    data = gzip.compress(nifti_bytes(voxels, np.eye(4)), mtime=0)
    with pytest.raises(DecodeError) as caught:
        decode_slices(data[:-40], SliceOptions(), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.DECODE_ERROR and "truncated" in str(caught.value)


def test_a_gzipped_tar_bomb_is_too_large_before_it_is_listed() -> None:
    header = io.BytesIO()
    with tarfile.open(fileobj=header, mode="w") as archive:
        info = tarfile.TarInfo("IM0001.dcm")
        info.size = 32 << 20
        archive.addfile(info)  # the header only: the zeros follow
    bomb = gzip_of_zeros(header.getvalue(), (32 << 20) + 2048)
    with pytest.raises(DecodeError) as caught:
        decode_slices(bomb, SliceOptions(), replace(DEFAULT_LIMITS, max_volume_bytes=4 << 20))
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE
    assert "the gzip-compressed archive inflates to more than max_volume_bytes" in str(caught.value)
