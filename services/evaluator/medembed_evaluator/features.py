"""Feature acquisition: the vectors of a dataset under one model, embedded chunk by chunk through
the encoder service (or computed here for raw-pixels) and kept in the feature store, so that
each chunk is computed once and a killed run resumes where it stopped.

The runner gets every (model, dataset) pair's features here, and the bias test its overlaid
images' features, through the same `ModelFeatures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import medembed_decode
from medembed_client import Client, EmbedError
from medembed_client.stopping import disk_full_line
from medembed_evaluator.datasets import Dataset
from medembed_evaluator.errors import DiskFull, EncoderUnavailable, EvaluatorError
from medembed_evaluator.feature_store import ChunkFeatures, DatasetFeatures, FeatureStore
from medembed_evaluator.pair_failure import PairFailed, PairFailure
from medembed_evaluator.plan.schema import ModelEntry
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.raw_pixels import DIM, raw_pixel_vector

CHUNK_ITEMS = 128
"""Images per stored chunk: the unit a resumed run skips or recomputes."""
TRANSIENT_CODES = {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}
"""gRPC codes that mean "try again later" rather than "this request is refused"."""

Embedder = Callable[[list[bytes], Mapping[str, str]], ChunkFeatures]
"""Encoded images and the dataset's volume options (Dataset.volume_options, {} for 2-D datasets) ->
their vectors [n, dim] float32 (NaN rows for failed items) and per-row errors."""
DatasetEmbedder = Callable[[Dataset], DatasetFeatures]
"""A dataset -> every vector of it under one model, in sample order."""


def raw_pixels_embedder(images: list[bytes], volume: Mapping[str, str]) -> ChunkFeatures:
    """The raw-pixels baseline's vectors (raw_pixels.raw_pixel_vector, DIM = 1024 each), a volume's
    slice chosen by `volume` as the encoder chooses it.

    Every failure is the item's own: a bomb or a corrupt file fails alone, as in the encoder.
    """
    vectors = np.full((len(images), DIM), np.nan, dtype=np.float32)
    errors = {}
    for row, data in enumerate(images):
        try:
            vectors[row] = raw_pixel_vector(data, volume=volume)
        except medembed_decode.DecodeError as exc:
            errors[row] = {"code": exc.kind.value, "message": str(exc)}
        except Exception as exc:  # a decoder bug: this item only, said as such
            errors[row] = {"code": "internal", "message": f"raw-pixels failed: {type(exc).__name__}: {exc}"}
    return ChunkFeatures(vectors, errors)


def service_embedder(client: Client, model: ModelEntry, expected: ModelProvenance) -> Embedder:
    """An Embedder calling the encoder behind `client` for `model` under `expected.embedding_spec`
    (the resolved spec, sent by name) at bulk priority.

    Each call raises EvaluatorError when the encoder's provenance no longer matches `expected`
    (the model's provenance at the start of the run), and medembed_client.EmbedError when the
    call itself fails.
    """
    def embed(images: list[bytes], volume: Mapping[str, str]) -> ChunkFeatures:
        result = client.embed(images, model.id, spec=expected.embedding_spec, priority="bulk", volume=volume)
        got = result.provenance
        if got is not None and not expected.matches(got):
            raise EvaluatorError(f"model {model.id!r} changed what shapes its vectors mid-run (vector identity "
                                 f"{expected.vector_identity} -> {got.vector_identity}); start the run again")
        errors = {row: {"code": e.code, "message": e.message} for row, e in result.errors.items()}
        return ChunkFeatures(result.vectors, errors)
    return embed


@dataclass(frozen=True)
class ModelFeatures:
    """Features of any dataset under one model, through the feature store: computed once, resumable.

    Calling it with a Dataset returns its DatasetFeatures. Raises PairFailed when the encoder
    refuses the dataset's images, EncoderUnavailable when it stays unreachable after retries
    (finished chunks are kept).
    """

    model: ModelEntry
    provenance: ModelProvenance
    embed: Embedder
    store: FeatureStore
    progress: bool

    @property
    def label(self) -> str:
        """The model's row label (ModelProvenance.row_label of its plan label)."""
        return self.provenance.row_label(self.model.label)

    def __call__(self, dataset: Dataset) -> DatasetFeatures:
        """Every vector of `dataset` under the model, in sample order."""
        bar = tqdm(total=len(dataset.samples), desc=f"{self.model.id} x {dataset.name}", unit="img",
                   disable=not self.progress)
        try:
            return stored_features(self.store, dataset, self.provenance, self.embed, bar.update)
        except EmbedError as exc:
            if exc.code not in TRANSIENT_CODES:
                raise PairFailed(PairFailure(self.model.id, self.label, dataset.name,
                                             f"encoder {self.model.target} refused it: {exc}",
                                             n_items=len(dataset.samples))) from None
            raise EncoderUnavailable(f"{self.model.id} on {dataset.name}: encoder {self.model.target} failed after "
                                     f"retries ({exc}); finished chunks are stored: run the same command again to "
                                     "continue") from None
        finally:
            bar.close()


def _pair_disk_full(full: DiskFull, provenance: ModelProvenance, dataset: Dataset, chunks_left: int,
                    chunks_stored: int) -> DiskFull:
    """`full`, told for the whole rest of the pair: its chunk's bytes times the chunks still to store."""
    needed = (full.needed_bytes or 0) * chunks_left
    folder = Path(full.folder)
    return DiskFull(full.folder, needed, f"{disk_full_line(folder, needed)} for the features of "
                                         f"{provenance.model_id} x {dataset.name} ({chunks_left} chunk(s) of "
                                         f"{CHUNK_ITEMS} images left; {chunks_stored} stored and kept); free space "
                                         "there (or pass --out on another disk) and run the same command again")


def stored_features(store: FeatureStore, dataset: Dataset, provenance: ModelProvenance, embed: Embedder,
                    done: Callable[[int], Any] = lambda _: None) -> DatasetFeatures:
    """All vectors of a pair, chunk by chunk (CHUNK_ITEMS images): a stored chunk is read back, a
    missing one embedded and stored; `done(n)` is told of every n images finished. Raises DiskFull
    (the folder, the bytes the pair's remaining chunks need) when the store's disk fills up."""
    directory = store.pair_dir(provenance, dataset.content_hash())
    parts, errors, reused = [], {}, 0
    starts = range(0, len(dataset.samples), CHUNK_ITEMS)
    for index, start in enumerate(starts):
        samples = dataset.samples[start:start + CHUNK_ITEMS]
        chunk = store.load_chunk(directory, index, len(samples))
        if chunk is None:
            chunk = embed([sample.load_bytes() for sample in samples], dataset.volume_options)
            try:
                store.save_chunk(directory, index, chunk, provenance)
            except DiskFull as full:
                raise _pair_disk_full(full, provenance, dataset, len(starts) - index, index) from None
        else:
            reused += 1
        done(len(samples))
        parts.append(chunk.vectors)
        errors.update({start + row: error for row, error in chunk.errors.items()})
    return DatasetFeatures(np.concatenate(parts), errors, reused)
