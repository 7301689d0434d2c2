"""Real files nobody here wrote: the NIfTI and DICOM files the installed nibabel ships as its own
test data (`nibabel/tests/data`, `nibabel/nicom/tests/data`, offline), through `decode_slices`
with several slice options, each slice compared with an independent computation:

- NIfTI, with nibabel's own API: `nibabel.load`, the first 3-D volume of a 4-D file
  (`four_to_three`), `as_closest_canonical` (RAS+ layout: slice k of an axis is index k there),
  `get_fdata` (scl_slope / scl_inter applied), the header's cal_min / cal_max;
- DICOM, with pydicom's: the first frame, `apply_modality_lut`, `apply_voi_lut` (as the pydicom
  conformance test renders it), and nibabel's `MultiframeWrapper` for the geometry of the Enhanced
  MR file;

rendered by the README's rules, written here from their sources: the radiological display
(axial: the patient's right on the image's left, anterior up; coronal: right on the left,
superior up; sagittal: anterior on the left, superior up), a window by DICOM's LINEAR function
(PS3.3 C.11.2.1.2.1), cal_min black to cal_max white (nifti1.h), else min-max over the finite
values (NaN and -inf black, +inf white). Files that are not an image or volume this service reads
get the right refusal naming what they are, and damaged copies of every file are read or refused,
never an internal error.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import warnings
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from nibabel.cifti2 import Cifti2Image
from pydicom.pixels import apply_modality_lut, get_decoder, pixel_array

from helpers.dicom import pydicom_rendering
from medembed_decode import DecodeError, DecodeErrorKind, DecodeLimits
from medembed_decode.volume import SliceOptions, decode_slices

with warnings.catch_warnings():  # "The DICOM readers are highly experimental": used here for one file's geometry
    warnings.simplefilter("ignore")
    from nibabel.nicom import dicomwrappers

NIBABEL = Path(str(importlib.resources.files("nibabel")))
DATA, NICOM = NIBABEL / "tests" / "data", NIBABEL / "nicom" / "tests" / "data"
if not (DATA / "anatomical.nii").is_file() or not (NICOM / "0.dcm").is_file():
    pytest.skip(f"nibabel {nibabel.__version__} is installed without its test data ({DATA}, {NICOM}): "
                "a packaging that strips tests/ leaves nothing to check here", allow_module_level=True)

LIMITS = DecodeLimits(min_side=1)  # nibabel's test volumes are small (standard.nii.gz: 4 x 5 x 7)
NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")
WORLD_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
WINDOW = (300.0, 700.0)  # C/W in the files' own units
CHANNELS = "-100/500,300/700,900/1700"

NIFTI_FILES = sorted([*DATA.glob("*.nii"), *DATA.glob("*.nii.gz")])
DICOM_FILES = sorted([*DATA.glob("*.dcm"), *NICOM.glob("*.dcm")])
GZIPPED_DICOM = sorted(NICOM.glob("*.dcm.gz"))
OTHER_FILES = sorted(path for folder in (DATA, NICOM) for path in folder.iterdir()
                     if path.is_file() and path not in (*NIFTI_FILES, *DICOM_FILES, *GZIPPED_DICOM))

# (rule, axis, window) through decode_slices, for each file.
OPTIONS = [("", "", ""), ("middle", "", ""), ("all", "axial", ""), ("all", "coronal", ""), ("all", "sagittal", ""),
           ("index:1", "coronal", ""), ("every:3", "sagittal", ""), ("middle", "", f"{WINDOW[0]:g}/{WINDOW[1]:g}"),
           ("index:0", "axial", CHANNELS), ("mean", "sagittal", "")]


def ident(path: Path) -> str:
    return str(path.relative_to(NIBABEL))


def option_id(option: tuple[str, str, str]) -> str:
    return "/".join(part or "-" for part in option)


def linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1, the LINEAR VOI function to an output range 0..255:
    x <= c - 0.5 - (w - 1) / 2 -> 0; x > c - 0.5 + (w - 1) / 2 -> 255;
    else ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, rounded. NaN (no value) shows black."""
    shown = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    shown = np.where(values <= center - 0.5 - (width - 1) / 2, 0.0,
                     np.where(values > center - 0.5 + (width - 1) / 2, 255.0, shown))
    return np.round(np.nan_to_num(shown, nan=0.0)).astype(np.uint8)


def min_max(values: np.ndarray) -> np.ndarray:
    """The README's min-max rule: (v - min) * 255 / (max - min) over the finite values, rounded; a
    constant image black; NaN and -inf black, +inf white."""
    finite = np.isfinite(values)
    low, high = float(values[finite].min()), float(values[finite].max())
    shown = (values - low) * 255.0 / (high - low) if high > low else np.zeros(values.shape)
    shown = np.where(np.isnan(values) | (values == -np.inf), 0.0, np.where(values == np.inf, 255.0, shown))
    return np.round(shown).astype(np.uint8)


def cal_range(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """nifti1.h: "display intensities <= cal_min black, >= cal_max white", linear between, rounded."""
    shown = np.clip((values - low) * 255.0 / (high - low), 0.0, 255.0)
    return np.round(np.nan_to_num(shown, nan=0.0)).astype(np.uint8)


def shown_slice(canonical: np.ndarray, axis: str, index: int) -> np.ndarray:
    """Slice `index` of a RAS+ array ([R, A, S]) in the radiological display: rows from the
    higher world coordinate down (anterior or superior at the top), columns from the patient's
    right (axial, coronal) or anterior (sagittal) across."""
    if axis == "axial":  # rows: A -> P (j reversed), columns: R -> L (i reversed)
        return canonical[::-1, ::-1, index].T
    if axis == "coronal":  # rows: S -> I (k reversed), columns: R -> L
        return canonical[::-1, index, ::-1].T
    return canonical[index, ::-1, ::-1].T  # sagittal: rows S -> I, columns A -> P


def picked(rule: str, count: int) -> tuple[int, ...]:
    """The slices a rule picks (the package docstring): middle = (n - 1) // 2, index:N, every:K, all
    and mean (every slice)."""
    kind, _, number = rule.partition(":")
    if kind in ("", "middle"):
        return ((count - 1) // 2,)
    if kind == "index":
        return (int(number),)
    return tuple(range(0, count, int(number))) if kind == "every" else tuple(range(count))


def rendered(values: np.ndarray, window: str, own: tuple[float, float] | None) -> np.ndarray:
    """A slice of modality values shown by the window asked, else the file's own range, else min-max."""
    if window:
        parts = [tuple(float(v) for v in part.split("/")) for part in window.split(",")]
        shown = [linear(values, center, width) for center, width in parts]
        return shown[0] if len(shown) == 1 else np.stack(shown, axis=-1)
    return cal_range(values, *own) if own else min_max(values)


def nibabel_canonical(path: Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """RAS+ values (float64, scaled) of the file's first 3-D volume, and its cal_min / cal_max
    when set: nibabel's own reading."""
    image = nibabel.load(path)
    if len(image.shape) > 3:
        image = nibabel.four_to_three(image)[0]
    canonical = nibabel.as_closest_canonical(image)
    assert nibabel.aff2axcodes(canonical.affine) == ("R", "A", "S")
    low, high = float(image.header["cal_min"]), float(image.header["cal_max"])
    return canonical.get_fdata(), ((low, high) if high > low else None)


def test_the_files_are_there() -> None:
    assert {p.name for p in NIFTI_FILES} >= {"anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz",
                                            "functional.nii", "standard.nii.gz", "row_major.dconn.nii"}
    assert len(DICOM_FILES) >= 6 and len(GZIPPED_DICOM) >= 3 and len(OTHER_FILES) >= 50


@pytest.mark.parametrize("option", OPTIONS, ids=option_id)
@pytest.mark.parametrize("path", [p for p in NIFTI_FILES if not p.name.endswith(".dconn.nii")], ids=ident)
def test_each_nifti_slice_equals_nibabels_reading(path: Path, option: tuple[str, str, str]) -> None:
    rule, axis, window = option
    values, own = nibabel_canonical(path)
    count = values.shape[WORLD_AXIS[axis or "axial"]]

    result = decode_slices(path.read_bytes(), SliceOptions.parse(*option), LIMITS)

    picks = picked(rule, count)
    assert result.slice_count == count and result.slice_indices == picks
    for pick, decoded in zip(picks, result.images, strict=True):
        expected = rendered(shown_slice(values, axis or "axial", pick), window, own)
        np.testing.assert_array_equal(decoded.pixels, expected, err_msg=f"{path.name} {option} slice {pick}")
    if len(nibabel.load(path).shape) > 3:
        assert any("first 3-D volume" in note for note in result.notes)


def test_a_cifti_file_is_refused_as_what_it_is() -> None:
    """row_major.dconn.nii is CIFTI-2 (nibabel.load gives a Cifti2Image): a dense connectivity
    matrix over brainordinates in a NIfTI-2 container (dims 1x1x1x1x10x10, intent 3001), not
    voxels; read as a volume it would be a 1 x 1 "image"."""
    path = DATA / "row_major.dconn.nii"
    assert isinstance(nibabel.load(path), Cifti2Image)
    for option in OPTIONS[:3]:
        with pytest.raises(DecodeError) as caught:
            decode_slices(path.read_bytes(), SliceOptions.parse(*option), LIMITS)
        assert caught.value.kind is DecodeErrorKind.UNSUPPORTED_FORMAT
        assert "CIFTI-2" in str(caught.value) and "dense connectivity" in str(caught.value)


@pytest.mark.parametrize("name", ["nifti1.hdr", "nifti2.hdr"])
def test_the_header_of_a_pair_is_refused_naming_the_single_file_form(name: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_slices((DATA / name).read_bytes(), SliceOptions(), LIMITS)
    assert caught.value.kind is DecodeErrorKind.UNSUPPORTED_FORMAT and ".hdr/.img pair" in str(caught.value)


def pydicom_own_frame(ds: pydicom.Dataset) -> np.ndarray:
    """The first frame as pydicom decodes it with its own plugins (not this package's imagecodecs plugin)."""
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax in NATIVE:
        return pixel_array(ds, index=0)
    for plugin in get_decoder(syntax).available_plugins:
        if plugin != "imagecodecs":
            return pixel_array(ds, index=0, decoding_plugin=plugin)
    raise AssertionError(f"no plugin of pydicom's own reads {syntax.name} here")


def dicom_cases() -> list[tuple[str, bytes]]:
    """The single-frame DICOM files, the gzipped ones decompressed (nibabel ships them gzipped)."""
    cases = [(ident(path), path.read_bytes()) for path in DICOM_FILES]
    for path in GZIPPED_DICOM:
        data = gzip.decompress(path.read_bytes())
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        if int(ds.get("NumberOfFrames", 1) or 1) == 1:
            cases.append((ident(path).removesuffix(".gz"), data))
    return cases


DICOM_CASES = dicom_cases()


@pytest.mark.parametrize("option", OPTIONS, ids=option_id)
@pytest.mark.parametrize("case", DICOM_CASES, ids=[name for name, _ in DICOM_CASES])
def test_each_dicom_file_renders_as_pydicom_does_or_is_refused_rightly(case: tuple[str, bytes],
                                                                       option: tuple[str, str, str]) -> None:
    name, data = case
    rule, _axis, window = option
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
        if "PixelData" not in ds:  # an MR Image Storage object whose pixels nibabel removed: damaged
            with pytest.raises(DecodeError) as caught:
                decode_slices(data, SliceOptions.parse(*option), LIMITS)
            assert caught.value.kind is DecodeErrorKind.DECODE_ERROR, str(caught.value)
            assert "no (7FE0,0010) Pixel Data" in str(caught.value)
            return
        frame = pydicom_own_frame(ds)
        if window:
            expected = rendered(np.asarray(apply_modality_lut(frame, ds), dtype=np.float64), window, None)
        else:
            expected = pydicom_rendering(ds, frame)
    if rule == "index:1":  # one image: index 1 is out of range, said with the count
        with pytest.raises(DecodeError) as caught:
            decode_slices(data, SliceOptions.parse(*option), LIMITS)
        assert caught.value.kind is DecodeErrorKind.DECODE_ERROR and "1 slice" in str(caught.value)
        return

    result = decode_slices(data, SliceOptions.parse(*option), LIMITS)

    assert result.slice_count == 1 and result.slice_indices == (0,)
    np.testing.assert_array_equal(result.images[0].pixels, expected, err_msg=f"{name} {option}")


@pytest.mark.parametrize("path", GZIPPED_DICOM, ids=ident)
def test_a_gzipped_dicom_file_is_refused_naming_it(path: Path) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_slices(path.read_bytes(), SliceOptions.parse("all", "axial"), LIMITS)
    assert caught.value.kind is DecodeErrorKind.UNSUPPORTED_FORMAT
    assert "gzip-compressed DICOM" in str(caught.value) and "decompress" in str(caught.value)


@pytest.fixture(scope="module")
def philips_mprage() -> bytes:
    return gzip.decompress((NICOM / "philips_mprage.dcm.gz").read_bytes())


@pytest.fixture(scope="module")
def philips_canonical(philips_mprage: bytes) -> np.ndarray:
    """The Enhanced MR volume as nibabel's MultiframeWrapper lays it out (frames sorted, LPS
    affine), negated in x and y to RAS and made canonical by nibabel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = dicomwrappers.wrapper_from_data(pydicom.dcmread(io.BytesIO(philips_mprage)))
        stack = wrapper.get_data().astype(np.float64)
    assert isinstance(wrapper, dicomwrappers.MultiframeWrapper) and stack.shape == (256, 256, 176)
    assert not stack.any(), "nibabel now ships real pixels in philips_mprage: compare values here too"
    ras = nibabel.Nifti1Image(stack, np.diag([-1.0, -1.0, 1.0, 1.0]) @ wrapper.affine)
    return nibabel.as_closest_canonical(ras).get_fdata()


@pytest.mark.parametrize("option", [("", "sagittal", ""), ("all", "axial", ""), ("every:16", "coronal", "40/80")],
                         ids=option_id)
def test_the_enhanced_mr_file_slices_as_nibabels_multiframe_wrapper_lays_it_out(
        philips_mprage: bytes, philips_canonical: np.ndarray, option: tuple[str, str, str]) -> None:
    """philips_mprage: Enhanced MR, 176 sagittal frames, per-frame Plane Position / Orientation,
    rescale and window. nibabel ships it with its pixel data zeroed, so the check is its geometry:
    the slice count and shape along each axis of nibabel's RAS+ volume, and the images of zeros."""
    rule, axis, window = option
    count = philips_canonical.shape[WORLD_AXIS[axis]]

    result = decode_slices(philips_mprage, SliceOptions.parse(*option), LIMITS)

    picks = picked(rule, count)
    assert result.slice_count == count and result.slice_indices == picks
    for pick, decoded in zip(picks, result.images, strict=True):
        expected = rendered(shown_slice(philips_canonical, axis, pick), window, None)
        np.testing.assert_array_equal(decoded.pixels, expected)


# What the other files are, by nibabel's own naming of its test data (file suffix): the name the
# refusal must give. The rest (CSA blobs, raw .REC / .BRIK voxels, scripts, a .tck whose magic
# nibabel removed on purpose) hold no header that says what they are.
NAMED = {".PAR": "a Philips PAR header", ".HEAD": "an AFNI header", ".mnc": "MINC-", ".v": "an ECAT 7 PET volume",
         ".mgz": "an MGH volume (.mgz", ".hdr": "a NIfTI header of a .hdr/.img pair",
         ".trk": "a TrackVis tractography file", ".tck": "an MRtrix tractography file"}


@pytest.mark.parametrize("path", OTHER_FILES, ids=ident)
def test_every_other_file_is_refused_naming_what_it_is(path: Path) -> None:
    """PAR/REC, MINC, AFNI, MGH, ECAT, ANALYZE, NIfTI pairs, tractography, CSA blobs, scripts: not
    images this service reads. Each is unsupported_format naming it where its bytes say what it is,
    never another exception."""
    with pytest.raises(DecodeError) as caught:
        decode_slices(path.read_bytes(), SliceOptions.parse("all", "axial"), LIMITS)
    assert caught.value.kind is DecodeErrorKind.UNSUPPORTED_FORMAT, str(caught.value)
    expected = "an ANALYZE 7.5 header" if path.name == "analyze.hdr" else NAMED.get(path.suffix)
    if expected and path.name != "no_magic_number.tck":
        assert expected in str(caught.value), str(caught.value)


# Byte changes (offset, value) that once gave internal errors: srow_z made parallel to srow_y
# (io_orientation then gives an array axis no world axis), and (0002,0002)'s VR made "Ud".
ONCE_INTERNAL = {"resampled_anat_moved.nii": [(321, 12), (115, 167), (304, 247)],
                 "decimal_rescale.dcm": [(354, 146), (530, 24), (163, 100)]}


def damaged(name: str, data: bytes, seed: int) -> list[bytes]:
    """The file cut at 1%, 50% and 99% of its bytes, 12 copies with 3 header bytes (of the first
    600) changed, seeded, and the changes of ONCE_INTERNAL."""
    rng = np.random.default_rng(seed)
    variants = [data[: int(len(data) * cut)] for cut in (0.01, 0.5, 0.99)]
    changes = [[(int(rng.integers(0, min(len(data), 600))), int(rng.integers(0, 256))) for _ in range(3)]
               for _ in range(12)]
    for change in [*changes, ONCE_INTERNAL.get(name, [])]:
        changed = bytearray(data)
        for where, value in change:
            changed[where] = value
        variants.append(bytes(changed))
    return variants


@pytest.mark.parametrize("path", [*NIFTI_FILES, *DICOM_FILES], ids=ident)
def test_damaged_copies_are_read_or_refused_never_an_internal_error(path: Path) -> None:
    """Any exception but DecodeError fails the test (the encoder would answer INTERNAL)."""
    raw = path.read_bytes()
    gzipped = raw[:2] == b"\x1f\x8b"
    variants = damaged(path.name, gzip.decompress(raw) if gzipped else raw, seed=len(raw))
    if gzipped:
        variants += [raw[: len(raw) // 2], raw[:-9]]  # a gzip stream cut short, or its trailer gone
    refused = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for data in variants:
            for option in (("", "", ""), ("middle", "sagittal", "40/80")):
                try:
                    decode_slices(data, SliceOptions.parse(*option), LIMITS)
                except DecodeError:
                    refused += 1
    assert refused >= 6  # the three cuts at least, each under both options
