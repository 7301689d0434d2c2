"""The common dataset model every loader produces."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class NoOptions:
    """The options of loaders that take none: any option given is reported as unknown."""


@dataclass(frozen=True)
class Sample:
    """One image of a dataset: its key, integer label, metadata and a way to read its bytes."""

    key: str
    """Stable id within the dataset (a relative path, or e.g. "train/123")."""
    label: int
    metadata: Mapping[str, str]
    """Whatever the source records per image: patient, view, magnification, overlay_text ..."""
    load_bytes: Callable[[], bytes]
    """Encoded image bytes: the file as on disk, or PNG-encoded for array sources."""


@dataclass
class Dataset:
    """A named list of samples with class names (label i is class_names[i]), as every loader returns it."""

    name: str
    class_names: list[str]
    samples: list[Sample]
    volume_options: dict[str, str] = field(default_factory=dict)
    """What each volume sample yields, as the plan set it: `slices`, `axis`, `window` (only those
    given; datasets.volumes). Sent with every request of the dataset and part of its content hash;
    empty for 2-D datasets."""
    _content_hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.samples)

    def labels(self) -> np.ndarray:
        """Every sample's integer label [n] int64, in sample order."""
        return np.fromiter((s.label for s in self.samples), dtype=np.int64, count=len(self.samples))

    def class_counts(self) -> dict[str, int]:
        """Class name -> number of samples, every class listed (0 for an empty one)."""
        counts = np.bincount(self.labels(), minlength=len(self.class_names))
        return {name: int(counts[i]) for i, name in enumerate(self.class_names)}

    def content_hash(self) -> str:
        """sha256 over every sample's (key, label, sha256 of its bytes), in order, then the volume
        options when there are any (so two slice rules of one folder never share stored features;
        a 2-D dataset's hash is unchanged by them).

        Reads every image once; the result is cached on the instance.
        """
        if self._content_hash is None:
            digest = hashlib.sha256()
            for sample in self.samples:
                image_digest = hashlib.sha256(sample.load_bytes()).hexdigest()
                digest.update(f"{sample.key}\t{sample.label}\t{image_digest}\n".encode())
            if self.volume_options:
                options = " ".join(f"{name}={value}" for name, value in sorted(self.volume_options.items()))
                digest.update(f"volume\t{options}\n".encode())
            self._content_hash = digest.hexdigest()
        return self._content_hash


def without_empty_classes(name: str, class_names: Sequence[str], samples: Sequence[Sample]) -> Dataset:
    """A Dataset keeping only classes that have samples, labels renumbered in the same order."""
    present = sorted({s.label for s in samples})
    new_label = {old: new for new, old in enumerate(present)}
    return Dataset(
        name=name,
        class_names=[class_names[old] for old in present],
        samples=[replace(s, label=new_label[s.label]) for s in samples],
    )
