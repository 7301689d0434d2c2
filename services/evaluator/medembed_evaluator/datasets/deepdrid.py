"""DeepDRiD regular fundus images, 5 DR grades (0-4).

Release layout: `regular_fundus_images/regular-fundus-{training,validation}/` with
`regular-fundus-<split>.csv` and `Images/<patient_id>/<image_id>.jpg`. Each CSV row is one image of
one eye: that eye's column (`left_eye_DR_Level` / `right_eye_DR_Level`) holds its grade, the other
is blank, and `patient_DR_Level` is the worse of the two eyes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.datasets.files import file_sample, read_csv_rows, require_dir
from medembed_evaluator.errors import DatasetError

DEEPDRID_CLASSES = ("0", "1", "2", "3", "4")
UNGRADABLE = 5
COLUMNS = ("patient_id", "image_id", "image_path", "left_eye_DR_Level", "right_eye_DR_Level", "patient_DR_Level")


@dataclass(frozen=True)
class DeepDridOptions:
    """Options of the `deepdrid` kind."""

    splits: tuple[str, ...] = ("training",)
    """Which labelled folds to include: training and/or validation."""


def load_deepdrid(options: DeepDridOptions, root: Path) -> Dataset:
    """DeepDRiD's regular fundus images under `root`: one sample per graded eye image, label = its DR
    grade 0-4 (ungradable images left out), metadata patient, eye and split. Raises DatasetError
    for a missing folder or CSV column, or a row whose grade or image cannot be read.
    """
    regular = root if root.name == "regular_fundus_images" else root / "regular_fundus_images"
    require_dir(regular, "deepdrid")
    samples: list[Sample] = []
    for split in options.splits:
        split_dir = require_dir(regular / f"regular-fundus-{split}", "deepdrid")
        images_dir = require_dir(split_dir / "Images", "deepdrid")
        csv_path = split_dir / f"regular-fundus-{split}.csv"
        for line, row in enumerate(read_csv_rows(csv_path, COLUMNS, what="deepdrid"), start=2):
            eye, grade = _eye_grade(row, csv_path, line)
            if grade == UNGRADABLE:
                continue
            image = _resolve_image(images_dir, row, csv_path, line)
            metadata = {"patient": row["patient_id"], "eye": eye, "split": split}
            samples.append(
                file_sample(image, key=image.relative_to(regular).as_posix(), label=grade, metadata=metadata)
            )
    if not samples:
        raise DatasetError(f"deepdrid: no graded images in {regular} for splits {', '.join(options.splits)}")
    return Dataset("deepdrid", list(DEEPDRID_CLASSES), samples)


def _eye_grade(row: dict[str, str], csv_path: Path, line: int) -> tuple[str, int]:
    left, right = row["left_eye_DR_Level"], row["right_eye_DR_Level"]
    if left and not right:
        eye, value = "left", left
    elif right and not left:
        eye, value = "right", right
    else:
        eye, value = "", row["patient_DR_Level"]
    try:
        grade = int(float(value))
    except ValueError:
        raise DatasetError(f"deepdrid: {csv_path} line {line}: no DR level (got {value!r})") from None
    if not 0 <= grade <= UNGRADABLE:
        raise DatasetError(f"deepdrid: {csv_path} line {line}: DR level {grade} outside 0-5")
    return eye, grade


def _resolve_image(images_dir: Path, row: dict[str, str], csv_path: Path, line: int) -> Path:
    # image_path starts with a folder that does not exist in the release (e.g. \regular-fundus-training\),
    # and some files are stored without the "<patient_id>_" prefix their image_id has.
    parts = PurePosixPath(row["image_path"].replace("\\", "/").strip("/")).parts
    candidates = [images_dir.joinpath(*parts[1:])] if len(parts) > 1 else []
    candidates.append(images_dir / row["patient_id"] / f"{row['image_id']}.jpg")
    candidates += [c.with_name(c.name.split("_", 1)[-1]) for c in candidates]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(f"deepdrid: {csv_path} line {line}: image not found: {candidates[0]}")
