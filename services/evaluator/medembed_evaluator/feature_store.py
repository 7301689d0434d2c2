"""Features on disk, per (model provenance, dataset content), in chunks written as they finish.

A killed run, started again, finds every finished chunk and computes only the rest. A chunk file
is written atomically, so a kill mid-write leaves no half chunk behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medembed_client.stopping import disk_full_line, is_disk_full
from medembed_evaluator.errors import DiskFull
from medembed_evaluator.paths import inside, path_component
from medembed_evaluator.provenance import ModelProvenance

NPZ_OVERHEAD_BYTES = 1024  # two .npy headers and the zip's local and central directory entries


@dataclass
class ChunkFeatures:
    """The vectors of one chunk of a dataset (CHUNK_ITEMS images or fewer), as embedded or stored."""

    vectors: np.ndarray  # [n, dim] float32, NaN rows for failed items
    errors: dict[int, dict[str, str]] = field(default_factory=dict)  # row in chunk -> {code, message}


@dataclass
class DatasetFeatures:
    """Every vector of one (model, dataset) pair, in sample order."""

    vectors: np.ndarray  # [n, dim] float32, NaN rows for failed items
    errors: dict[int, dict[str, str]]  # sample row -> {code, message}
    reused_chunks: int  # chunks found in the store rather than computed

    @property
    def usable(self) -> np.ndarray:
        """Boolean mask of the rows that embedded without error."""
        return np.array([row not in self.errors for row in range(len(self.vectors))], dtype=bool)


def chunk_bytes(chunk: ChunkFeatures) -> int:
    """About the bytes a chunk's .npz takes on disk: its vectors, its errors' JSON, the containers' headers."""
    # The errors' JSON is stored as a numpy unicode string: 4 bytes (UTF-32) a character.
    return chunk.vectors.nbytes + len(json.dumps(chunk.errors)) * 4 + NPZ_OVERHEAD_BYTES


class FeatureStore:
    """Features on disk under `root`: one folder per (model identity, dataset content), one .npz per
    chunk with its vectors and item errors, and the provenance.json it was computed under (a record
    for readers; the folder's name, ModelProvenance.store_key, is what a resumed run looks up).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def pair_dir(self, provenance: ModelProvenance, dataset_hash: str) -> Path:
        """One folder per pair under the root, MODEL/STORE_KEY-DATASET_HASH[:20]; a model id with '/' or
        '..' becomes one safe component."""
        model = path_component(provenance.model_id)
        return inside(self.root, self.root / model / f"{provenance.store_key()}-{dataset_hash[:20]}",
                      f"feature folder of model {provenance.model_id!r}")

    @staticmethod
    def _chunk_path(directory: Path, index: int) -> Path:
        return directory / f"chunk-{index:05d}.npz"

    def load_chunk(self, directory: Path, index: int, expected_rows: int) -> ChunkFeatures | None:
        """Chunk `index` of the pair folder `directory`, or None when it is not stored or holds a different
        number of rows than `expected_rows` (the chunking changed: recompute rather than misalign).
        """
        path = self._chunk_path(directory, index)
        if not path.is_file():
            return None
        with np.load(path) as stored:
            vectors = stored["vectors"]
            errors = {int(k): v for k, v in json.loads(str(stored["errors"])).items()}
        if len(vectors) != expected_rows:  # a chunking change: recompute rather than misalign
            return None
        return ChunkFeatures(vectors, errors)

    def save_chunk(self, directory: Path, index: int, chunk: ChunkFeatures, provenance: ModelProvenance) -> None:
        """Store chunk `index` atomically (a temporary file renamed into place) with the provenance beside it.

        Raises DiskFull (the folder and this chunk's bytes) when the disk or quota is full; the
        temporary file is removed, the chunks stored before are untouched."""
        path = self._chunk_path(directory, index)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "provenance.json").write_text(json.dumps(provenance.to_dict(), indent=1, sort_keys=True))
            np.savez(temporary, vectors=chunk.vectors, errors=np.array(json.dumps(chunk.errors)))
            temporary.replace(path)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            temporary.unlink(missing_ok=True)
            raise DiskFull(str(directory), chunk_bytes(chunk), disk_full_line(directory, chunk_bytes(chunk))) from None
