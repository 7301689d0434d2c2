"""Caps on what RPCs may hold before any work: RPCs served at once and request bytes in flight.

grpc.aio reads and parses a unary request before its handler runs, so a cap checked in the handler
comes after the memory is spent. Here every handler is served in request-streaming shape (grpc
runs it before reading anything, and reads only when it asks for a message), so:

- a slot is taken before the request is read: beyond `max_rpcs`, RESOURCE_EXHAUSTED with the body
  never read. The health service, open to callers without a token, has OPEN_SLOTS slots of its
  own for Check and as many for Watch (so probes pass a busy server, and watchers cannot starve
  probes), and its messages may hold at most OPEN_MAX_MESSAGE_BYTES (a health request is a service
  name): so what an unauthenticated caller can make the server read is bounded by those slots;
- the request message's size is known once gRPC has it and before it is parsed: a message that
  would take the bytes held by RPCs in flight past `max_bytes` is dropped unparsed with
  RESOURCE_EXHAUSTED — unless nothing else is in flight, so one request of any allowed size always
  gets through;
- a refusal (`refusing_handler`, used for missing tokens too) never reads the body at all.

Bytes being received at once are bounded by the slots times gRPC's message cap; bytes held after
that by the byte budget. EmbedStream messages are released one by one as their responses go out
(one response per request).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from inspect import isasyncgenfunction, iscoroutinefunction
from typing import Any

import grpc

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/",)
OPEN_SLOTS = 4
OPEN_MAX_MESSAGE_BYTES = 64 * 1024
Refuse = Callable[[str, grpc.StatusCode, str, str], None]  # (method, code, reason, message)


class Slots:
    """A counter of RPCs in progress, at most `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        """Take a slot; False (nothing taken) when all `limit` are in use."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def release(self) -> None:
        """Give back a slot taken with `take`."""
        self.used -= 1


class ByteBudget:
    """Request bytes held by RPCs in flight, at most `limit` — except that a message is always admitted
    when nothing else is held, so a lone request of any size gRPC accepts makes progress."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        """Hold `size` bytes; False (nothing held) when that would pass the limit while others are held."""
        if self.used and self.used + size > self.limit:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        """Give back `size` bytes held with `take`."""
        self.used -= size


@dataclass(frozen=True)
class Held:
    """A request message admitted under the byte budget, with the `size` in bytes it holds."""

    message: Any
    size: int


# What the deserializer hands over instead of a message it dropped unparsed, by reason.
OVER_BUDGET = "request_bytes"
TOO_LARGE = "message_too_large"


def refusing_handler(handler: grpc.RpcMethodHandler,
                     refuse: Callable[[grpc.aio.ServicerContext], Awaitable[None]]) -> grpc.RpcMethodHandler:
    """A handler for the method of `handler` that runs `refuse(context)` (which aborts) without ever
    reading the request: request-streaming shape, so grpc does not read the body before it runs."""

    async def behavior(requests: object, context: grpc.aio.ServicerContext) -> None:
        await refuse(context)

    if handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior, response_serializer=handler.response_serializer)
    return grpc.stream_unary_rpc_method_handler(behavior, response_serializer=handler.response_serializer)


class CallCaps(grpc.aio.ServerInterceptor):
    """The interceptor that serves every async handler with a unary or streaming request under the
    caps: at most `max_rpcs` at once (counted before the request is read) and `max_bytes` request
    bytes held. Sync handlers and client-streaming ones (none here) pass unchanged.
    `on_refused(method, code, reason, message)` counts and logs each refusal (reasons
    `concurrent_rpcs`, `request_bytes`, `message_too_large`)."""

    def __init__(self, max_rpcs: int, max_bytes: int, on_refused: Refuse) -> None:
        self.slots = Slots(max_rpcs)
        self.open_slots = Slots(OPEN_SLOTS)
        self.open_stream_slots = Slots(OPEN_SLOTS)
        self.budget = ByteBudget(max_bytes)
        self._on_refused = on_refused

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails],
                                                             Awaitable[grpc.RpcMethodHandler]],
                                handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """The method's handler, served under the caps; None (UNIMPLEMENTED) when there is none."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        is_open = method.startswith(OPEN_METHOD_PREFIXES)
        largest = OPEN_MAX_MESSAGE_BYTES if is_open else None
        if not handler.request_streaming and not handler.response_streaming \
                and iscoroutinefunction(handler.unary_unary):
            return self._capped_unary(handler, method, self.open_slots if is_open else self.slots, largest)
        if not handler.request_streaming and handler.response_streaming \
                and isasyncgenfunction(handler.unary_stream):
            return self._capped_unary(handler, method, self.open_stream_slots if is_open else self.slots, largest)
        if handler.request_streaming and handler.response_streaming and isasyncgenfunction(handler.stream_stream):
            return self._capped_stream(handler, method, self.open_slots if is_open else self.slots, largest)
        return handler

    def _deserializer(self, handler: grpc.RpcMethodHandler, largest: int | None) -> Callable[[bytes], object]:
        parse = handler.request_deserializer

        def read(raw: bytes) -> object:
            size = len(raw)
            if largest is not None and size > largest:
                return TOO_LARGE
            if not self.budget.take(size):
                return OVER_BUDGET  # dropped unparsed: the raw bytes go as soon as grpc lets go of them
            try:
                return Held(parse(raw) if parse is not None else raw, size)
            except BaseException:
                self.budget.release(size)
                raise

        return read

    async def _refuse(self, context: grpc.aio.ServicerContext, method: str, reason: str) -> None:
        if reason == "concurrent_rpcs":
            message = ("server busy: as many RPCs in progress as it serves at once (--max-concurrent-rpcs, "
                       f"{self.slots.limit}); retry with backoff")
        elif reason == TOO_LARGE:
            message = f"a request to this method may hold at most {OPEN_MAX_MESSAGE_BYTES} bytes"
        else:
            message = (f"server busy: the {self.budget.limit / 2**20:g} MiB of request bytes it holds at once are "
                       "taken (--max-inflight-request-bytes); retry with backoff, or send smaller requests")
        self._on_refused(method, grpc.StatusCode.RESOURCE_EXHAUSTED, reason, message)
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)

    def _capped_unary(self, handler: grpc.RpcMethodHandler, method: str, slots: Slots,
                      largest: int | None) -> grpc.RpcMethodHandler:
        """`handler` (unary request; unary or streamed response) in request-streaming shape, under the caps."""

        async def admitted(requests: AsyncIterator[object], context: grpc.aio.ServicerContext) -> Held:
            held = await anext(aiter(requests), None)  # a unary request: one message
            if held in (OVER_BUDGET, TOO_LARGE):
                await self._refuse(context, method, str(held))
            if not isinstance(held, Held):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
            return held

        codecs = {"request_deserializer": self._deserializer(handler, largest),
                  "response_serializer": handler.response_serializer}
        if handler.response_streaming:
            streamed = handler.unary_stream

            async def stream_behavior(requests: AsyncIterator[object],
                                      context: grpc.aio.ServicerContext) -> AsyncIterator[object]:
                if not slots.take():
                    await self._refuse(context, method, "concurrent_rpcs")
                held: Held | None = None
                try:
                    held = await admitted(requests, context)
                    async for response in streamed(held.message, context):
                        yield response
                finally:
                    slots.release()
                    if held is not None:
                        self.budget.release(held.size)

            return grpc.stream_stream_rpc_method_handler(stream_behavior, **codecs)

        original = handler.unary_unary

        async def behavior(requests: AsyncIterator[object], context: grpc.aio.ServicerContext) -> object:
            if not slots.take():
                await self._refuse(context, method, "concurrent_rpcs")
            held: Held | None = None
            try:
                held = await admitted(requests, context)
                return await original(held.message, context)
            finally:
                slots.release()
                if held is not None:
                    self.budget.release(held.size)

        return grpc.stream_unary_rpc_method_handler(behavior, **codecs)

    def _capped_stream(self, handler: grpc.RpcMethodHandler, method: str, slots: Slots,
                       largest: int | None) -> grpc.RpcMethodHandler:
        """`handler` (streams both ways, one response per request) under the caps."""
        original = handler.stream_stream

        async def behavior(requests: AsyncIterator[object],
                           context: grpc.aio.ServicerContext) -> AsyncIterator[object]:
            if not slots.take():
                await self._refuse(context, method, "concurrent_rpcs")
            sizes: deque[int] = deque()

            async def messages() -> AsyncIterator[object]:
                async for held in requests:
                    if not isinstance(held, Held):
                        await self._refuse(context, method, str(held))
                        return
                    sizes.append(held.size)
                    yield held.message

            try:
                async for response in original(messages(), context):
                    if sizes:  # one response per request: its request's bytes are done with
                        self.budget.release(sizes.popleft())
                    yield response
            finally:
                slots.release()
                self.budget.release(sum(sizes))

        return grpc.stream_stream_rpc_method_handler(
            behavior, request_deserializer=self._deserializer(handler, largest),
            response_serializer=handler.response_serializer)
