"""Volumes as samples: a folder per class of NIfTI files or DICOM series (the `volumes` kind).

Layout (dataset path = the folder of class folders; classes sorted by name unless `classes` says):

    <class>/<case>.nii | <case>.nii.gz        one sample: the file's bytes (NIfTI-1/2, raw or gzip)
    <class>/<case>.dcm | <case>               one sample: a DICOM file (multi-frame, e.g. Enhanced CT)
    <class>/<...>/<series folder>/<slices>    one sample: the DICOM files a folder holds directly,
                                              packed as one zip in memory (its files, sorted, stored)

A series folder is any folder below a class folder that directly holds DICOM files; the encoder
orders its slices by position along the slice normal (never by file name) and refuses a folder
that mixes series, naming their UIDs, as that sample's error. Files are known by their content
(medembed_client.files): DICOM without a suffix counts, a DICOMDIR never does, hidden and system
files and folders never do; other files (PNG, notes) are left out and counted in the log.

What each sample yields is the plan's `slices`, `axis` and `window` (DatasetVolumeOptions), kept on
the Dataset as `volume_options` for the requests and in its content hash, so two slice rules of
one folder never share stored features. A probe needs one vector per sample: `slices` is the
middle slice (default), `index:N` or `mean` (the slices' vectors averaged); `all` and `every:K`,
which give several vectors per sample, are refused here.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from medembed_client.files import folder_files, is_hidden_name, sniff_file
from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.datasets.files import require_dir, sample_key
from medembed_evaluator.errors import DatasetError

log = logging.getLogger(__name__)
PROBE_RULES = ("middle", "index:N", "mean")
"""Slice rules that give one vector per sample (a probe's need); "" is the default, the middle slice."""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed member time: the same folder always packs to the same bytes


@dataclass(frozen=True)
class VolumeOptions:
    """Options of the `volumes` kind: the class folders, and what each volume yields (sent with
    every request; medembed_decode.volume.SliceOptions reads them on the server)."""

    classes: tuple[str, ...] = ()
    """Class folders to use, in label order; default: every visible sub-folder, sorted."""
    slices: str = ""
    """Slice rule: "" or "middle" (the middle slice), "index:N" (slice N), "mean" (every slice's
    vector, averaged by the encoder)."""
    axis: str = ""
    """"" (axial), "axial", "coronal" or "sagittal": anatomical, from the volume's orientation."""
    window: str = ""
    """"" (the file's own window, else min-max), a CT preset name ("lung", "brain" ...), "C/W" in HU
    ("-600/1500"), or three of those comma-separated as the R, G, B channels ("brain,subdural,bone")."""

    def volume_options(self) -> dict[str, str]:
        """The options set, canonical, as sent with each request: keys among `slices`, `axis`,
        `window`; {} when all are default. Raises DatasetError naming the option for a value the
        encoder would refuse or a rule giving several vectors per sample."""
        rule = "".join(self.slices.split()).lower()
        kind, _, number = rule.partition(":")
        if not (rule in ("", "middle", "mean") or (kind == "index" and number.isdigit())):
            raise DatasetError(f"volumes: slices {self.slices!r}: a probe needs one vector per sample; use "
                               f"{', '.join(PROBE_RULES)} (N >= 0), or leave it empty for the middle slice")
        options = {"slices": self.slices, "axis": self.axis, "window": self.window}
        canonical = _canonical(options)
        return {name: value for name, value in canonical.items() if value}


def load_volumes(options: VolumeOptions, root: Path) -> Dataset:
    """One class per visible sub-folder of `root`, one sample per NIfTI file, DICOM file or DICOM
    series folder in it (see the module docstring). Raises DatasetError for a missing folder, no
    class folders, a class without volumes, or options the encoder would refuse.
    """
    require_dir(root, "volumes")
    volume_options = options.volume_options()
    classes = list(options.classes) or sorted(
        p.name for p in root.iterdir() if p.is_dir() and not is_hidden_name(p.name))
    if not classes:
        raise DatasetError(f"volumes: no class sub-folders in {root}: put each class's volumes in a folder of "
                           f"its own ({root}/<class>/<case>.nii.gz or {root}/<class>/<series folder>/<DICOM files>)")
    samples: list[Sample] = []
    for label, class_name in enumerate(classes):
        folder = require_dir(root / class_name, "volumes")
        found = class_samples(folder, root, label)
        if not found:
            raise DatasetError(f"volumes: no volumes in folder {folder} (NIfTI files .nii/.nii.gz, DICOM files, "
                               "or folders of a DICOM series' files; hidden and system files never count)")
        samples.extend(found)
    return Dataset("volumes", classes, samples, volume_options=volume_options)


def class_samples(folder: Path, root: Path, label: int) -> list[Sample]:
    """The samples of one class folder, sorted by key: NIfTI and DICOM files directly in it, and
    each folder below it that holds DICOM files as one packed series. Logs what was left out."""
    found = folder_files(folder)
    for skip in found.skipped:
        log.info("volumes %s: skipped %s: %s", folder, skip.path.relative_to(folder).as_posix(), skip.reason)
    if summary := found.summary(folder):
        log.info("volumes %s: %s", folder, summary)
    singles: list[Path] = []
    series: dict[Path, list[Path]] = defaultdict(list)
    others = 0
    for path in found.samples:
        form = _form(path)
        if form == "nifti" or (form == "dicom" and path.parent == folder):
            singles.append(path)
        elif form == "dicom":
            series[path.parent].append(path)
        else:
            others += 1
    if others:
        log.info("volumes %s: left out %d image(s) that are neither NIfTI nor DICOM", folder, others)
    samples = [Sample(key=sample_key(path, root), label=label, metadata={"form": _form(path)},
                      load_bytes=partial(Path.read_bytes, path)) for path in singles]
    samples += [Sample(key=sample_key(series_folder, root), label=label,
                       metadata={"form": "dicom-series", "files": str(len(files))},
                       load_bytes=partial(pack_series, series_folder, tuple(files)))
                for series_folder, files in series.items()]
    return sorted(samples, key=lambda s: s.key)


def pack_series(folder: Path, files: tuple[Path, ...]) -> bytes:
    """The files of one DICOM series as one zip (stored, not compressed: DICOM pixels compress
    poorly and the encoder inflates nothing), members named by their path below `folder`, sorted,
    with a fixed time so the same files always give the same bytes (and the same cache entry)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(files, key=lambda p: sample_key(p, folder)):
            archive.writestr(zipfile.ZipInfo(sample_key(path, folder), date_time=_ZIP_DATE), path.read_bytes())
    return buffer.getvalue()


def _form(path: Path) -> str:
    """"nifti", "dicom" or "other" for a sample file, by content, else by its suffix."""
    try:
        kind = sniff_file(path) or ""
    except OSError:
        kind = ""
    lower = path.name.lower()
    if kind.startswith("NIfTI") or (not kind and lower.endswith((".nii", ".nii.gz"))):
        return "nifti"
    if kind == "DICOM" or (not kind and lower.endswith(".dcm")):
        return "dicom"
    return "other"


def _canonical(options: dict[str, str]) -> dict[str, str]:
    """The options as the encoder's parser writes them (medembed_decode.volume.SliceOptions.parse);
    DatasetError naming the option for a value it refuses."""
    try:
        from medembed_decode.volume import SliceOptions
    except ImportError:
        if any(options.values()):
            raise DatasetError("volumes: this install's medembed-decode reads no volumes (no medembed_decode.volume):"
                               " install the medembed-decode of this release") from None
        return options
    try:
        parsed = SliceOptions.parse(options["slices"], options["axis"], options["window"])
    except ValueError as exc:
        raise DatasetError(f"volumes: {exc}") from None
    return {"slices": parsed.rule, "axis": parsed.axis, "window": parsed.window}
