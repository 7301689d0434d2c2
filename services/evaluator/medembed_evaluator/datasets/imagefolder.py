"""Generic ImageFolder layout: one sub-folder per class, classes sorted by folder name.

Files are known by their content and hidden or system files and folders (`._*`, `.DS_Store`,
`.ipynb_checkpoints/`, `__MACOSX/`, `Thumbs.db`, `desktop.ini`) are never samples nor classes: the
client's rule (medembed_client.files), as `medembed embed DIR` follows it.

Segmentation masks saved beside the images (`*_mask.png`, `*_mask_1.png`, as in BUSI's public
download) are left out by default: counted as images of their class they would leak the label
into the probe. The loader logs how many it skipped; `keep_masks: true` keeps them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from medembed_client.files import folder_files, is_hidden_name
from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.files import class_folder_samples, is_segmentation_mask, require_dir
from medembed_evaluator.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageFolderOptions:
    """Options of the `imagefolder` kind."""

    classes: tuple[str, ...] = ()
    """Class folders to use, in label order; default: every sub-folder, sorted."""
    keep_masks: bool = False
    """Keep files named like segmentation masks (`*_mask.png`, `*_mask_1.png`) as images."""


def load_imagefolder(options: ImageFolderOptions, root: Path) -> Dataset:
    """One class per visible sub-folder of `root` (label = position among the classes), segmentation
    masks left out unless keep_masks. Raises DatasetError for a missing folder, no class folders, or an empty class.
    """
    require_dir(root, "imagefolder")
    classes = list(options.classes) or sorted(
        p.name for p in root.iterdir() if p.is_dir() and not is_hidden_name(p.name)
    )
    if not classes:
        raise DatasetError(f"imagefolder: no class sub-folders in {root}: put each class's images in a "
                           f"folder of its own ({root}/<class>/<image>)")
    exclude = None if options.keep_masks else is_segmentation_mask
    if exclude is not None:
        masks = sum(is_segmentation_mask(path) for name in classes if (root / name).is_dir()
                    for path in folder_files(root / name).samples)
        if masks:
            log.info("imagefolder %s: left out %d segmentation mask(s) (*_mask.png, *_mask_N.png); "
                     "dataset option keep_masks: true keeps them", root, masks)
    return Dataset("imagefolder", classes, class_folder_samples(root, classes, what="imagefolder", exclude=exclude))
