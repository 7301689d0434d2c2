"""The DICOM and raster long tail, each kind generated here: Enhanced multi-frame functional groups,
Pixel Padding, a VOI LUT whose descriptor overstates its entries, dual-personality files, 1-bit
data, BigTIFF, 12-bit JPEG, JPEG Lossless, JPEG-LS, JPEG 2000, and files that are not images.

Expected pixels come from construction (E, an 8-bit image spanning 0..255, stored stretched so that
the rule gives E back), from pydicom's own functions (helpers.dicom.pydicom_rendering), or from
the reference decoder of the format (imagecodecs, tifffile), never from a copy of the rules.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import imagecodecs
import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder, pack_bits, pixel_array
from pydicom.uid import (
    MPEG2MPML,
    EnhancedCTImageStorage,
    HTJ2KLossless,
    JPEG2000Lossless,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    MediaStorageDirectoryStorage,
)

from helpers.decode_corpus import E3, E, stretched
from helpers.dicom import dicom_dataset, encapsulated_dataset, pydicom_rendering, to_bytes
from helpers.images import tiff_bytes
from medembed_decode import DEFAULT_LIMITS, DecodeError, decode, sniff_format
from medembed_decode.dicom import dicom_frame, frame_count, read_dataset, render_frame
from medembed_decode.jpeg_family import register

STORED = stretched(E, 4, 24, np.uint16)  # with slope 1, intercept -1024: modality values 4 E - 1000


def refused(data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(data, DEFAULT_LIMITS)
    return caught.value


# --- Enhanced multi-frame: functional groups per frame -------------------------------------------

def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def enhanced_ct(frames: np.ndarray, shared_window: tuple[float, float] | None,
                frame_windows: list[tuple[float, float] | None]) -> Dataset:
    """Enhanced CT Image Storage: rescale and (optionally) the window in the Shared Functional Groups,
    a frame's own window, position and spacing in its Per-frame Functional Groups item."""
    ds = dicom_dataset(frames, bits_stored=12, frames=len(frames))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    ds.Modality = "CT"
    shared = _item(PixelValueTransformationSequence=[_item(RescaleSlope=1, RescaleIntercept=-1024, RescaleType="HU")],
                   PixelMeasuresSequence=[_item(PixelSpacing=[0.7, 0.8], SliceThickness=2.5)],
                   PlaneOrientationSequence=[_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])])
    if shared_window is not None:
        shared.FrameVOILUTSequence = [_item(WindowCenter=shared_window[0], WindowWidth=shared_window[1])]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for index, window in enumerate(frame_windows):
        item = _item(PlanePositionSequence=[_item(ImagePositionPatient=[-100.0, -120.0, 2.5 * index])])
        if window is not None:
            item.FrameVOILUTSequence = [_item(WindowCenter=window[0], WindowWidth=window[1])]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    return ds


def classic_ct(stored: np.ndarray, window: tuple[float, float]) -> Dataset:
    ds = dicom_dataset(stored, bits_stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = window
    return ds


def test_enhanced_window_only_in_shared_groups_equals_the_classic_slice() -> None:
    frames = np.stack([STORED, STORED[::-1]])
    enhanced = to_bytes(enhanced_ct(frames, (40, 400), [None, None]))
    classic = classic_ct(STORED, (40, 400))
    decoded = decode(enhanced, DEFAULT_LIMITS)
    np.testing.assert_array_equal(decoded.pixels, decode(to_bytes(classic), DEFAULT_LIMITS).pixels)
    np.testing.assert_array_equal(decoded.pixels, pydicom_rendering(classic, pixel_array(classic)))
    assert decoded.notes == ()


def test_a_per_frame_window_overrides_the_shared_one_for_its_frame_only() -> None:
    frames = np.stack([STORED, STORED[::-1]])
    ds = read_dataset(to_bytes(enhanced_ct(frames, (40, 400), [None, (-600, 1500)])), DEFAULT_LIMITS)
    assert frame_count(ds) == 2
    notes: list[str] = []
    first, second = dicom_frame(ds, 0, notes), dicom_frame(ds, 1, notes)
    for frame, stored, window in ((first, STORED, (40, 400)), (second, STORED[::-1], (-600, 1500))):
        classic = classic_ct(stored, window)
        expected = pydicom_rendering(classic, pixel_array(classic))
        np.testing.assert_array_equal(render_frame(frame, None, notes), expected)
        np.testing.assert_array_equal(frame.values, stored.astype(np.float64) - 1024)
    assert first.position == (-100.0, -120.0, 0.0) and second.position == (-100.0, -120.0, 2.5)
    assert second.orientation == (1, 0, 0, 0, 1, 0) and second.spacing == (0.7, 0.8)
    assert notes == []


def test_a_per_frame_window_replaces_a_shared_voi_lut_and_a_shared_rescale_a_top_level_one() -> None:
    frames = np.stack([STORED, STORED[::-1]])
    ds = enhanced_ct(frames, None, [(40, 400), None])
    ds.RescaleSlope, ds.RescaleIntercept = 2, 0  # overridden by the shared Pixel Value Transformation
    lut = Dataset()
    lut.add_new(0x00283002, "US", [256, 0, 8])
    lut.add_new(0x00283006, "US", [255 - v for v in range(256)])
    ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence = [_item(VOILUTSequence=[lut])]
    dataset = read_dataset(to_bytes(ds), DEFAULT_LIMITS)
    first = dicom_frame(dataset, 0, [])
    assert first.voi is not None and first.voi.lut is None and (first.voi.center, first.voi.width) == (40, 400)
    assert dicom_frame(dataset, 1, []).voi.lut is not None  # type: ignore[union-attr]
    np.testing.assert_array_equal(first.values, STORED.astype(np.float64) - 1024)


def test_a_given_window_replaces_the_files_own() -> None:
    ds = read_dataset(to_bytes(classic_ct(STORED, (40, 400))), DEFAULT_LIMITS)
    frame = dicom_frame(ds, 0, [])
    lung = classic_ct(STORED, (-600, 1500))
    np.testing.assert_array_equal(render_frame(frame, (-600, 1500), []), pydicom_rendering(lung, pixel_array(lung)))
    with pytest.raises(ValueError, match="width"):
        render_frame(frame, (40, 0), [])


def test_a_frame_that_does_not_exist_is_a_decode_error() -> None:
    ds = read_dataset(to_bytes(classic_ct(STORED, (40, 400))), DEFAULT_LIMITS)
    with pytest.raises(DecodeError, match="frame 3 does not exist"):
        dicom_frame(ds, 3, [])


# --- Pixel Padding ---------------------------------------------------------------------------------

def padded_ct(photometric: str = "MONOCHROME2", limit: int | None = None, vr: str = "SS") -> tuple[bytes, np.ndarray]:
    """Signed CT: a round field of view holding E (stored 3 E - 900), padding -2000 (or values down to
    `limit`) outside; what it must show: E inside, black outside."""
    rows, columns = E.shape
    y, x = np.mgrid[:rows, :columns]
    outside = (y - rows / 2) ** 2 + (x - columns / 2) ** 2 > (min(rows, columns) / 2 - 1) ** 2
    body = E.copy()
    body[rows // 2, columns // 2], body[rows // 2, columns // 2 + 1] = 0, 255  # the range lies inside
    stored = body.astype(np.int16) * 3 - 900
    low = -2000 if limit is None else limit
    stored[outside] = np.random.default_rng(1).integers(low, -1999, outside.sum()) if limit else -2000
    ds = dicom_dataset(stored, photometric, bits_stored=16, signed=True)
    ds.add_new(0x00280120, vr, -2000 if vr == "SS" else 2**16 - 2000)  # Pixel Padding Value
    if limit is not None:
        ds.add_new(0x00280121, "SS", limit)  # Pixel Padding Range Limit
    shown = 255 - body if photometric == "MONOCHROME1" else body
    return to_bytes(ds), np.where(outside, 0, shown).astype(np.uint8)


@pytest.mark.parametrize("options", [{}, {"photometric": "MONOCHROME1"}, {"limit": -2500},
                                     {"vr": "US"}], ids=["value", "MONOCHROME1", "range limit", "value as US"])
def test_padding_is_left_out_of_the_min_max_and_shown_black(options: dict[str, object]) -> None:
    data, expected = padded_ct(**options)  # type: ignore[arg-type]
    np.testing.assert_array_equal(decode(data, DEFAULT_LIMITS).pixels, expected)


def test_padding_shows_black_under_a_window_too() -> None:
    data, _expected = padded_ct()
    frame = dicom_frame(read_dataset(data, DEFAULT_LIMITS), 0, [])
    assert frame.padding is not None and frame.padding.sum() > 100
    assert (render_frame(frame, (-2000, 1), [])[frame.padding] == 0).all()  # -2000 would be white


# --- VOI LUT with a descriptor that overstates its entries ------------------------------------------

@pytest.mark.parametrize("where", ["top level, LUT Data US", "shared functional groups, LUT Data OW"])
def test_a_voi_lut_declared_16_bit_with_12_bit_entries_uses_its_real_range_and_says_so(where: str) -> None:
    ds = dicom_dataset(E.astype(np.uint16) + 1000, bits_stored=12)
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 1000, 16])  # LUT Descriptor: entries, first mapped, 16 bits
    entries = np.round((255 - np.arange(256)) * 4095 / 255).astype(int)  # but 12-bit entries
    if where.startswith("top"):
        item.add_new(0x00283006, "US", [int(v) for v in entries])
        ds.VOILUTSequence = [item]
    else:
        item.add_new(0x00283006, "OW", entries.astype("<u2").tobytes())
        ds.SharedFunctionalGroupsSequence = [_item(FrameVOILUTSequence=[_item(VOILUTSequence=[item])])]
    decoded = decode(to_bytes(ds), DEFAULT_LIMITS)
    np.testing.assert_array_equal(decoded.pixels, 255 - E)
    assert len(decoded.notes) == 1 and "declares 16-bit entries, the entries are 12-bit" in decoded.notes[0]


# --- Dual-personality files, 1-bit data ---------------------------------------------------------------

def test_dicm_at_byte_128_wins_over_a_tiff_preamble() -> None:
    plain = to_bytes(dicom_dataset(stretched(E, 16, 7, np.uint16), bits_stored=12))
    preamble = (b"II*\x00" + (8).to_bytes(4, "little")).ljust(128, b"\x00")
    dual = preamble + plain[128:]
    assert sniff_format(dual) == "DICOM"
    np.testing.assert_array_equal(decode(dual, DEFAULT_LIMITS).pixels, E)


def test_one_bit_monochrome_follows_the_min_max_rule() -> None:
    mask = (E > 128).astype(np.uint8)
    ds = dicom_dataset(mask, bits_stored=8)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = pack_bits(mask)
    np.testing.assert_array_equal(decode(to_bytes(ds), DEFAULT_LIMITS).pixels, mask * 255)


def test_eight_bit_monochrome_without_a_window_is_stretched_too() -> None:
    narrow = (40 + E.astype(np.uint16) * 100 // 255).astype(np.uint8)
    ds = dicom_dataset(narrow, bits_stored=8)
    np.testing.assert_array_equal(decode(to_bytes(ds), DEFAULT_LIMITS).pixels, pydicom_rendering(ds, pixel_array(ds)))


# --- BigTIFF ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("array, options", [
    (stretched(E, 257, 0, np.uint16), {}), (E, {}), (E3, {"photometric": "rgb"}),
    (stretched(E, 257, 0, np.uint16), {"byteorder": ">", "compression": "zlib"}),
], ids=["16-bit gray", "8-bit gray", "RGB", "16-bit big-endian deflate"])
def test_bigtiff_gives_the_pixels_of_the_same_classic_tiff(array: np.ndarray, options: dict[str, object]) -> None:
    big, classic = tiff_bytes(array, bigtiff=True, **options), tiff_bytes(array, **options)
    assert big[:4] in (b"II+\x00", b"MM\x00+") and sniff_format(big) == "TIFF"
    np.testing.assert_array_equal(decode(big, DEFAULT_LIMITS).pixels, decode(classic, DEFAULT_LIMITS).pixels)
    np.testing.assert_array_equal(decode(big, DEFAULT_LIMITS).pixels, E3 if array.ndim == 3 else E)


def test_a_damaged_bigtiff_is_named() -> None:
    big = tiff_bytes(stretched(E, 257, 0, np.uint16), bigtiff=True)
    error = refused(big[:200])
    assert error.kind.value == "decode_error" and "BigTIFF" in str(error)


# --- The JPEG family: plain files and inside DICOM -------------------------------------------------

TWELVE = stretched(E, 16, 7, np.uint16)  # 12-bit samples: min-max gives E back


def test_a_12_bit_lossy_jpeg_file_is_decoded() -> None:
    jpeg = imagecodecs.jpeg8_encode(TWELVE, level=95, bitspersample=12)
    decoded = decode(jpeg, DEFAULT_LIMITS).pixels
    reference = imagecodecs.jpeg8_decode(jpeg).astype(np.float64)  # the upstream decoder, min-max
    expected = np.round((reference - reference.min()) * 255 / (reference.max() - reference.min()))
    np.testing.assert_array_equal(decoded, expected.astype(np.uint8))
    assert np.abs(decoded.astype(int) - E).max() <= 8  # and it is the image


@pytest.mark.parametrize("encode", [lambda a: imagecodecs.jpeg8_encode(a, lossless=True, bitspersample=12),
                                    lambda a: imagecodecs.jpegls_encode(a)], ids=["JPEG Lossless", "JPEG-LS"])
def test_lossless_jpeg_files_are_decoded_exactly(encode: object) -> None:
    np.testing.assert_array_equal(decode(encode(TWELVE), DEFAULT_LIMITS).pixels, E)  # type: ignore[operator]


def test_a_truncated_12_bit_jpeg_is_a_decode_error_naming_it() -> None:
    jpeg = imagecodecs.jpeg8_encode(TWELVE, level=95, bitspersample=12)
    error = refused(jpeg[: len(jpeg) // 2])
    assert error.kind.value == "decode_error" and "12-bit JPEG" in str(error)


@pytest.mark.parametrize("syntax, encode", [
    (JPEGExtended12Bit, lambda a: imagecodecs.jpeg8_encode(a, level=100, bitspersample=12)),
    (JPEGLosslessSV1, lambda a: imagecodecs.jpeg8_encode(a, lossless=True, bitspersample=12)),
    (JPEGLSLossless, lambda a: imagecodecs.jpegls_encode(a)),
    (JPEG2000Lossless, lambda a: imagecodecs.jpeg2k_encode(a, level=0, codecformat="J2K")),
    (HTJ2KLossless, lambda a: imagecodecs.htj2k_encode(a, level=0)),
], ids=["JPEG Extended 12-bit", "JPEG Lossless SV1", "JPEG-LS Lossless", "JPEG 2000 Lossless", "HTJ2K Lossless"])
def test_compressed_dicom_of_each_syntax_is_read(syntax: str, encode: object) -> None:
    ds = encapsulated_dataset(encode(TWELVE), syntax, TWELVE.shape, bits_stored=12)  # type: ignore[operator]
    decoded = decode(to_bytes(ds), DEFAULT_LIMITS).pixels
    if syntax == JPEGExtended12Bit:  # lossy: the upstream decoder's samples, min-max
        assert np.abs(decoded.astype(int) - E).max() <= 4
    else:
        np.testing.assert_array_equal(decoded, E)


@pytest.mark.parametrize("cut", ["code stream", "file"])
def test_truncated_jpeg_2000_in_dicom_is_damaged_not_unsupported(cut: str) -> None:
    stream = imagecodecs.jpeg2k_encode(TWELVE, level=0, codecformat="J2K")
    if cut == "code stream":
        data = to_bytes(encapsulated_dataset(stream[: len(stream) // 3], JPEG2000Lossless, TWELVE.shape,
                                             bits_stored=12))
    else:  # the file ends inside its pixel data: pydicom reads a data set without it
        data = to_bytes(encapsulated_dataset(stream, JPEG2000Lossless, TWELVE.shape, bits_stored=12))
        data = data[: len(data) * 2 // 3]
    error = refused(data)
    assert error.kind.value == "decode_error" and "truncated" in str(error)


def test_a_missing_decoder_is_unsupported_format_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = imagecodecs.jpegls_encode(TWELVE)
    dicom = to_bytes(encapsulated_dataset(plain, JPEGLSLossless, TWELVE.shape, bits_stored=12))
    monkeypatch.setattr(imagecodecs.JPEGLS, "available", False)  # an imagecodecs built without CharLS
    error = refused(plain)
    assert error.kind.value == "unsupported_format" and "JPEG-LS needs a decoder" in str(error)
    assert "JPEGLS codec" in str(error)
    decoder = get_decoder(JPEGLSLossless)
    if set(decoder.available_plugins) != {"imagecodecs"}:
        pytest.skip("a JPEG-LS plugin of pydicom's own is installed: nothing would be missing")
    decoder.remove_plugin("imagecodecs")
    try:  # pydicom's own JPEG-LS plugins are not installed here: they are what is named
        error = refused(dicom)
    finally:
        monkeypatch.undo()
        register()
    assert error.kind.value == "unsupported_format" and "pyjpegls" in str(error)
    assert decode(dicom, DEFAULT_LIMITS).pixels.shape == E.shape  # and back


def test_a_transfer_syntax_without_a_decoder_is_unsupported_and_named() -> None:
    ds = encapsulated_dataset(b"\x00" * 64, MPEG2MPML, TWELVE.shape, bits_stored=12)  # video: pydicom has none
    error = refused(to_bytes(ds))
    assert error.kind.value == "unsupported_format" and "MPEG2" in str(error)


# --- Files that are not images are named ---------------------------------------------------------------

def nifti(version: int) -> bytes:
    volume = np.zeros((8, 8, 4), np.int16)
    image = (nibabel.Nifti1Image if version == 1 else nibabel.Nifti2Image)(volume, np.eye(4))
    return image.to_bytes()


def archive(kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as archived:
            archived.writestr("IM0001", b"x" * 10)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz" if kind == "tar.gz" else "w") as archived:
            member = tarfile.TarInfo("IM0001")
            member.size = 10
            archived.addfile(member, io.BytesIO(b"x" * 10))
    return buffer.getvalue()


def dicomdir() -> bytes:
    ds = Dataset()
    ds.file_meta = dicom_dataset(E).file_meta
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    ds.FileSetID = "EXPORT"
    ds.DirectoryRecordSequence = []
    return to_bytes(ds)


@pytest.mark.parametrize("data, fragment", [
    (nifti(1), "NIfTI-1 volume (.nii)"),
    (gzip.compress(nifti(1)), "NIfTI-1 volume (.nii.gz)"),
    (nifti(2), "NIfTI-2 volume (.nii)"),
    (dicomdir(), "a DICOMDIR"),
    (bytes(128) + b"DICM", "an empty DICOM file"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 52311\n", "Git LFS pointer"),
    (archive("zip"), "a ZIP archive"),
    (archive("tar"), "a tar archive"),
    (archive("tar.gz"), "a gzip-compressed tar archive"),
    (gzip.compress(b"plain text"), "gzip-compressed data"),
    (gzip.compress(to_bytes(dicom_dataset(E))), "a gzip-compressed DICOM file"),
    (b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", "an HTML or XML page"),
], ids=["nii", "nii.gz", "nifti-2", "DICOMDIR", "empty DICOM", "Git LFS pointer", "zip", "tar", "tar.gz", "gzip",
        "dcm.gz", "HTML"])
def test_what_is_not_an_image_is_named_with_the_next_step(data: bytes, fragment: str) -> None:
    error = refused(data)
    assert error.kind.value == "unsupported_format"
    assert fragment in str(error), str(error)


def test_a_dicom_object_without_pixels_whose_sop_class_element_is_damaged_is_still_named_rightly() -> None:
    """Found on nibabel's decimal_rescale.dcm with three bytes changed: (0002,0002) with the unknown
    VR "Ud" and no Pixel Data. pydicom reads the file and raises NotImplementedError only when the
    element is read; the refusal was an internal error."""
    ds = dicom_dataset(E)
    del ds.PixelData
    data = to_bytes(ds).replace(b"\x02\x00\x02\x00UI", b"\x02\x00\x02\x00Ud", 1)
    with pytest.raises(NotImplementedError):
        pydicom.dcmread(io.BytesIO(data)).file_meta.MediaStorageSOPClassUID  # noqa: B018
    error = refused(data)
    assert error.kind.value == "decode_error" and "no (7FE0,0010) Pixel Data" in str(error), str(error)


@pytest.mark.parametrize("data, fragment", [
    (nibabel.AnalyzeHeader().binaryblock, "an ANALYZE 7.5 header (.hdr"),
    (nibabel.MGHImage(np.zeros((4, 5, 6), np.float32), np.eye(4)).to_bytes(), "an MGH volume (.mgh"),
    (gzip.compress(nibabel.MGHImage(np.zeros((4, 5, 6), np.int16), np.eye(4)).to_bytes()), "an MGH volume (.mgz"),
], ids=["ANALYZE", "MGH", "MGZ"])
def test_a_volume_in_another_neuroimaging_format_is_named_with_the_next_step(data: bytes, fragment: str) -> None:
    """Written by nibabel; each is a volume nibabel reads and this service does not: convert to NIfTI."""
    error = refused(data)
    assert error.kind.value == "unsupported_format"
    assert fragment in str(error) and "single-file NIfTI" in str(error), str(error)


def test_dicm_at_byte_128_wins_over_a_preamble_that_reads_as_an_analyze_header() -> None:
    """nibabel's siemens_dwi_*.dcm hold 348 (ANALYZE's sizeof_hdr) in their first preamble bytes."""
    data = bytearray(to_bytes(dicom_dataset(E)))
    data[:4] = (348).to_bytes(4, "little")
    assert sniff_format(bytes(data)) == "DICOM"
    error = refused(gzip.compress(bytes(data)))
    assert error.kind.value == "unsupported_format" and "a gzip-compressed DICOM file" in str(error), str(error)
