"""A poisoned Redis cannot change an embedding: NaN, inf or wrong-length values at the real keys are
misses with an error metric, never served, and the fresh vector overwrites them.

The keys come from the cache module's own KeyScope with the vector identity the server announces
for the spec (ListModels), and the test first checks that the server really wrote those keys.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from helpers.images import png
from helpers.servers import start_server
from medembed_client import Client
from medembed_encoder.cache.keys import KeyScope

MODEL = "tiny-timm"


def poison_values(dim: int) -> dict[str, bytes]:
    good = np.linspace(-1, 1, dim, dtype="<f4")
    one_nan, one_inf = good.copy(), good.copy()
    one_nan[dim // 2] = np.nan
    one_inf[0] = np.inf
    return {
        "all_nan": np.full(dim, np.nan, dtype="<f4").tobytes(),
        "one_nan": one_nan.tobytes(),
        "pos_inf": one_inf.tobytes(),
        "neg_inf": np.full(dim, -np.inf, dtype="<f4").tobytes(),
        "short": good[:-1].tobytes(),
        "long": np.concatenate([good, good[:1]]).tobytes(),
        "empty": b"",
    }


def wait_for(condition, seconds: float = 10.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "condition not met in time"
        time.sleep(0.05)


def test_poisoned_values_are_never_served_and_get_overwritten(private_redis, server_dir):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2)
    redis = private_redis.client()
    try:
        with Client(server.target) as client:
            info = next(m for m in client.list_models() if m.id == MODEL)
            dim = info.dim
            spec = next(s for s in info.specs if s.name == info.default_spec)
            scope = KeyScope(MODEL, spec.vector_identity, spec.name)
            kinds = poison_values(dim)
            images = [png(500 + i) for i in range(len(kinds))]
            keys = [scope.key(hashlib.sha256(image).hexdigest()) for image in images]
            fresh = client.embed(images, MODEL)
            assert fresh.errors == {} and np.isfinite(fresh.vectors).all()
            wait_for(lambda: all(redis.exists(key) for key in keys))  # the server keys its cache this way
            for key, vector in zip(keys, fresh.vectors, strict=True):
                assert redis.get(key) == vector.astype("<f4").tobytes()

            for key, value in zip(keys, kinds.values(), strict=True):
                redis.set(key, value)
            again = client.embed(images, MODEL)

        assert not again.cache_hits.any(), "a poisoned value was served as a hit"
        np.testing.assert_array_equal(again.vectors, fresh.vectors)
        assert server.metric("medembed_cache_errors_total", operation="get", reason="non_finite") == 4
        assert server.metric("medembed_cache_errors_total", operation="get", reason="bad_length") == 3
        # Overwritten by the fresh vectors (the write is pipelined in the background).
        wait_for(lambda: all(redis.get(k) == v.astype("<f4").tobytes()
                             for k, v in zip(keys, fresh.vectors, strict=True)))
        with Client(server.target) as client:
            third = client.embed(images, MODEL)
        assert third.cache_hits.all()
        np.testing.assert_array_equal(third.vectors, fresh.vectors)
    finally:
        server.stop()
