"""The deployment's secrets, for real: deploy/secrets/generate.sh makes them, deploy/redis/start.sh
starts a private redis-server with its passwords (and TLS, as deploy/compose.tls.yml does), and an
encoder with TLS, tokens and a rediss:// cache built from those files serves and caches vectors.
The results-stream user can only XADD; a wrong password costs misses, never an RPC."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from helpers.images import png
from helpers.servers import free_port, start_server
from medembed_client import ChannelSecurity, Client
from medembed_proto.security import read_token_file

ROOT = Path(__file__).resolve().parents[3]
MODEL = "tiny-timm"


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("deploy") / "secrets"
    subprocess.run(["sh", str(ROOT / "deploy" / "secrets" / "generate.sh"), str(directory)], check=True,
                   capture_output=True, timeout=60)
    return directory


@pytest.fixture(scope="module")
def tls_redis(secrets, tmp_path_factory):
    """redis-server as the TLS compose override starts it: start.sh, redis.conf, passwords, TLS."""
    port = free_port()
    env = {**os.environ, "REDIS_PASSWORD_FILE": str(secrets / "redis_password"),
           "REDIS_RESULTS_PASSWORD_FILE": str(secrets / "redis_results_password"),
           "REDIS_AUTH_CONF": str(tmp_path_factory.mktemp("redis-tmp") / "redis-auth.conf")}
    process = subprocess.Popen(
        ["sh", str(ROOT / "deploy" / "redis" / "start.sh"), str(ROOT / "deploy" / "redis" / "redis.conf"),
         "--bind", "127.0.0.1", "--maxmemory", "64mb", "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", str(secrets / "encoder.crt"), "--tls-key-file", str(secrets / "encoder.key"),
         "--tls-ca-cert-file", str(secrets / "ca.crt"), "--tls-auth-clients", "no"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={secrets / 'ca.crt'}"
    admin = redis.Redis.from_url(url, password=(secrets / "redis_password").read_text().strip(), socket_timeout=2)
    give_up = time.monotonic() + 15
    while True:
        try:
            admin.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None:
                pytest.skip(f"redis-server without TLS here: {process.stderr.read().decode()[-300:]}")
            assert time.monotonic() < give_up, "redis-server did not start"
            time.sleep(0.1)
    yield url, admin, port
    process.terminate()
    process.wait(10)


def test_encoder_with_tls_tokens_and_a_password_protected_rediss_cache(secrets, tls_redis, server_dir):
    url, admin, _ = tls_redis
    server = start_server(MODEL, server_dir, cache_url=url, cache_password_file=secrets / "redis_password",
                          tls_cert=secrets / "encoder.crt", tls_key=secrets / "encoder.key",
                          token_file=secrets / "medembed_tokens",
                          security=ChannelSecurity(tls_ca=str(secrets / "ca.crt")))
    try:
        security = ChannelSecurity(tls_ca=str(secrets / "ca.crt"), token=read_token_file(secrets / "medembed_token"))
        images = [png(900 + i) for i in range(6)]
        with Client(server.target, security=security) as client:
            first = client.embed(images, MODEL)
            give_up = time.monotonic() + 10
            while len(admin.keys("medembed:v1:*")) < len(images) and time.monotonic() < give_up:
                time.sleep(0.05)
            second = client.embed(images, MODEL)
        assert first.errors == {} and not first.cache_hits.any()
        assert second.cache_hits.all()
        np.testing.assert_array_equal(first.vectors, second.vectors)
        errors = {labels: value for (name, labels), value in server.metrics().items()
                  if name == "medembed_cache_errors_total" and value}
        print("cache errors:", errors)  # a first TLS handshake may pass the 0.1 s timeout: one miss
        assert not any(dict(labels)["reason"] in ("AuthenticationError", "ConnectionError") for labels in errors)
        log = server.log()
        for name in ("redis_password", "medembed_token"):
            assert read_token_file(secrets / name) not in log
    finally:
        server.stop()


def test_the_results_user_can_only_append_to_the_results_stream(secrets, tls_redis):
    url, admin, _ = tls_redis
    admin.set("medembed:v1:some:vector", b"\0" * 8)
    results = redis.Redis.from_url(url.replace("rediss://", "rediss://results@"), socket_timeout=2,
                                   password=(secrets / "redis_results_password").read_text().strip())
    assert results.xadd("medembed:results", {"run_id": "r"}, maxlen=10, approximate=True)
    for forbidden in (lambda: results.get("medembed:v1:some:vector"),
                      lambda: results.set("medembed:v1:some:vector", b"poison"),
                      lambda: results.mget(["medembed:v1:some:vector"]),
                      lambda: results.xadd("medembed:other", {"a": "b"})):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()
    anonymous = redis.Redis.from_url(url, socket_timeout=2)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("medembed:v1:some:vector")
    assert admin.get("medembed:v1:some:vector") == b"\0" * 8


def test_a_wrong_password_costs_misses_never_an_rpc_and_is_never_logged(tls_redis, server_dir, tmp_path):
    url, _, _ = tls_redis
    wrong = tmp_path / "wrong_password"
    wrong.write_text("wrong-password-4242424242\n")
    server = start_server(MODEL, server_dir, cache_url=url, cache_password_file=wrong)
    try:
        with Client(server.target) as client:
            result = client.embed([png(950 + i) for i in range(4)], MODEL)
        assert result.errors == {} and np.isfinite(result.vectors).all() and not result.cache_hits.any()
        assert server.metric("medembed_cache_errors_total", operation="get") >= 1
        assert "wrong-password-4242424242" not in server.log()
    finally:
        server.stop()
