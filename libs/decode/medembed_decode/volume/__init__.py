"""Volumes in: NIfTI, DICOM series and multi-frame DICOM, sliced by a rule chosen per request.

Item forms (known by content, never by file name; `volume_kind(data)` names them):
- NIfTI-1 / NIfTI-2 single file, raw (.nii) or gzip-compressed (.nii.gz): the header magic "n+1"
  at byte 344 or "n+2" at byte 4. Read with nibabel (scl_slope / scl_inter applied); the
  orientation is nibabel's affine (sform, else qform). A 4-D file yields its first volume (noted).
  A .hdr/.img pair ("ni1") is refused: send the single-file .nii. A CIFTI-2 file (.dconn.nii,
  .dscalar.nii ...: intent code 3000-3099, brainordinates, not voxels) is refused naming its kind.
- DICOM series as ONE item: a zip, or a tar (optionally gzipped), of the files of one
  SeriesInstanceUID. Files are ordered by position along the slice normal (Image Orientation
  (Patient) row x column cosines, dot Image Position (Patient)), never by file name; without
  positions by Instance Number (noted). DICOMDIR, non-DICOM members and DICOM objects without
  pixels are skipped (noted); several series in one archive, frames of different sizes or
  orientations, or two files at one position are DECODE_ERROR naming them.
- Multi-frame DICOM (Enhanced CT / MR, legacy-converted, cine): its frames as a volume, ordered
  by their per-frame Plane Position when every frame has one; else in stored order, without an
  orientation (only the stored frame axis; an explicit axis is DECODE_ERROR).
- Any 2-D item (PNG, JPEG, TIFF, BMP, WEBP, single-frame DICOM) is one slice.

Slice rules (`SliceOptions.rule`): "" default = the middle slice, (n - 1) // 2 — except a
multi-frame DICOM with the default rule and axis, which gives its FIRST stored frame exactly as
the 2-D decode does (so existing vectors do not change); "middle"; "index:N" (0-based; out of
range is DECODE_ERROR naming the slice count); "every:K" (slices 0, K, 2K ...); "all"; "mean"
(every slice; `SliceOptions.pooled`: the encoder averages their vectors into one).
Axis (`SliceOptions.axis`): "" = "axial", "coronal", "sagittal", anatomical, from the affine (the
array axis nearest each patient axis, nibabel's `io_orientation`; oblique volumes not resampled).
Display: the radiological convention (`slicing` module): axial with the patient's right on the
image's left and anterior up (a standard axial DICOM slice as stored); coronal right-on-left,
superior up; sagittal anterior-left, superior up. Slices are numbered in RAS+ order (index 0 =
most inferior / posterior / patient-left), as nibabel's `as_closest_canonical` lays them out; the
same voxels as NIfTI or as DICOM give the same images.

Windows (`SliceOptions.window`), in modality units (HU for CT), DICOM's LINEAR function
(PS3.3 C.11.2.1.2.1: centre - width/2 black, centre + width/2 white):
- "" = the file's own: DICOM VOI LUT or first window per frame (through the 2-D rules; a
  reformatted coronal/sagittal slice takes the middle frame's), NIfTI cal_min/cal_max when set,
  else min-max over the slice (DICOM Pixel Padding excluded and shown black);
- a preset (`PRESETS`, values from Radiopaedia's "Windowing (CT)" table; C/W in HU): brain 40/80,
  subdural 80/200, stroke 40/40, lung -600/1500, mediastinum 50/350, abdomen 50/400, liver 30/150,
  bone 600/2800 (each preset's `source` says the row it comes from and the choice made in a range);
- "C/W", e.g. "-600/1500" (width >= 1);
- three of those comma-separated, "brain,subdural,bone": the R, G, B channels of one RGB image —
  the input of the leading RSNA 2019 Intracranial Hemorrhage Detection challenge solutions.
A window asked of a 2-D image without modality values (PNG, JPEG ...) is UNSUPPORTED_FORMAT; it
applies to a single-frame DICOM (a CT preset on one CT slice).

Limits (`DecodeLimits`, checked from headers before any pixel is decoded; TOO_LARGE names the
number and the limit): `max_volume_bytes` (1 GiB: the item, gzip output inflated under this cap —
a decompression bomb stops at cap + 1 bytes — and an archive's declared member sizes together,
read before extraction), `max_archive_members` (5000 files), `max_volume_slices` (1000 stacked
images: files/frames, the NIfTI's third dimension), `max_volume_voxels` (2^27 = 512^3); each
slice shown also meets the 2-D limits (min_side, max_aspect_ratio, max_pixels). A single-frame
item keeps `max_image_bytes`.
"""

from importlib.metadata import version as _version

from .decode import DecodedSlices, decode_slices
from .kinds import MULTIFRAME, NIFTI, SERIES, volume_kind
from .options import SliceOptions, Window, parse_window
from .presets import PRESETS, WindowPreset

VOLUME_RULES_VERSION = "1"


def volume_rules_identity() -> str:
    """The volume rules' version and nibabel's version: one line for the vector identity of
    volumes (the 2-D rules' line, `rules_identity()`, names the other decoder libraries)."""
    return f"volume-rules:{VOLUME_RULES_VERSION} nibabel:{_version('nibabel')}"


__all__ = ["MULTIFRAME", "NIFTI", "PRESETS", "SERIES", "VOLUME_RULES_VERSION", "DecodedSlices", "SliceOptions",
           "Window", "WindowPreset", "decode_slices", "parse_window", "volume_kind", "volume_rules_identity"]
