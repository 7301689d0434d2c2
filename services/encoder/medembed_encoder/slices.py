"""What a request with volume options carries through the pipeline, and how its vectors are cached.

A request that sets `EmbedRequest.volume` asks for slices of each item (README "Volumes"): the
decode stage yields the chosen slices' images (`medembed_decode.decode_slices`), each becomes a
model input, the batcher computes them beside every other item's, and the item's result holds one
row per slice — or one row, their mean, for `slices: mean` — with the slice indices behind the rows.

The cache stores such a result under the volume options' own vector identity
(medembed_proto.volume_identity) as one float32 array, header first so the value is self-describing:
`[rows, slice_count, n_indices, index_0 ... index_{n-1}, row_0 (dim floats) ... row_{rows-1}]`.
Integers are exact in float32 below 2**24, far above any slice limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

HEADER_FIELDS = 3  # rows, slice_count, n_indices


@dataclass(frozen=True)
class SliceInputs:
    """One item's model inputs: a preprocessed tensor per chosen slice, in slice order.

    `slices`: the 0-based indices along the axis behind the tensors; `slice_count`: the slices along
    the axis in the whole item; `pooled`: the item's result is the mean of the slices' vectors."""

    tensors: tuple[Any, ...]
    slices: tuple[int, ...]
    slice_count: int
    pooled: bool


@dataclass(frozen=True)
class SliceVectors:
    """One item's vectors under volume options: `rows` float32 [k, dim] (k = 1 when pooled), the
    slice indices behind them (every pooled slice when pooled) and the item's slice count."""

    rows: np.ndarray
    slices: tuple[int, ...]
    slice_count: int

    @classmethod
    def from_slice_vectors(cls, inputs: SliceInputs, vectors: list[np.ndarray]) -> "SliceVectors":
        """The item's result from its slices' [dim] vectors (in `inputs.slices` order): stacked, or
        their float32 mean when `inputs.pooled` (accumulated in float64)."""
        block = np.stack([np.asarray(v, dtype=np.float32) for v in vectors])
        if inputs.pooled:
            block = block.astype(np.float64).mean(axis=0, keepdims=True).astype(np.float32)
        return cls(block, inputs.slices, inputs.slice_count)

    def packed(self) -> np.ndarray:
        """The cache value as float32: header, slice indices, then the rows (module docstring)."""
        header = np.array([self.rows.shape[0], self.slice_count, len(self.slices), *self.slices], dtype=np.float32)
        return np.concatenate([header, self.rows.reshape(-1).astype(np.float32)])

    @classmethod
    def unpacked(cls, value: np.ndarray, dim: int) -> "SliceVectors | None":
        """The result a cache value holds, or None when the value is not one for vectors of `dim`
        (wrong layout or length, a header field that is not a whole number, non-finite rows)."""
        if value.ndim != 1 or value.size < HEADER_FIELDS:
            return None
        header = value[:HEADER_FIELDS]
        if not (np.isfinite(header).all() and (header >= 0).all() and (header == np.round(header)).all()):
            return None
        rows, slice_count, count = (int(x) for x in header)
        if rows < 1 or value.size != HEADER_FIELDS + count + rows * dim:
            return None
        indices = value[HEADER_FIELDS:HEADER_FIELDS + count]
        if not ((indices >= 0).all() and (indices == np.round(indices)).all() and (indices < slice_count).all()):
            return None
        block = value[HEADER_FIELDS + count:].reshape(rows, dim)
        if not np.isfinite(block).all():
            return None
        return cls(block, tuple(int(i) for i in indices), slice_count)


def checked_slice_vectors(values: dict[str, bytes], dim: int) -> tuple[dict[str, SliceVectors], dict[str, str]]:
    """The stored values that are volume results for vectors of `dim` (SliceVectors.unpacked), by
    digest, and `bad_layout` for each other one."""
    results: dict[str, SliceVectors] = {}
    problems: dict[str, str] = {}
    for digest, value in values.items():
        result = None if len(value) % 4 else SliceVectors.unpacked(np.frombuffer(value, dtype="<f4"), dim)
        if result is None:
            problems[digest] = "bad_layout"
        else:
            results[digest] = result
    return results, problems


def stored_value(vector: np.ndarray | SliceVectors) -> np.ndarray:
    """What the cache stores for a result: the [dim] vector, or a volume result packed (module docstring)."""
    return vector.packed() if isinstance(vector, SliceVectors) else vector
