"""Server lifecycle: bind, load and warm up models, report health, watch for stalls, drain."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

from . import __version__, config
from .batcher import BatchLimits
from .cache import build_cache
from .callcaps import CallCaps
from .catalog import CatalogEntry, load_catalog, select
from .config import Settings
from .decode_pool import DecodePool
from .families import ModelLoadError, load_encoder, validate_options
from .logs import Stopwatch, event
from .metrics import EncoderMetrics
from .pipeline import EmbedPipeline
from .ports import BindError, ensure_bindable
from .refusals import RefusalLog
from .registry import ModelRegistry
from .runtime import ComputeLayout, ModelRuntime, resolve_device, resolve_dtype
from .security import TokenInterceptor, TokenSet, server_credentials
from .service import EncoderService

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Encoder"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class EncoderServer:
    """One encoder server: the Encoder and health services on gRPC, metrics, the cache, the decode
    processes and one runtime per model. `start` binds and serves health, `load_models` loads the
    models, `drain_and_stop` stops. Construction raises CatalogError for an unknown model id or an
    invalid catalog entry or option, ConfigError for an invalid cache URL, password or token file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.entries: list[CatalogEntry] = select(load_catalog(settings.catalog or None), settings.models)
        for entry in self.entries:  # a misspelled option stops the server before any weights load
            validate_options(entry)
        self.metrics = EncoderMetrics()
        self.registry = ModelRegistry([entry.id for entry in self.entries])
        self.threads = ThreadPoolExecutor(max_workers=settings.decode_threads or os.cpu_count() or 1,
                                          thread_name_prefix="preprocess")
        self.decoder = DecodePool(settings.decode_workers or os.cpu_count() or 1, settings.decode_timeout_s)
        self.cache = build_cache(settings, self.metrics)
        self.refusals = RefusalLog(self.metrics, settings.refusal_log_interval_s)
        pipeline = EmbedPipeline(settings, self.registry, self.metrics, self.threads, self.decoder, self.cache)
        self.service = EncoderService(settings, pipeline, self.registry, self.metrics, self.refusals)
        self.tokens = TokenSet(settings.tokens, settings.token_file) if settings.wants_tokens else None
        self.caps = CallCaps(settings.max_concurrent_rpcs, settings.inflight_request_bytes, self._refuse_busy)
        self.health = HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.health_server: grpc.aio.Server | None = None
        self.port: int | None = None
        self.health_port: int | None = None
        self._stopped = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []

    def _grpc_options(self) -> list[tuple[str, int]]:
        size = self.settings.grpc_max_message_bytes
        # SO_REUSEPORT (gRPC's default) would let a second server share a port in use, each
        # answering at random: off, so a taken port fails at start.
        options = [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size),
                   ("grpc.so_reuseport", 0)]
        if self.settings.max_connection_age_s > 0:
            options += [("grpc.max_connection_age_ms", int(self.settings.max_connection_age_s * 1000)),
                        ("grpc.max_connection_age_grace_ms", int(self.settings.drain_seconds * 1000))]
        return options

    def _refuse_unauthenticated(self, method: str, reason: str) -> None:
        self.metrics.requests.labels(method.rsplit("/", 1)[-1], "UNAUTHENTICATED").inc()
        self.refusals.record(method.rsplit("/", 1)[-1], grpc.StatusCode.UNAUTHENTICATED, reason,
                             "no accepted bearer token")

    def _refuse_busy(self, method: str, code: grpc.StatusCode, reason: str, message: str) -> None:
        self.metrics.requests.labels(method.rsplit("/", 1)[-1], code.name).inc()
        self.refusals.record(method.rsplit("/", 1)[-1], code, reason, message)

    def _bind(self, server: grpc.aio.Server, name: str, credentials: grpc.ServerCredentials | None) -> int:
        """Listen on the port of setting `name` (`port`, `health_port`); BindError names its flag."""
        host, port = self.settings.host, getattr(self.settings, name)
        flag, env = config.flag(name), config.env_var(name)
        ensure_bindable(host, port, flag, env)
        address = f"{host}:{port}"
        try:
            bound = (server.add_secure_port(address, credentials) if credentials is not None
                     else server.add_insecure_port(address))
        except RuntimeError:  # taken between the check and now, or an address gRPC cannot parse
            bound = 0
        if bound == 0:
            raise BindError(f"{flag} {port} on --host {host}: cannot listen there; pick a free port with {flag}")
        return bound

    async def start(self) -> int:
        """Bind and serve health at once; models load in the background. Returns the bound port."""
        settings = self.settings
        # The token check runs first and never reads a refused call's body; the caps hold the rest.
        interceptors: list[grpc.aio.ServerInterceptor] = [self.caps]
        if self.tokens:
            interceptors.insert(0, TokenInterceptor(self.tokens, self._refuse_unauthenticated))
        self.server = grpc.aio.server(options=self._grpc_options(), interceptors=interceptors)
        pb_grpc.add_EncoderServicer_to_server(self.service, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if settings.reflection_on:
            reflection.enable_server_reflection(
                [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME], self.server)
        for service in ["", SERVICE_NAME, *self.registry.model_ids]:
            await self.health.set(service, NOT_SERVING)
        if settings.metrics_port >= 0:
            ensure_bindable(settings.metrics_bind_host, settings.metrics_port, "--metrics-port",
                            "MEDEMBED_METRICS_PORT")
        self.port = self._bind(self.server, "port", server_credentials(settings))
        if settings.health_port >= 0:  # health only, plaintext: for probes that cannot speak TLS
            self.health_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_port = self._bind(self.health_server, "health_port", None)
            await self.health_server.start()
        await self.server.start()
        if settings.metrics_port >= 0:
            try:
                self.metrics.serve(settings.metrics_port, settings.metrics_bind_host)
            except OSError as exc:
                await self.server.stop(None)
                raise BindError(f"--metrics-port {settings.metrics_port}: cannot listen ({exc.strerror}); pick a "
                                "free port with --metrics-port, or -1 for no metrics") from None
        if self.tokens is not None and not settings.tls:
            event(log, "tokens_without_tls", logging.WARNING,
                  advice="tokens cross the network in clear text: set tls_cert and tls_key")
        if self.cache.enabled and not self.cache.sealer.authenticated:
            event(log, "cache_values_unauthenticated", logging.WARNING, backend=self.cache.description,
                  advice="whoever can write to the cache can change the vectors served: set cache_mac_key_file "
                         "(the same secret on every replica; `make secrets` writes one)")
        event(log, "server_listening", port=self.port, metrics_port=settings.metrics_port,
              metrics_host=settings.metrics_bind_host, health_port=self.health_port,
              tls="mutual" if settings.tls_client_ca else settings.tls, tokens=self.tokens is not None,
              reflection=settings.reflection_on, models=list(self.registry.model_ids),
              cache=self.cache.description, cache_mac=self.cache.sealer.authenticated,
              max_concurrent_rpcs=settings.max_concurrent_rpcs,
              max_inflight_request_bytes=settings.inflight_request_bytes, version=__version__, serving=False,
              meaning="the ports are open and health answers NOT_SERVING while the models load; each model "
                      "serves from its model_ready line, the server from server_serving; model_load_failed "
                      "stops it")
        return self.port

    async def load_models(self) -> None:
        """Load, warm up, then mark SERVING, model by model. A model that cannot load is fatal."""
        device = resolve_device(self.settings.device)
        dtype = resolve_dtype(self.settings.dtype, device)
        limits = BatchLimits(self.settings.max_batch_size, self.settings.max_queue_delay_ms / 1000,
                             self.settings.max_queue_items, self.settings.start_when_idle)
        layout = ComputeLayout.resolve(device, self.settings.forward_workers, self.settings.intra_op_threads,
                                       self.settings.forward_chunk)
        if device.type == "cpu":
            torch.set_num_threads(layout.intra_op_threads)  # process-wide: shared by the forward workers
        await self.decoder.warm_up()
        for entry in self.entries:
            watch = Stopwatch()
            encoder = await asyncio.to_thread(load_encoder, entry, device, self.settings.allow_random_weights)
            runtime = ModelRuntime(encoder, device, dtype, limits, self.metrics, layout)
            await asyncio.to_thread(runtime.warm_up)
            runtime.start()
            self.registry.runtimes[entry.id] = runtime
            self.registry.ready.add(entry.id)
            self.metrics.model_ready.labels(entry.id).set(1)
            await self.health.set(entry.id, SERVING)
            event(log, "model_ready", model=entry.id, family=entry.family, device=str(device),
                  dtype=runtime.dtype_name, dims=encoder.spec_dims, random_weights=encoder.random_weights,
                  weights_digest=encoder.weights_digest, vector_identities=runtime.vector_identities,
                  seconds=round(watch.seconds(), 2))
        await self.health.set("", SERVING)
        await self.health.set(SERVICE_NAME, SERVING)
        event(log, "server_serving", port=self.port, models=list(self.registry.model_ids))
        self._background.append(asyncio.create_task(self._watch_stalls()))

    async def _watch_stalls(self) -> None:
        """NOT_SERVING for a model whose worker died or whose queue stopped moving, so probes see it."""
        interval = min(5.0, self.settings.stall_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            stalled = {m for m, r in self.registry.runtimes.items() if r.stalled(self.settings.stall_seconds)}
            for model_id in self.registry.runtimes:
                healthy = model_id not in stalled
                if healthy != (model_id in self.registry.ready):
                    event(log, "model_health_changed", logging.WARNING, model=model_id, serving=healthy)
                    (self.registry.ready.add if healthy else self.registry.ready.discard)(model_id)
                    self.metrics.model_ready.labels(model_id).set(int(healthy))
                    await self.health.set(model_id, SERVING if healthy else NOT_SERVING)
            overall = SERVING if not stalled else NOT_SERVING
            await self.health.set("", overall)
            await self.health.set(SERVICE_NAME, overall)

    async def drain_and_stop(self) -> None:
        """Refuse new work, let in-flight RPCs finish (up to drain_seconds), then stop."""
        if self._stopped.is_set():
            return
        event(log, "drain_started", in_flight=self.service.in_flight)
        self.service.draining = True
        await self.health.enter_graceful_shutdown()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.drain_seconds
        while self.service.in_flight and loop.time() < give_up:
            await asyncio.sleep(0.05)
        self.refusals.flush()
        if self.server is not None:
            await self.server.stop(grace=1.0)
        if self.health_server is not None:
            await self.health_server.stop(grace=None)
        for task in self._background:
            task.cancel()
        for runtime in self.registry.runtimes.values():
            await runtime.stop()
        self.threads.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.decoder.close)
        await self.cache.close()
        event(log, "server_stopped", unfinished=self.service.in_flight)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        """Return once `drain_and_stop` has finished."""
        await self._stopped.wait()


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code. A model that cannot load raises ModelLoadError."""
    server = EncoderServer(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.drain_and_stop()))
    await server.start()
    loader = asyncio.create_task(server.load_models())
    stopped = asyncio.create_task(server.wait_stopped())
    done, _ = await asyncio.wait({loader, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if loader in done and loader.exception() is not None:
        error = loader.exception()
        event(log, "model_load_failed", logging.ERROR, error=str(error))
        await server.drain_and_stop()
        if isinstance(error, ModelLoadError):
            raise error
        raise ModelLoadError(f"loading the models failed: {type(error).__name__}: {error}") from error
    await stopped
    return 0
