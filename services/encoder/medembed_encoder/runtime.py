"""One served model: its weights on the device, its worker thread, its batchers (one per spec)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

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


def resolve_device(name: str) -> torch.device:
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


class ModelRuntime:
    def __init__(self, encoder: LoadedEncoder, device: torch.device, dtype: torch.dtype,
                 limits: BatchLimits, metrics: EncoderMetrics) -> None:
        self.encoder = encoder
        self.model_id = encoder.entry.id
        self.device = device
        self.dtype = dtype
        self.vector_identities = vector_identities(encoder, device, dtype)  # spec -> identity
        self.limits = limits
        self.metrics = metrics
        self.budget = QueueBudget(self.model_id, limits.max_queue_items, metrics)
        # One thread: forwards of one model never run concurrently on the device.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"forward-{self.model_id}")
        self.batch_cap = limits.max_batch_size
        self._batchers: dict[str, DynamicBatcher] = {}
        metrics.batch_cap.labels(self.model_id).set(self.batch_cap)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.encoder.preprocess(image)

    def batcher(self, spec: str) -> DynamicBatcher:
        batcher = self._batchers.get(spec)
        if batcher is None:
            batcher = DynamicBatcher(self.model_id, lambda tensors: self.forward(tensors, spec),
                                     self.executor, self.limits, self.metrics)
            batcher.start()
            self._batchers[spec] = batcher
        return batcher

    def forward(self, tensors: Sequence[torch.Tensor], spec: str) -> np.ndarray:
        """Embed a batch in chunks of at most batch_cap; on CUDA OOM halve the cap and retry."""
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
        """One full forward through every spec so the first real request pays no lazy init."""
        image = Image.new("RGB", (self.encoder.input_size, self.encoder.input_size), (128, 128, 128))
        tensor = self.preprocess(image)
        for spec in self.encoder.specs:
            self.forward([tensor], spec)

    def stalled(self, stall_seconds: float) -> bool:
        return any(b.stalled(stall_seconds) for b in self._batchers.values())

    async def stop(self) -> None:
        for batcher in self._batchers.values():
            await batcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
