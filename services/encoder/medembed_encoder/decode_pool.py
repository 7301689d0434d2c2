"""Decoding in worker processes, each item under a time budget.

A thread cannot be stopped, so a decoder stuck on a hostile input would hold a thread for good. In
a process it can be: pebble's ProcessPool kills the worker whose item passed its budget and starts
another, and the item fails alone with `timeout`. Workers live as long as the server (no process
per item); each takes the raw bytes and gives back the decoded uint8 array. The model's
preprocessing stays in the server's threads.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
from collections.abc import Callable
from typing import Any, TypeVar

import pebble
from PIL import Image

from medembed_decode import Decoded, DecodeError, DecodeErrorKind, DecodeLimits
from medembed_decode.volume import DecodedSlices, SliceOptions, decode_slices

T = TypeVar("T")
DEFAULT_SLICES = SliceOptions()


def decode_item(data: bytes, limits: DecodeLimits) -> Decoded:
    """One item without volume options: a 2-D item as medembed_decode.decode reads it, a volume's
    default slice (the middle one; a multi-frame DICOM file's first frame). Raises DecodeError."""
    decoded = decode_slices(data, DEFAULT_SLICES, limits)
    (image,) = decoded.images
    return Decoded(image.pixels, image.notes + decoded.notes) if decoded.notes else image


class DecodeTimeout(Exception):
    """The item took longer than its decode budget; its worker was stopped and replaced."""


class DecodePool:
    """`workers` decode processes (pebble, forkserver context) that turn an item's bytes into its
    Decoded uint8 pixels, each item within `timeout_s` seconds."""

    def __init__(self, workers: int, timeout_s: float) -> None:
        # forkserver: workers fork from a small clean process, never from this threaded server
        # (fork with live gRPC threads is unsafe), and a replacement after a timeout starts fast.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["medembed_decode"])
        self.workers = workers
        self.timeout_s = timeout_s
        self._pool = pebble.ProcessPool(max_workers=workers, context=context)

    async def decode(self, data: bytes, limits: DecodeLimits) -> Decoded:
        """One image (decode_item). Raises DecodeError (the input's fault) or DecodeTimeout."""
        return await self._run(decode_item, data, limits)

    async def decode_slices(self, data: bytes, options: SliceOptions, limits: DecodeLimits) -> DecodedSlices:
        """The slices `options` choose (medembed_decode.volume.decode_slices), within the same time
        budget as one image. Raises DecodeError or DecodeTimeout."""
        return await self._run(decode_slices, data, options, limits)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        future = self._pool.schedule(function, args=args, timeout=self.timeout_s)
        try:
            return await asyncio.wrap_future(future)
        except TimeoutError:
            raise DecodeTimeout(f"decoding took longer than decode_timeout_s = {self.timeout_s:g} s; "
                                "the decoder was stopped") from None
        except pebble.ProcessExpired as exc:
            # Only the decoder runs there, and only on this item: a crash is the input's doing.
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"the decoder crashed on this item (worker exit code {exc.exitcode})") from None

    async def warm_up(self) -> None:
        """Start every worker (and the fork server's imports) before the server reports SERVING."""
        buffer = io.BytesIO()
        Image.new("L", (8, 8)).save(buffer, format="PNG")
        await asyncio.gather(*(self.decode(buffer.getvalue(), DecodeLimits()) for _ in range(self.workers)))

    def close(self) -> None:
        """Stop the workers without running pending items and wait for them to exit (blocks: call it from
        a thread in async code)."""
        self._pool.stop()
        self._pool.join(timeout=5)
