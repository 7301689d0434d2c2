"""AsyncClient: chunked, concurrent, retrying embedding calls on grpc.aio."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Never, TypeVar

import grpc
from google.protobuf.message import Message
from tqdm import tqdm

from medembed_proto.security import PLAINTEXT, ChannelSecurity, aio_channel
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

from .inputs import ImageInput, to_bytes
from .models import ModelInfo, ServerLimits
from .results import EmbedError, EmbedResult, ItemError, ResultAssembler
from .retry import RetryBudget, RetryPolicy
from .stream import embed_over_streams
from .volume import volume_message

DEFAULT_TARGET = "localhost:50051"
PRIORITIES = {"online": pb.PRIORITY_ONLINE, "bulk": pb.PRIORITY_BULK}
LOOKUP_RUN_BYTES = 16 << 20  # image bytes hashed per digest lookup (about 11 ms of sha256 here)
RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)


def channel_options(max_message_bytes: int) -> list[tuple[str, object]]:
    """gRPC channel options: messages up to `max_message_bytes` both ways, and round_robin over
    every address the target resolves to (several replicas)."""
    return [("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.lb_policy_name", "round_robin")]


async def content_digests(datas: Sequence[bytes]) -> list[str]:
    """Hex sha256 of each item, off the event loop (one thread: on this project's machines a
    second one hashed no faster)."""
    return await asyncio.to_thread(lambda: [hashlib.sha256(data).hexdigest() for data in datas])


@dataclass(frozen=True)
class RequestCaps:
    """How big one request may be: the client's settings lowered to the server's caps."""

    items: int  # per request
    bytes: int  # image bytes per request
    image_bytes: int  # per item; 0 = unknown (a server that does not say)
    digest_lookup: bool  # the server answers items sent as their digest alone
    lookup_items: int  # digests per lookup request: the server's item cap


def plan_chunks(sizes: Sequence[int], max_items: int, max_bytes: int) -> list[tuple[int, int]]:
    """Split items into [start, end) runs of at most max_items and (unless one item alone is
    bigger) max_bytes, so no request trips the server's caps: a big item travels alone."""
    chunks, start, used = [], 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= max_items or used + size > max_bytes):
            chunks.append((start, index))
            start, used = index, 0
        used += size
    if start < len(sizes):
        chunks.append((start, len(sizes)))
    return chunks


class AsyncClient:
    """Embeds images with the encoder at `target` (HOST:PORT, or any gRPC target) on grpc.aio.

    `timeout_s` bounds each call, retries included: RESOURCE_EXHAUSTED and UNAVAILABLE are tried
    again with jittered backoff until it runs out (`retry` can cap the tries). A call's images go
    out in requests of at most `chunk_size` items and `chunk_bytes` image bytes (lowered to the
    server's caps), `max_concurrency` of them in flight. `max_message_bytes` caps one gRPC message
    either way. `security` picks TLS, mutual TLS and the bearer token (default: plaintext, no
    token). `digest_first` (default on, used where the server offers it): items are first sent as
    their sha256 alone and only the bytes of those not in the server's cache travel, so a cached
    call moves kilobytes, not images. Calls raise EmbedError when the whole call fails; use it as
    `async with`, or `close()`.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout_s: float = 300.0, chunk_size: int = 64,
                 chunk_bytes: int = 16 * 2**20, max_concurrency: int = 4, retry: RetryPolicy | None = None,
                 max_message_bytes: int = 256 * 2**20, security: ChannelSecurity = PLAINTEXT,
                 digest_first: bool = True) -> None:
        self.target = target
        self.digest_first = digest_first
        self.timeout_s = timeout_s
        self.chunk_size = chunk_size
        self.chunk_bytes = chunk_bytes
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self._metadata = security.metadata()
        self._channel = aio_channel(target, security, channel_options(max_message_bytes))
        self._stub = pb_grpc.EncoderStub(self._channel)
        self._server_limits: ServerLimits | None = None
        self._models: dict[str, ModelInfo] = {}

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel; calls still in flight fail."""
        await self._channel.close()

    async def _call(self, method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ResponseT], request: RequestT
                    ) -> ResponseT:
        budget = RetryBudget(self.retry, self.timeout_s)
        while True:
            try:
                return await method(request, timeout=max(budget.remaining(), 0.001), metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                if not await budget.retry_after(exc.code(), exc.details() or ""):
                    raise EmbedError.from_rpc(exc, budget.summary()) from None

    async def list_models(self) -> list[ModelInfo]:
        """The models the server hosts, in its order (ListModels); also refreshes the server's
        request caps (`server_limits`). Raises EmbedError when the server cannot be reached in
        `timeout_s`, retries included."""
        response = await self._call(self._stub.ListModels, pb.ListModelsRequest())
        models = [ModelInfo.from_proto(model) for model in response.models]
        self._server_limits = ServerLimits.from_proto(response.limits)
        self._models = {model.id: model for model in models}
        return models

    async def server_limits(self) -> ServerLimits:
        """The server's request caps, as the last `list_models` read them (asking it once when no
        call did yet). Raises EmbedError like `list_models`."""
        if self._server_limits is None:
            await self.list_models()
        assert self._server_limits is not None
        return self._server_limits

    async def _request_caps(self) -> RequestCaps:
        """Items and bytes per request: the client's own settings, lowered to the server's caps."""
        limits = await self.server_limits()
        items = min(self.chunk_size, limits.max_items_per_request or self.chunk_size)
        size = min(self.chunk_bytes, limits.max_request_bytes or self.chunk_bytes)
        return RequestCaps(items, size, limits.max_image_bytes, limits.digest_lookup,
                           limits.max_items_per_request or items)

    def _dim(self, model: str, spec: str) -> int:
        info = self._models.get(model)
        if info is None:
            return 0
        found = info.spec(spec)
        return found.dim if found is not None else info.dim

    async def _plan(self, datas: list[bytes], assembler: ResultAssembler, template: pb.EmbedRequest,
                    skip_cache: bool) -> tuple[list[int], list[tuple[int, int]], bool]:
        """The items whose bytes must be sent, their requests as [start, end) runs over that list
        sized to the server's caps, and whether those requests may skip the cache read. Items over
        the server's max_image_bytes fail here as too_large, never sent; with digest-first on,
        items the server has cached are answered by their digest alone and are not sent either
        (the rest were just looked up, so their requests skip a second read)."""
        caps = await self._request_caps()
        sendable = []
        for index, data in enumerate(datas):
            if caps.image_bytes and len(data) > caps.image_bytes:
                assembler.fail(index, ItemError("too_large", f"{len(data)} bytes is over the server's "
                                                f"max_image_bytes = {caps.image_bytes}; not sent"),
                               hashlib.sha256(data).hexdigest())
            else:
                sendable.append(index)
        looked_up = self.digest_first and not skip_cache and caps.digest_lookup and bool(sendable)
        if looked_up:
            sendable = await self._answer_cached(datas, sendable, assembler, caps, template)
        return sendable, plan_chunks([len(datas[i]) for i in sendable], caps.items, caps.bytes), looked_up

    async def _answer_cached(self, datas: list[bytes], sendable: list[int], assembler: ResultAssembler,
                             caps: RequestCaps, template: pb.EmbedRequest) -> list[int]:
        """Digest-first: ask for `sendable` by content digest alone (no image bytes travel); the
        server's cached vectors go into `assembler`. Returns the indices it answered not_cached.

        The items are hashed in runs of about LOOKUP_RUN_BYTES, and each run's lookup goes out as
        soon as it is hashed, so hashing the next run overlaps the server answering this one.
        """
        limit = asyncio.Semaphore(self.max_concurrency)
        misses: list[int] = []

        async def look_up(indices: list[int], digests: list[str]) -> None:
            request = pb.EmbedRequest()
            request.CopyFrom(template)
            request.items.extend(pb.Item(content_sha256=digest) for digest in digests)
            async with limit:
                response = await self._call(self._stub.Embed, request)
            answered = [r for r in response.results if r.status.code != pb.ITEM_CODE_NOT_CACHED]
            misses.extend(indices[r.index] for r in response.results if r.status.code == pb.ITEM_CODE_NOT_CACHED)
            assembler.add(0, response, indices, results=answered)

        # Digests are tiny: a lookup carries as many as the server admits, not chunk_size.
        lookups = []
        for start, end in plan_chunks([len(datas[i]) for i in sendable], caps.lookup_items, LOOKUP_RUN_BYTES):
            indices = sendable[start:end]
            digests = await content_digests([datas[i] for i in indices])
            lookups.append(asyncio.ensure_future(look_up(indices, digests)))
        try:
            await asyncio.gather(*lookups)
        finally:
            for lookup in lookups:
                lookup.cancel()  # no-op when done; a failed sibling must not leave the rest running
        return sorted(misses)

    async def _start_call(self, images: Sequence[ImageInput], model: str, spec: str, priority: str,
                          skip_cache: bool, progress: bool, volume: Mapping[str, str] | None
                          ) -> tuple[list[bytes], ResultAssembler, list[int], list[tuple[int, int]], pb.EmbedRequest,
                                     tqdm[Never]]:
        """What embed and embed_stream share before sending: the bytes, the result being assembled
        (cached items already in it), the items left to send and their requests, the request every
        one of them copies (model, spec, priority, volume options, whether it may skip the cache
        read), and the progress bar (advanced past what needs no sending)."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {sorted(PRIORITIES)}")
        template = pb.EmbedRequest(model=model, spec=spec, priority=PRIORITIES[priority])
        options = volume_message(volume)
        if options is not None:
            template.volume.CopyFrom(options)
        datas = [to_bytes(image) for image in images]
        assembler = ResultAssembler(len(datas))
        sendable, chunks, looked_up = await self._plan(datas, assembler, template, skip_cache)
        template.skip_cache = skip_cache or looked_up
        bar = tqdm(total=len(datas), desc=model, unit="img", disable=not progress)
        bar.update(len(datas) - len(sendable))
        return datas, assembler, sendable, chunks, template, bar

    async def embed(self, images: Sequence[ImageInput], model: str, *, spec: str = "", priority: str = "online",
                    skip_cache: bool = False, progress: bool = False,
                    volume: Mapping[str, str] | None = None) -> EmbedResult:
        """Embed N images with `model` (and its embedding `spec`; empty: the default), in order.

        Images are paths, encoded bytes, PIL images or uint8/uint16 numpy arrays (see inputs.py);
        volumes (NIfTI, multi-frame DICOM, a zip or tar of one DICOM series) are sent as bytes or
        paths too. Returns an EmbedResult: vectors [N, dim] float32, failed items as NaN rows with
        an entry in `errors` (an item over the server's max_image_bytes fails there, never sent).
        `priority` is `online` or `bulk`; `skip_cache` bypasses the server's cache reads; `progress`
        shows a bar; `volume` ({"slices": "all", "axis": "axial", "window": "lung"}, any subset;
        README "Volumes") chooses what a volume yields: with slices `every:K` or `all` an item gives
        one row per slice (EmbedResult.row_item / row_slice say which).
        Raises ValueError for an unknown priority or volume field, TypeError for an input that is no
        image, OSError for an unreadable path, EmbedError when the call fails (unknown model or
        spec, bad volume options, no server, `timeout_s` passed, replicas disagreeing on provenance).
        """
        datas, assembler, sendable, chunks, template, bar = await self._start_call(
            images, model, spec, priority, skip_cache, progress, volume)
        limit = asyncio.Semaphore(self.max_concurrency)

        async def run(start: int, end: int) -> None:
            indices = sendable[start:end]
            request = pb.EmbedRequest()
            request.CopyFrom(template)
            request.items.extend(pb.Item(data=datas[i]) for i in indices)
            async with limit:
                response = await self._call(self._stub.Embed, request)
            assembler.add(0, response, indices)
            bar.update(end - start)

        try:
            await asyncio.gather(*(run(start, end) for start, end in chunks))
        finally:
            bar.close()
        return assembler.result(self._dim(model, spec))

    async def embed_stream(self, images: Sequence[ImageInput], model: str, *, spec: str = "", priority: str = "bulk",
                           skip_cache: bool = False, progress: bool = False,
                           volume: Mapping[str, str] | None = None) -> EmbedResult:
        """Like `embed`, over one EmbedStream (the bulk path, flow-controlled by the server).

        What a stream leaves unanswered — its replica drained or died, the connection broke — is
        sent again on a new stream (another replica under round_robin), so a rolling restart loses
        no item and fails no call; each item is answered once, in order. `timeout_s` is the longest
        the call may go without an answer, retries included. Returns and raises as `embed`.
        """
        datas, assembler, sendable, chunks, template, bar = await self._start_call(
            images, model, spec, priority, skip_cache, progress, volume)

        def request_for(start: int, end: int, request_id: str) -> pb.EmbedRequest:
            request = pb.EmbedRequest()
            request.CopyFrom(template)
            request.request_id = request_id
            request.items.extend(pb.Item(data=datas[i]) for i in sendable[start:end])
            return request

        def on_answer(start: int, response: pb.EmbedResponse) -> None:
            assembler.add(0, response, sendable[start:start + len(response.results)])
            bar.update(len(response.results))

        try:
            if chunks:
                await embed_over_streams(self._stub, chunks, request_for, on_answer, policy=self.retry,
                                         idle_timeout_s=self.timeout_s, metadata=self._metadata)
        finally:
            bar.close()
        return assembler.result(self._dim(model, spec))
