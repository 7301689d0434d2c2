"""One served model: its weights on the device, its forward threads, its batchers (one per spec).

`ModelRuntime.start` makes one batcher per spec, each with its spec and `ModelRuntime.forward`;
`ModelRuntime.submit` is the only way into compute: the pipeline hands it preprocessed items and
gets one future per item back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from .batcher import BatchLimits, DynamicBatcher, QueueBudget
from .families import LoadedEncoder
from .identity import vector_identities
from .logs import event
from .metrics import EncoderMetrics

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
CHUNK_CANDIDATES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TUNE_BUDGET_S = 1.0  # the search stops once it has spent this long (a model's warm-up, not a benchmark)


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda when a GPU is visible, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """fp32 on CPU; on GPU bf16 where supported, else fp16 (autocast: weights stay fp32)."""
    if name != "auto":
        return DTYPES[name]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass(frozen=True)
class ComputeLayout:
    """How a model's forwards share the machine.

    workers: batches computing at the same time (threads). intra_op_threads: torch's threads
    inside one forward (process-wide). chunk: items per forward call; 0 = tuned at warm-up on a
    CPU (the fastest per image), the batch cap on a GPU.
    """

    workers: int
    intra_op_threads: int
    chunk: int

    @classmethod
    def resolve(cls, device: torch.device, workers: int, intra_op_threads: int, chunk: int) -> "ComputeLayout":
        """0 means auto: on a CPU two workers sharing the cores (on 2 cores the service then ran
        1.88x an in-process two-thread forward, `make bench-encoder`), on a GPU two workers so one
        batch's collate and copy overlap the other's forward."""
        cores = os.cpu_count() or 1
        workers = workers or (min(2, cores) if device.type == "cpu" else 2)
        intra_op_threads = intra_op_threads or max(1, cores // workers)
        return cls(workers, intra_op_threads, chunk)


class ModelRuntime:
    """A loaded encoder on its device with its batchers; thread-safe for concurrent batches."""

    def __init__(self, encoder: LoadedEncoder, device: torch.device, dtype: torch.dtype,
                 limits: BatchLimits, metrics: EncoderMetrics, layout: ComputeLayout | None = None) -> None:
        self.encoder = encoder
        self.model_id = encoder.entry.id
        self.device = device
        self.dtype = dtype
        self.vector_identities = vector_identities(encoder, device, dtype)  # spec -> identity
        self.limits = limits
        self.layout = layout or ComputeLayout(1, torch.get_num_threads(), 0)
        self.metrics = metrics
        self.budget = QueueBudget(self.model_id, limits.max_queue_items, metrics)
        self.executor = ThreadPoolExecutor(max_workers=self.layout.workers,
                                           thread_name_prefix=f"forward-{self.model_id}")
        self.batch_cap = min(limits.max_batch_size, self.layout.chunk or limits.max_batch_size)
        self._batchers: dict[str, DynamicBatcher] = {}
        metrics.batch_cap.labels(self.model_id).set(self.batch_cap)

    @property
    def dtype_name(self) -> str:
        """The compute dtype's name: float32, float16 or bfloat16."""
        return str(self.dtype).removeprefix("torch.")

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The model's own preprocessing: decoded PIL image (L or RGB) -> [C, H, W] (or the family's item)."""
        return self.encoder.preprocess(image)

    def start(self) -> None:
        """One batcher per spec, started on the running event loop; call after warm_up (a batch is
        at most the tuned chunk, so concurrent workers share the work instead of one worker running
        a long batch chunk by chunk while the other idles)."""
        limits = replace(self.limits, max_batch_size=self.batch_cap)
        for spec in self.encoder.specs:
            batcher = DynamicBatcher(self.model_id, spec, self.forward, self.executor, limits, self.metrics,
                                     workers=self.layout.workers)
            batcher.start()
            self._batchers[spec] = batcher

    def submit(self, items: Sequence[torch.Tensor], spec: str, deadline: float | None,
               bulk: bool) -> list[asyncio.Future[np.ndarray]]:
        """Queue preprocessed items for `spec` (a resolved spec; `start` must have run); each future
        gets a [dim] float32 vector, or batcher.ItemExpired, or the forward's exception. `deadline`
        is event-loop time."""
        return self._batchers[spec].submit(items, deadline, bulk)

    def forward(self, tensors: Sequence[torch.Tensor], spec: str) -> np.ndarray:
        """Embed a batch ([N] items -> [N, dim] float32) in chunks of at most batch_cap; on CUDA
        OOM halve the cap and retry. Runs in a forward thread, never on the event loop."""
        outputs = []
        start = 0
        while start < len(tensors):
            chunk = tensors[start:start + self.batch_cap]
            try:
                outputs.append(self._forward_chunk(chunk, spec))
            except torch.cuda.OutOfMemoryError:
                if self.batch_cap == 1:
                    raise
                torch.cuda.empty_cache()
                self.batch_cap = max(1, self.batch_cap // 2)
                self.metrics.oom_splits.labels(self.model_id).inc()
                self.metrics.batch_cap.labels(self.model_id).set(self.batch_cap)
                event(log, "cuda_oom_batch_halved", logging.WARNING, model=self.model_id, batch_cap=self.batch_cap)
                continue
            start += len(chunk)
        return np.concatenate(outputs, axis=0)

    def _forward_chunk(self, chunk: Sequence[torch.Tensor], spec: str) -> np.ndarray:
        batch = self.encoder.collate(chunk, self.device)
        autocast = (torch.autocast(self.device.type, dtype=self.dtype)
                    if self.dtype != torch.float32 else nullcontext())
        with torch.inference_mode(), autocast:
            vectors = self.encoder.specs[spec](batch)
        return vectors.reshape(len(chunk), -1).float().cpu().numpy()

    def warm_up(self) -> None:
        """One full forward through every spec so the first real request pays no lazy init; then,
        on a CPU with chunk = auto, the chunk size that is fastest per image."""
        image = Image.new("RGB", (self.encoder.input_size, self.encoder.input_size), (128, 128, 128))
        tensor = self.preprocess(image)
        for spec in self.encoder.specs:
            self.forward([tensor], spec)
        if self.layout.chunk == 0 and self.device.type == "cpu":
            self._tune_chunk(tensor)

    def _tune_chunk(self, tensor: torch.Tensor) -> None:
        spec = self.encoder.default_spec
        rates: dict[int, float] = {}
        search_started = time.perf_counter()
        for chunk in (c for c in CHUNK_CANDIDATES if c <= self.limits.max_batch_size):
            self._forward_chunk([tensor] * chunk, spec)  # a new shape's first call pays one-off set-up
            started = time.perf_counter()
            self._forward_chunk([tensor] * chunk, spec)
            rates[chunk] = chunk / (time.perf_counter() - started)
            if time.perf_counter() - search_started > TUNE_BUDGET_S:
                break
        if len(rates) > 1:  # one sample says nothing about batching: keep the cap
            self.batch_cap = max(rates, key=rates.__getitem__)
            self.metrics.batch_cap.labels(self.model_id).set(self.batch_cap)
        event(log, "forward_chunk_tuned", model=self.model_id, chunk=self.batch_cap,
              workers=self.layout.workers, intra_op_threads=self.layout.intra_op_threads,
              items_per_second={str(c): round(r, 1) for c, r in rates.items()})

    def stalled(self, stall_seconds: float) -> bool:
        """True when a batcher has items waiting and no batch finished for stall_seconds."""
        return any(b.stalled(stall_seconds) for b in self._batchers.values())

    async def stop(self) -> None:
        """Stop the batchers and the forward threads."""
        for batcher in self._batchers.values():
            await batcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
