"""The decode-and-preprocess stage: an item's bytes to its model inputs.

Bytes become pixels in a decode process (decode_pool), then the model's own preprocessing runs in
a thread; under volume options every chosen slice is preprocessed (slices.SliceInputs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor

from medembed_decode import DecodeError, DecodeLimits
from medembed_proto.v1 import encoder_pb2 as pb

from .decode_pool import DecodePool, DecodeTimeout
from .items import ITEM_CODES, ByDigest, ItemRecord
from .logs import event
from .metrics import EncoderMetrics
from .request import EmbedCall
from .slices import SliceInputs

log = logging.getLogger("medembed_encoder.pipeline")  # decode_fallback lines keep the logger they had


class ModelInputs:
    """Decode processes plus preprocessing threads, shared by every request."""

    def __init__(self, decoder: DecodePool, threads: Executor, limits: DecodeLimits, metrics: EncoderMetrics) -> None:
        self._decoder = decoder
        self._threads = threads
        self._limits = limits
        self._metrics = metrics

    async def prepare(self, call: EmbedCall, leading: ByDigest) -> ByDigest:
        """Each record preprocessed (`tensor` set) or settled with its fault (decode_error,
        unsupported_format, too_large, too_small, timeout, internal), by digest; all at once."""
        records = await asyncio.gather(*(self._timed(call, record) for record in leading.values()))
        return dict(zip(leading, records, strict=True))

    async def _timed(self, call: EmbedCall, record: ItemRecord) -> ItemRecord:
        started = time.perf_counter()
        try:
            return await self._to_inputs(call, record)
        finally:
            self._metrics.preprocess.labels(call.runtime.model_id).observe(time.perf_counter() - started)

    async def _to_inputs(self, call: EmbedCall, record: ItemRecord) -> ItemRecord:
        runtime = call.runtime
        try:
            if call.sliced:
                slices = await self._decoder.decode_slices(record.data, call.volume, self._limits)
                images, notes = slices.images, slices.notes + tuple(n for image in slices.images for n in image.notes)
            else:
                decoded = await self._decoder.decode(record.data, self._limits)
                images, notes = (decoded,), decoded.notes
        except DecodeError as exc:
            return record.failed(ITEM_CODES[exc.kind], str(exc))
        except DecodeTimeout as exc:
            self._metrics.decode_workers_replaced.inc()
            return record.failed(pb.ITEM_CODE_TIMEOUT, str(exc))
        except Exception as exc:  # the pool itself failed: this item only
            return record.failed(pb.ITEM_CODE_INTERNAL, f"decode failed: {type(exc).__name__}: {exc}")
        for note in notes:
            self._metrics.decode_fallbacks.labels(runtime.model_id).inc()
            event(log, "decode_fallback", logging.WARNING, model=runtime.model_id, index=record.index,
                  note=note, sha256=record.sha256[:16])
        loop = asyncio.get_running_loop()
        try:
            tensors = await asyncio.gather(*(loop.run_in_executor(self._threads, runtime.preprocess, image.image())
                                             for image in images))
        except Exception as exc:  # a preprocessing bug must fail this item only
            return record.failed(pb.ITEM_CODE_INTERNAL, f"preprocessing failed: {type(exc).__name__}: {exc}")
        if not call.sliced:
            return record.preprocessed(tensors[0])
        return record.preprocessed(SliceInputs(tuple(tensors), slices.slice_indices, slices.slice_count,
                                               call.volume.pooled))
