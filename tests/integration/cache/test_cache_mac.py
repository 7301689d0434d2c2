"""Authenticated cache values against a real private redis-server and real encoder servers: whoever
can write to Redis can delete vectors, never change one.

Planted values — all zeros, 1e38 everywhere, another image's sealed value, the same image's sealed
value from another model (another vector identity, same dim), values sealed with a secret of the
attacker's own, a forged tag under the real key id — are misses, counted as `mac_failed`, and
overwritten by the fresh vector. Replicas sharing the secret serve each other's values; a rotated
secret keeps the old values as hits during the grace period (they are sealed again under the new
secret). The keys come from the cache module's KeyScope with the identity ListModels announces.
"""

from __future__ import annotations

import hashlib
import stat
import time

import grpc
import numpy as np

from helpers.images import png
from helpers.servers import start_server
from medembed_client import Client
from medembed_encoder.cache.keys import KeyScope
from medembed_encoder.cache.mac import HEADER_BYTES, MAGIC, CacheSealer, key_id
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

MODEL, OTHER = "tiny-timm", "tiny-timm-seed1"  # same architecture and dim, other weights: other identity
SECRET = "a" * 16 + "-cache-mac-secret-for-tests-0001"
NEW_SECRET = "b" * 16 + "-cache-mac-secret-for-tests-0002"
ATTACKER_SECRET = "c" * 16 + "-the-attacker-has-a-secret-too-3"


def wait_for(condition, seconds: float = 10.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "condition not met in time"
        time.sleep(0.05)


def secret_file(directory, name: str, secret: str):
    path = directory / name
    path.write_text(secret + "\n")
    return path


def scope_of(client: Client, model: str) -> KeyScope:
    info = next(m for m in client.list_models() if m.id == model)
    spec = next(s for s in info.specs if s.name == info.default_spec)
    return KeyScope(model, spec.vector_identity, spec.name)


def key_of(scope: KeyScope, image: bytes) -> str:
    return scope.key(hashlib.sha256(image).hexdigest())


def forwards(server, model: str = MODEL) -> float:
    return server.metric("medembed_forward_items_total", model=model)


def test_planted_values_are_never_served(private_redis, server_dir, tmp_path):
    server = start_server(f"{MODEL},{OTHER}", server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                          cache_mac_key_file=secret_file(tmp_path, "mac", SECRET), refusal_log_interval_s=0.5)
    redis = private_redis.client()
    try:
        with Client(server.target) as client:
            scope, other_scope = scope_of(client, MODEL), scope_of(client, OTHER)
            images = [png(700 + i) for i in range(7)]
            keys = [key_of(scope, image) for image in images]
            fresh = client.embed(images, MODEL)
            assert client.embed(images[3:4], OTHER).errors == {}
            wait_for(lambda: all(redis.exists(k) for k in keys) and redis.exists(key_of(other_scope, images[3])))
            sealed = [redis.get(k) for k in keys]
            assert all(value[:len(MAGIC)] == MAGIC and value[len(MAGIC):len(MAGIC) + 4] == key_id(SECRET.encode())
                       for value in sealed)
            dim = fresh.vectors.shape[1]
            zeros = np.zeros(dim, "<f4").tobytes()
            planted = [
                zeros,  # all zeros, unsealed
                np.full(dim, 1e38, "<f4").tobytes(),  # finite nonsense, unsealed
                sealed[1],  # another image's valid seal, replayed under this image's key
                redis.get(key_of(other_scope, images[3])),  # this image, other model: another identity, same dim
                CacheSealer(ATTACKER_SECRET.encode()).seal(keys[4], scope.vector_identity, zeros),  # own secret
                sealed[5][:len(MAGIC) + 4] + bytes(32) + zeros,  # the real key id, a guessed tag
                sealed[6][:HEADER_BYTES] + zeros,  # a real header over another payload
            ]
            for key, value in zip(keys, planted, strict=True):
                redis.set(key, value)
            before = forwards(server)
            again = client.embed(images, MODEL)

        assert not again.cache_hits.any(), "a planted value was served as a hit"
        np.testing.assert_array_equal(again.vectors, fresh.vectors)
        assert forwards(server) - before == len(images)
        assert server.metric("medembed_cache_errors_total", operation="get", reason="mac_failed") == len(images)
        # Overwritten by the fresh, sealed vectors; then served as hits.
        opener = CacheSealer(SECRET.encode())
        wait_for(lambda: all(opener.open(k, scope.vector_identity, redis.get(k)).payload == v.astype("<f4").tobytes()
                             for k, v in zip(keys, fresh.vectors, strict=True)))
        with Client(server.target) as client:
            third = client.embed(images, MODEL)
        assert third.cache_hits.all()
        np.testing.assert_array_equal(third.vectors, fresh.vectors)
        wait_for(lambda: '"cache_values_rejected"' in server.log())
        assert server.log().count('"cache_values_rejected"') == 1, "rejections are summarised, not one line each"
        assert SECRET not in server.log()
    finally:
        server.stop()


def test_digest_only_lookups_never_serve_a_planted_value(private_redis, server_dir, tmp_path):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                          cache_mac_key_file=secret_file(tmp_path, "mac", SECRET))
    try:
        image = png(760)
        with Client(server.target) as client:
            scope = scope_of(client, MODEL)
            dim = client.embed([image], MODEL).vectors.shape[1]
        private_redis.client().set(key_of(scope, image), np.ones(dim, "<f4").tobytes())
        with grpc.insecure_channel(server.target) as channel:
            response = pb_grpc.EncoderStub(channel).Embed(pb.EmbedRequest(
                model=MODEL, items=[pb.Item(content_sha256=hashlib.sha256(image).hexdigest())]), timeout=30)
        assert response.results[0].status.code == pb.ITEM_CODE_NOT_CACHED
        assert not response.results[0].vector
    finally:
        server.stop()


def test_a_replica_with_the_shared_secret_serves_the_values_another_wrote(private_redis, server_dir, tmp_path):
    key_file = secret_file(tmp_path, "mac", SECRET)
    writer = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                          cache_mac_key_file=key_file)
    reader = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                          env={"MEDEMBED_CACHE_MAC_KEY": SECRET})  # the env form of the same secret
    try:
        images = [png(800 + i) for i in range(5)]
        with Client(writer.target) as client:
            scope = scope_of(client, MODEL)
            written = client.embed(images, MODEL)
        redis = private_redis.client()
        wait_for(lambda: all(redis.exists(key_of(scope, image)) for image in images))
        with Client(reader.target) as client:
            read = client.embed(images, MODEL)
        assert read.cache_hits.all()
        np.testing.assert_array_equal(read.vectors, written.vectors)
        assert forwards(reader) == 0
    finally:
        writer.stop()
        reader.stop()


def test_a_rotated_secret_keeps_old_values_as_hits_in_the_grace_period(private_redis, server_dir, tmp_path):
    old_file, new_file = secret_file(tmp_path, "old", SECRET), secret_file(tmp_path, "new", NEW_SECRET)
    images = [png(850 + i) for i in range(4)]
    redis = private_redis.client()
    old = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                       cache_mac_key_file=old_file)
    try:
        with Client(old.target) as client:
            scope = scope_of(client, MODEL)
            written = client.embed(images, MODEL)
        keys = [key_of(scope, image) for image in images]
        wait_for(lambda: all(redis.exists(k) for k in keys))
    finally:
        old.stop()

    rotated = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                           cache_mac_key_file=new_file, cache_mac_previous_key_file=old_file)
    try:
        with Client(rotated.target) as client:
            during = client.embed(images, MODEL)
        assert during.cache_hits.all()
        np.testing.assert_array_equal(during.vectors, written.vectors)
        assert forwards(rotated) == 0
        # Sealed again under the new secret, so they outlive the grace period.
        new_id = key_id(NEW_SECRET.encode())
        wait_for(lambda: all(redis.get(k)[len(MAGIC):len(MAGIC) + 4] == new_id for k in keys))
    finally:
        rotated.stop()

    # The old secret's grace is over (0 s) and so is its hold on values: a value still sealed under
    # it is a miss; the resealed ones are hits.
    stale = png(899)
    old = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                       cache_mac_key_file=old_file)
    try:
        with Client(old.target) as client:
            client.embed([stale], MODEL)
        wait_for(lambda: redis.exists(key_of(scope, stale)))
    finally:
        old.stop()
    after = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2,
                         cache_mac_key_file=new_file, cache_mac_previous_key_file=old_file, cache_mac_grace_s=0)
    try:
        with Client(after.target) as client:
            result = client.embed([*images, stale], MODEL)
        assert result.cache_hits.tolist() == [True] * len(images) + [False]
        assert after.metric("medembed_cache_errors_total", operation="get", reason="mac_failed") == 1
    finally:
        after.stop()


def test_without_a_secret_the_server_says_so_once_and_still_works(private_redis, server_dir):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2)
    try:
        with Client(server.target) as client:
            assert client.embed([png(870)], MODEL).errors == {}
        assert server.log().count('"cache_values_unauthenticated"') == 1
    finally:
        server.stop()


def test_the_on_disk_cache_is_private_and_sealed(server_dir, tmp_path):
    folder = tmp_path / "vectors"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as an older version left it
    server = start_server(MODEL, server_dir, env={"MEDEMBED_CACHE_URL": ""}, cache_dir=folder,
                          max_queue_delay_ms=2, cache_mac_key_file=secret_file(tmp_path, "mac", SECRET))
    try:
        image = png(880)
        with Client(server.target) as client:
            scope = scope_of(client, MODEL)
            fresh = client.embed([image], MODEL)
            path = folder / hashlib.sha256(key_of(scope, image).encode()).hexdigest()[:2] / \
                hashlib.sha256(key_of(scope, image).encode()).hexdigest()
            wait_for(path.exists)
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert path.read_bytes()[:len(MAGIC)] == MAGIC
            assert client.embed([image], MODEL).cache_hits.all()
            path.write_bytes(np.zeros(fresh.vectors.shape[1], "<f4").tobytes())  # planted
            again = client.embed([image], MODEL)
        assert not again.cache_hits.any()
        np.testing.assert_array_equal(again.vectors, fresh.vectors)
        assert server.metric("medembed_cache_errors_total", operation="get", reason="mac_failed") == 1
    finally:
        server.stop()


def test_a_password_file_wins_over_the_password_in_the_url(private_redis):
    """`--cache-password-file` says it is used over any password in cache_url: a wrong password in
    the URL and the right one in the file connect."""
    import asyncio

    from medembed_encoder.cache.backends import RedisBackend

    password = "redis-password-for-the-test-0123"
    admin = private_redis.client()
    admin.config_set("requirepass", password)
    try:
        url = private_redis.url.replace("redis://", "redis://:wrong-password@", 1)

        async def round_trip() -> list[bytes | None]:
            backend = RedisBackend(url, 2.0, 60, password=password)
            try:
                await backend.set_many({"medembed:test": b"value"})
                return await backend.get_many(["medembed:test"])
            finally:
                await backend.close()

        assert asyncio.run(round_trip()) == [b"value"]
    finally:
        admin.execute_command("AUTH", password)
        admin.config_set("requirepass", "")
