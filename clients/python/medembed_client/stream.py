"""The bulk path over EmbedStream that rides out drains and broken connections.

Requests go out on one stream; each answer is matched to its request by `request_id`. When the
stream ends early — the replica drains (UNAVAILABLE after answering what it had taken), the
connection breaks, the replica dies — every request not yet answered goes out again on a new
stream, which round_robin puts on another replica. Each request is answered once, and the results
land by offset, so they come back in input order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import grpc

from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

from .results import EmbedError
from .retry import RetryBudget, RetryPolicy

log = logging.getLogger(__name__)
RequestFor = Callable[[int, int, str], pb.EmbedRequest]


async def _requests(chunks: Sequence[tuple[int, int]], request_for: RequestFor) -> AsyncIterator[pb.EmbedRequest]:
    for start, end in chunks:  # built as gRPC flow control asks for them, not all at once
        yield request_for(start, end, str(start))


async def embed_over_streams(stub: pb_grpc.EncoderStub, chunks: Sequence[tuple[int, int]], request_for: RequestFor,
                             on_answer: Callable[[int, pb.EmbedResponse], None], *, policy: RetryPolicy,
                             idle_timeout_s: float, metadata: tuple[tuple[str, str], ...] = ()) -> int:
    """Send every chunk [start, end) until each got its answer; returns how many streams it took.

    `idle_timeout_s` is the longest the call may go without an answer, retries included; raises
    EmbedError when it passes or on an error that retrying cannot cure (INVALID_ARGUMENT, ...).
    """
    unanswered = {str(start): (start, end) for start, end in chunks}
    budget = RetryBudget(policy, idle_timeout_s)
    streams = 0
    while unanswered:
        streams += 1
        call = stub.EmbedStream(_requests(list(unanswered.values()), request_for), metadata=metadata)
        code, details = grpc.StatusCode.UNAVAILABLE, "the stream ended before answering every request"
        try:
            while True:
                response = await asyncio.wait_for(call.read(), budget.remaining() or 0.001)
                if response is grpc.aio.EOF:
                    break
                entry = unanswered.pop(response.request_id, None)
                if entry is not None:
                    on_answer(entry[0], response)
                    budget = RetryBudget(policy, idle_timeout_s)  # progress: a fresh allowance
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
        except TimeoutError:
            call.cancel()
            raise EmbedError("DEADLINE_EXCEEDED", f"no answer on EmbedStream for {idle_timeout_s:g} s "
                                                  f"({len(unanswered)} request(s) unanswered)") from None
        if not unanswered:
            break
        log.info("EmbedStream ended with %s (%s); sending its %d unanswered request(s) again", code.name, details,
                 len(unanswered))
        if not await budget.retry_after(code, details):
            raise EmbedError(code.name, f"{details} ({len(unanswered)} request(s) unanswered"
                                        f"{', ' + budget.summary() if budget.summary() else ''})")
    return streams
