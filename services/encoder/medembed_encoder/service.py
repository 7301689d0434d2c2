"""The gRPC servicer: each RPC is the pipeline (pipeline.py) inside one guard that maps
exceptions to gRPC status codes and counts every call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

from . import __version__
from .admission import Rejected
from .config import Settings
from .logs import event
from .metrics import EncoderMetrics
from .pipeline import EmbedPipeline
from .refusals import RefusalLog
from .registry import ModelRegistry
from .versions import library_versions

log = logging.getLogger(__name__)


class EncoderService(pb_grpc.EncoderServicer):
    """Embed, EmbedStream and ListModels over one EmbedPipeline.

    Every RPC runs inside `_guard`: Rejected -> its status (logged as a rate-limited refusal),
    cancellation -> CANCELLED, any other exception -> INTERNAL with the error in the server log.
    """

    def __init__(self, settings: Settings, pipeline: EmbedPipeline, registry: ModelRegistry,
                 metrics: EncoderMetrics, refusals: RefusalLog) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._registry = registry
        self._metrics = metrics
        self._refusals = refusals
        self.in_flight = 0

    @property
    def draining(self) -> bool:
        """True once SIGTERM started the drain: new requests are refused UNAVAILABLE."""
        return self._pipeline.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self._pipeline.draining = value

    @asynccontextmanager
    async def _guard(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        started = time.perf_counter()
        self.in_flight += 1
        code = grpc.StatusCode.OK
        try:
            yield
        except Rejected as exc:
            code = exc.code
            self._refusals.record(method, exc.code, exc.reason, str(exc))
            await context.abort(exc.code, str(exc))
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except grpc.aio.AbortError:  # aborted further down: already a status, never abort twice
            code = grpc.StatusCode.UNKNOWN
            raise
        except Exception as exc:  # a bug: the caller gets INTERNAL, the log gets the error
            code = grpc.StatusCode.INTERNAL
            event(log, "rpc_failed", logging.ERROR, method=method, error=f"{type(exc).__name__}: {exc}")
            await context.abort(code, f"internal error in {method} ({type(exc).__name__}); see the server log")
        finally:
            self.in_flight -= 1
            self._metrics.requests.labels(method, code.name).inc()
            self._metrics.request_duration.labels(method).observe(time.perf_counter() - started)

    async def Embed(self, request: pb.EmbedRequest, context: grpc.aio.ServicerContext) -> pb.EmbedResponse:
        """One request's items -> one response, results in request order."""
        async with self._guard("Embed", context):
            return await self._pipeline.run(self._pipeline.admit(request, context.time_remaining()))

    async def EmbedStream(self, request_iterator: AsyncIterator[pb.EmbedRequest],
                          context: grpc.aio.ServicerContext) -> AsyncIterator[pb.EmbedResponse]:
        """One response per request, in order; at most stream_window requests in flight.

        When the client reads slowly our yield waits on gRPC flow control, so we stop reading
        requests and the sender slows down. Draining: what was taken is answered, then the stream
        ends UNAVAILABLE, and the client sends what is left to another replica (request_id says
        which were answered).
        """
        pending: deque[asyncio.Task[pb.EmbedResponse]] = deque()
        async with self._guard("EmbedStream", context):
            try:
                answered, left_unread = 0, False
                async for request in request_iterator:
                    if self.draining:
                        left_unread = True
                        break
                    call = self._pipeline.admit(request)  # now: a drain that starts later cannot refuse it
                    pending.append(asyncio.ensure_future(self._pipeline.run(call, wait_for_queue=True)))
                    if len(pending) >= self._settings.stream_window:
                        yield await pending.popleft()
                        answered += 1
                while pending:
                    yield await pending.popleft()
                    answered += 1
                if left_unread:
                    raise Rejected(grpc.StatusCode.UNAVAILABLE, "draining",
                                   f"server is draining: {answered} request(s) of this stream answered; send the "
                                   "rest to another replica")
            finally:
                for task in pending:
                    task.cancel()

    async def ListModels(self, request: pb.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        """Every hosted model (ready or loading), its specs, identities and library versions, and
        the server's request caps."""
        async with self._guard("ListModels", context):
            return pb.ListModelsResponse(models=[self._model_info(m) for m in self._registry.model_ids],
                                         server_version=__version__, limits=self._server_limits())

    def _model_info(self, model_id: str) -> pb.ModelInfo:
        runtime = self._registry.runtimes.get(model_id)
        if runtime is None:
            return pb.ModelInfo(id=model_id, ready=False)
        encoder = runtime.encoder
        return pb.ModelInfo(
            id=model_id, family=encoder.entry.family, dim=encoder.spec_dims[encoder.default_spec],
            input_size=encoder.input_size, default_spec=encoder.default_spec,
            specs=[pb.SpecInfo(name=name, dim=dim, vector_identity=runtime.vector_identities[name])
                   for name, dim in encoder.spec_dims.items()],
            ready=model_id in self._registry.ready, weights_digest=encoder.weights_digest,
            preprocess_digest=encoder.preprocess_digest, random_weights=encoder.random_weights,
            library_versions=library_versions(encoder.entry.family))

    def _server_limits(self) -> pb.ServerLimits:
        return pb.ServerLimits(max_items_per_request=self._settings.max_items_per_request,
                               max_request_bytes=self._settings.max_request_bytes,
                               max_image_bytes=self._settings.max_image_bytes,
                               digest_lookup=self._pipeline.digest_lookup)
