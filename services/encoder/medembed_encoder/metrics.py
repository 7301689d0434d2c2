"""Prometheus metrics of one server, in their own registry (several servers may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class EncoderMetrics:
    """Every `medembed_*` Prometheus metric of one server, in its own CollectorRegistry (several
    servers may share a process); durations in seconds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("medembed_requests", "RPCs by method and final gRPC code",
                                ["method", "code"], registry=r)
        self.rejected = Counter("medembed_rejected_requests", "RPCs refused before any work, by method, gRPC code "
                                "and reason (queue_full, draining, unknown_model, missing_token, ...)",
                                ["method", "code", "reason"], registry=r)
        self.items = Counter("medembed_items", "Items by model and outcome (ok or an item error code)",
                             ["model", "outcome"], registry=r)
        self.items_dropped = Counter("medembed_items_dropped", "Items dropped before compute",
                                     ["model", "reason"], registry=r)
        self.forward_items = Counter("medembed_forward_items", "Items that went through a forward pass",
                                     ["model"], registry=r)
        self.batch_size = Histogram("medembed_batch_size", "Items per forward batch", ["model"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("medembed_queue_depth", "Items admitted and not yet computed",
                                 ["model"], registry=r)
        self.queue_wait = Histogram("medembed_queue_wait_seconds", "Time from enqueue to batch start",
                                    ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.preprocess = Histogram("medembed_preprocess_seconds", "Decode + preprocess time per item",
                                    ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.decode_fallbacks = Counter("medembed_decode_fallbacks",
                                        "Items decoded with a documented fallback (an invalid DICOM window "
                                        "ignored, non-finite pixels ...); each is logged as decode_fallback",
                                        ["model"], registry=r)
        self.decode_workers_replaced = Counter("medembed_decode_workers_replaced",
                                               "Decode processes stopped for an item over decode_timeout_s",
                                               registry=r)
        self.inference = Histogram("medembed_inference_seconds", "Forward time per batch",
                                   ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.request_duration = Histogram("medembed_request_duration_seconds", "RPC duration",
                                          ["method"], buckets=LATENCY_BUCKETS, registry=r)
        self.model_ready = Gauge("medembed_model_ready", "1 when the model serves", ["model"], registry=r)
        self.oom_splits = Counter("medembed_oom_batch_splits", "Batches halved after CUDA OOM",
                                  ["model"], registry=r)
        self.batch_cap = Gauge("medembed_batch_cap",
                               "Batch limit in force: max_batch_size, the CPU chunk tuned at warm-up, or OOM-halved",
                               ["model"], registry=r)

        self.cache_hits = Counter("medembed_cache_hits", "Items answered from the cache", ["model"], registry=r)
        self.cache_misses = Counter("medembed_cache_misses", "Distinct items looked up and not found",
                                    ["model"], registry=r)
        self.cache_errors = Counter("medembed_cache_errors", "Cache failures (each costs misses, never an RPC)",
                                    ["operation", "reason"], registry=r)
        self.cache_circuit_open = Gauge("medembed_cache_circuit_open", "1 while the cache breaker is open",
                                        registry=r)
        self.cache_operation_seconds = Histogram("medembed_cache_operation_seconds", "Cache call latency",
                                                 ["operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.singleflight_shared = Counter("medembed_singleflight_shared_items",
                                           "Items answered by an identical item computed at the same time",
                                           ["model"], registry=r)

    def serve(self, port: int, host: str) -> None:
        """Prometheus text format on http://host:port/metrics (host without IPv6 brackets)."""
        start_http_server(port, addr=host, registry=self.registry)
