"""`python -m medembed_client.healthcheck`, the container HEALTHCHECK, against a real encoder server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from helpers.servers import free_port, start_server, wait_serving
from medembed_encoder import config

STARTUP_LIMIT_S = 900  # a tiny-timm encoder's start on a heavily loaded 2-core machine stays far below


def healthcheck(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medembed_client.healthcheck", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server("tiny-timm", tmp_path_factory.mktemp("healthcheck"))
    yield running
    running.stop()


def test_exit_0_when_serving(server):
    completed = healthcheck("--target", server.target)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.split() == [server.target, "SERVING"]


def test_per_model_service(server):
    assert healthcheck("--target", server.target, "--service", "tiny-timm").returncode == 0
    unknown = healthcheck("--target", server.target, "--service", "no-such-model")
    assert unknown.returncode != 0 and "NOT_FOUND" in unknown.stdout


def test_default_target_is_this_containers_port_setting(server):
    """As in the image: no arguments, the port from the server's own env var."""
    completed = healthcheck(env={config.env_var("port"): str(server.port)})
    assert completed.returncode == 0, completed.stdout
    assert completed.stdout.startswith(f"localhost:{server.port} SERVING")


def test_dns_scheme_target(server):
    assert healthcheck("--target", f"dns:///127.0.0.1:{server.port}").returncode == 0


def test_non_zero_against_a_dead_port():
    started = time.monotonic()
    completed = healthcheck("--target", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert completed.returncode != 0
    assert "UNAVAILABLE" in completed.stdout or "DEADLINE_EXCEEDED" in completed.stdout
    assert time.monotonic() - started < 30


def test_non_zero_when_one_of_several_targets_is_down(server):
    dead = f"127.0.0.1:{free_port()}"
    completed = healthcheck("--target", server.target, "--target", dead, "--timeout", "1")
    assert completed.returncode != 0
    assert f"{server.target} SERVING" in completed.stdout and f"{dead} SERVING" not in completed.stdout


@pytest.mark.timeout(STARTUP_LIMIT_S + 120)
def test_wait_blocks_until_a_starting_server_serves(tmp_path):
    """The Kubernetes evaluator Job's init container: wait while the encoder loads its models.

    How long a start takes depends on the machine's load (116 s here at load 14, with 2 cores), so
    the wait ends on events: the check's own exit, or the server's (which fails the test with its
    log); STARTUP_LIMIT_S only bounds a hung start."""
    starting = start_server("tiny-timm", tmp_path, wait=False)
    try:
        check = subprocess.Popen([sys.executable, "-m", "medembed_client.healthcheck", "--target", starting.target,
                                  "--wait", str(STARTUP_LIMIT_S), "--interval", "0.2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while check.poll() is None:
            if starting.process.poll() is not None:
                check.kill()
                pytest.fail(f"the encoder exited ({starting.process.returncode}) before serving:\n{starting.log()}")
            time.sleep(0.2)
        output = check.stdout.read()
        assert check.returncode == 0, output + starting.log()
        wait_serving(starting, timeout=1)  # it really is serving now
    finally:
        starting.stop()


def test_wait_gives_up():
    started = time.monotonic()
    completed = healthcheck("--target", f"127.0.0.1:{free_port()}", "--timeout", "0.5", "--wait", "2",
                            "--interval", "0.5")
    assert completed.returncode != 0
    assert 1.5 < time.monotonic() - started < 30
