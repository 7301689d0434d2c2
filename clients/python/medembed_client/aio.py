"""AsyncClient: chunked, concurrent, retrying embedding calls on grpc.aio."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from tqdm import tqdm

from .inputs import ImageInput, to_bytes
from .results import EmbedError, EmbedResult, ItemError, ResultAssembler
from .retry import RetryPolicy, is_retryable
from .v1 import encoder_pb2 as pb
from .v1 import encoder_pb2_grpc as pb_grpc

DEFAULT_TARGET = "localhost:50051"
PRIORITIES = {"online": pb.PRIORITY_ONLINE, "bulk": pb.PRIORITY_BULK}


def channel_options(max_message_bytes: int) -> list[tuple[str, object]]:
    # round_robin spreads calls over every address a target resolves to (several replicas).
    return [("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.lb_policy_name", "round_robin")]


@dataclass(frozen=True)
class RequestCaps:
    items: int  # per request
    bytes: int  # image bytes per request
    image_bytes: int  # per item; 0 = unknown (a server that does not say)


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
    def __init__(self, target: str = DEFAULT_TARGET, *, timeout_s: float = 300.0, chunk_size: int = 64,
                 chunk_bytes: int = 16 * 2**20, max_concurrency: int = 4, retry: RetryPolicy | None = None,
                 max_message_bytes: int = 256 * 2**20) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.chunk_size = chunk_size
        self.chunk_bytes = chunk_bytes
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self._channel = grpc.aio.insecure_channel(target, options=channel_options(max_message_bytes))
        self._stub = pb_grpc.EncoderStub(self._channel)
        self._server_limits: pb.ServerLimits | None = None
        self._models: dict[str, pb.ModelInfo] = {}

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method, request):  # noqa: ANN001 - a stub method and its request message
        for attempt in range(self.retry.max_attempts):
            try:
                return await method(request, timeout=self.timeout_s)
            except grpc.aio.AioRpcError as exc:
                last_try = attempt == self.retry.max_attempts - 1
                if last_try or not is_retryable(exc.code(), exc.details()):
                    raise EmbedError(exc.code().name, exc.details() or "") from None
                await asyncio.sleep(self.retry.backoff(attempt))
        raise AssertionError("unreachable")

    async def list_models(self) -> list[pb.ModelInfo]:
        response = await self._call(self._stub.ListModels, pb.ListModelsRequest())
        self._server_limits = response.limits
        self._models = {model.id: model for model in response.models}
        return list(response.models)

    async def _request_caps(self) -> RequestCaps:
        """Items and bytes per request: the client's own settings, lowered to the server's caps."""
        if self._server_limits is None:
            await self.list_models()
        limits = self._server_limits
        items = min(self.chunk_size, limits.max_items_per_request or self.chunk_size)
        size = min(self.chunk_bytes, limits.max_request_bytes or self.chunk_bytes)
        return RequestCaps(items, size, limits.max_image_bytes)

    def _dim(self, model: str, spec: str) -> int:
        info = self._models.get(model)
        if info is None:
            return 0
        return next((s.dim for s in info.specs if s.name == (spec or info.default_spec)), info.dim)

    async def embed(self, images: Sequence[ImageInput], model: str, *, spec: str = "", priority: str = "online",
                    skip_cache: bool = False, progress: bool = False) -> EmbedResult:
        """Embed images in order. Failed items get NaN rows and an entry in `errors`."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {sorted(PRIORITIES)}")
        datas = [to_bytes(image) for image in images]
        assembler = ResultAssembler(len(datas))
        caps = await self._request_caps()
        sendable = []
        for index, data in enumerate(datas):
            if caps.image_bytes and len(data) > caps.image_bytes:  # would fail there; never sent
                assembler.fail(index, ItemError("too_large", f"{len(data)} bytes is over the server's "
                                                f"max_image_bytes = {caps.image_bytes}; not sent"),
                               hashlib.sha256(data).hexdigest())
            else:
                sendable.append(index)
        chunks = plan_chunks([len(datas[i]) for i in sendable], caps.items, caps.bytes)
        limit = asyncio.Semaphore(self.max_concurrency)
        bar = tqdm(total=len(datas), desc=model, unit="img", disable=not progress)
        bar.update(len(datas) - len(sendable))

        async def run(start: int, end: int) -> None:
            indices = sendable[start:end]
            request = pb.EmbedRequest(model=model, spec=spec, priority=PRIORITIES[priority], skip_cache=skip_cache,
                                      items=[pb.Item(data=datas[i]) for i in indices])
            async with limit:
                response = await self._call(self._stub.Embed, request)
            assembler.add(0, response, indices)
            bar.update(end - start)

        try:
            await asyncio.gather(*(run(start, end) for start, end in chunks))
        finally:
            bar.close()
        return assembler.result(self._dim(model, spec))
