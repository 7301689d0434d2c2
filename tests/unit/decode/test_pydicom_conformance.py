"""Every DICOM file bundled with the installed pydicom (`pydicom/data/test_files`, offline), through
the decode rules: each image gives the pixels of pydicom's own functions applied by the README's
rules, each other file a right refusal.

The reference rendering, with pydicom's functions only: the first frame (`pixel_array(index=0)`),
`apply_modality_lut`, then `apply_voi_lut` (VOI LUT Sequence first, else the first window) mapped
from its output range to 0..255, else min-max; MONOCHROME1 inverted; PALETTE COLOR through
`apply_color_lut`; RGB / YBR as pydicom returns them (`convert_color_space` to RGB), deep colour
min-max over all channels.

The files no plugin of pydicom's own reads in this environment (12-bit JPEG, JPEG Lossless,
JPEG-LS, a JPEG 2000 code stream Pillow rejects) are read through the imagecodecs plugin; their
samples are checked against the values pydicom's own test suite states for them
(tests/pixels/pixels_reference.py in pydicom's repository), so the decoder is not checked
against itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_decoder, pixel_array

from helpers.dicom import pydicom_rendering
from medembed_decode import DecodeError, DecodeLimits, decode, sniff_format

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
LIMITS = DecodeLimits(min_side=1)  # pydicom's 3 x 3 test images are images too
NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")


def bundled_dicom_files() -> list[Path]:
    """Every file of pydicom's test collection that is DICOM by its content (DICOMDIRs and the
    suffix-less files of its dicomdirtests included)."""
    found = []
    for path in sorted(TEST_FILES.rglob("*")):
        if path.is_file() and sniff_format(path.read_bytes()[:4096]) == "DICOM":
            found.append(path)
    return found


FILES = bundled_dicom_files()

# Damaged data (pydicom itself fails on each, for the reason given): decode_error.
DAMAGED = {
    "MR_truncated.dcm": "truncated",  # pixel data shorter than Rows x Columns
    "JPEG2000-embedded-sequence-delimiter.dcm": "truncated or damaged",  # 266 bytes of code stream
    "badVR.dcm": "Number of Frames",  # IS "1A"
    "nested_priv_SQ.dcm": "Rows",  # pixel data without an image pixel module
    "meta_missing_tsyntax.dcm": "Rows",
}

# Read by the imagecodecs plugin only here; (index, samples) pairs pydicom's pixels_reference states.
STATED = {
    "JPGExtended.dcm": [((420, 140), 244), ((230, 120), 95)],  # JPGE_16_12_1_0_1F_M2
    "JPEG-lossy.dcm": [((420, 140), 244), ((230, 120), 95)],  # JPGE_BAD (scan stop invalid)
    "MR_small_jpeg_ls_lossless.dcm": [((0, 31), 422), ((0, 32), 319), ((0, 33), 361), ((31, 0), 366),
                                      ((-1, -1), 862)],  # JLSL_16_16_1_1_1F
    "JPEGLSNearLossless_08.dcm": [((0, 0), 255), ((5, 0), 125), ((10, 0), 65), ((15, 0), 30),
                                  ((20, 0), 15), ((35, 0), 0)],  # JLSN_08_01_1_0_1F
    "JPEGLSNearLossless_16.dcm": [((0, 0), 65535), ((5, 0), 32765), ((10, 0), 16385), ((15, 0), 4095),
                                  ((40, 0), 5)],  # JLSN_16_16_1_0_1F
    "SC_rgb_jls_lossy_line.dcm": [((0, 0), (255, 0, 0)), ((10, 0), (255, 130, 130)), ((70, 0), (65, 65, 65)),
                                  ((80, 0), (190, 190, 190))],  # JLSN_08_08_1_0_3F_LINE
    "SC_rgb_jls_lossy_sample.dcm": [((0, 0), (255, 0, 0)), ((10, 0), (255, 130, 130)), ((70, 0), (65, 65, 65)),
                                    ((80, 0), (190, 190, 190))],  # JLSN_08_08_1_0_3F_SAMPLE
    "SC_rgb_jpeg_gdcm.dcm": [((5, 50), (255, 0, 0)), ((15, 50), (255, 128, 128)), ((75, 50), (64, 64, 64)),
                             ((85, 50), (192, 192, 192))],  # JPGS_08_08_3_1F_RGB
    "GDCMJ2K_TextGBR.dcm": [((45, 140), (223, 32, 32)), ((46, 140), (255, 0, 0)),
                            ((350, 195), (128, 128, 128))],  # J2KR_08_08_3_0_1F_YBR_RCT
}


def pydicom_own_frame(ds: pydicom.Dataset) -> np.ndarray | None:
    """The first frame as pydicom decodes it with its own plugins (not this package's imagecodecs
    plugin); None when none of them reads it here."""
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax in NATIVE:
        return pixel_array(ds, index=0)
    for plugin in get_decoder(syntax).available_plugins:
        if plugin != "imagecodecs":
            try:
                return pixel_array(ds, index=0, decoding_plugin=plugin)
            except Exception:  # noqa: BLE001 - the next plugin, as pydicom itself would try
                continue
    return None


def test_the_collection_is_there() -> None:
    assert len(FILES) >= 90, f"pydicom's test files not found under {TEST_FILES}"


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(TEST_FILES)))
def test_each_bundled_file_renders_as_pydicom_does_or_is_refused_rightly(path: Path) -> None:
    data = path.read_bytes()
    name = path.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        if name in DAMAGED:
            with pytest.raises(DecodeError) as caught:
                decode(data, LIMITS)
            assert caught.value.kind.value == "decode_error" and DAMAGED[name] in str(caught.value)
            return
        if "PixelData" not in ds:
            with pytest.raises(DecodeError) as caught:
                decode(data, LIMITS)
            sop_class = ds.file_meta.get("MediaStorageSOPClassUID") or ds.get("SOPClassUID")
            if sop_class is not None and "Image" in sop_class.name:  # an image object whose pixels are gone
                assert caught.value.kind.value == "decode_error", str(caught.value)
            else:  # valid DICOM of another kind: a DICOMDIR, an SR, a plan ...
                assert caught.value.kind.value == "unsupported_format", str(caught.value)
            expected = "DICOMDIR" if "DirectoryRecordSequence" in ds else "no (7FE0,0010) Pixel Data"
            assert expected in str(caught.value)
            return
        frame = pydicom_own_frame(ds)
        if frame is None:  # read here by the imagecodecs plugin only: checked against pydicom's stated values
            assert name in STATED, f"{name}: pydicom's own plugins do not read it, and no values are stated for it"
            frame = pixel_array(ds, index=0)
        for index, sample in STATED.get(name, ()):
            assert np.array_equal(frame[index], sample), (name, index, frame[index], sample)
        expected = pydicom_rendering(ds, frame)
    decoded = decode(data, LIMITS).pixels
    np.testing.assert_array_equal(decoded, expected, err_msg=name)
