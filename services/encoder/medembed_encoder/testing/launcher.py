"""An encoder server in a local subprocess on free loopback ports: for `make bench`, benchmarks and tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from medembed_proto.health import check_health
from medembed_proto.security import PLAINTEXT, ChannelSecurity


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it before it is bound)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalEncoder:
    """A running `medembed-encoder serve` subprocess: its gRPC `port`, its Prometheus
    `metrics_port` on `metrics_host`, and the file its stdout and stderr go to. `with` stops it
    (SIGTERM, so it drains) on the way out."""

    process: subprocess.Popen
    port: int
    metrics_port: int
    log_path: Path
    security: ChannelSecurity = PLAINTEXT
    """How a client reaches it (TLS, token): what wait_serving's health check uses."""
    metrics_host: str = "127.0.0.1"

    @property
    def target(self) -> str:
        """HOST:PORT for a client."""
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample as {(name, sorted labels): value}; raises URLError when the port does not answer in 5 s."""
        url = f"http://{self.metrics_host}:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        return sum(value for (sample_name, sample_labels), value in self.metrics().items()
                   if sample_name == name and set(labels.items()) <= set(sample_labels))

    def log(self) -> str:
        """Everything the server wrote so far (the JSON log lines)."""
        return self.log_path.read_text()

    def wait_serving(self, timeout: float = 300) -> "LocalEncoder":
        """Block until gRPC health says SERVING; raises RuntimeError (with the log) when the server
        exits first, TimeoutError after `timeout` seconds (the server is killed then)."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"encoder exited with {self.process.returncode}:\n{self.log()}")
            if check_health(self.target, timeout_s=1, security=self.security) == "SERVING":
                return self
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise TimeoutError(f"encoder not SERVING after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` (when it still runs) and wait up to `timeout` s for its exit status
        (subprocess.TimeoutExpired after that)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def __enter__(self) -> "LocalEncoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_encoder(models: str, log_dir: Path, *, env: dict[str, str] | None = None, wait: bool = True,
                        security: ChannelSecurity = PLAINTEXT, **settings: object) -> LocalEncoder:
    """Start `medembed-encoder serve --models MODELS` on free loopback ports, logging to `log_dir`.

    `settings` are passed as flags (`max_batch_size=8` -> `--max-batch-size 8`; True for a boolean
    flag); `env` is added to this process's environment. `security` is how to reach it when it
    runs with TLS or tokens. With `wait`, returns once it is SERVING (raises as
    LocalEncoder.wait_serving); otherwise at once.
    """
    port, metrics_port = free_port(), free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"encoder-{port}.log"
    command = [sys.executable, "-m", "medembed_encoder.cli", "serve", "--models", models, "--host", "127.0.0.1",
               "--port", str(port), "--metrics-port", str(metrics_port)]
    for name, value in settings.items():
        flag = f"--{name.replace('_', '-')}"
        command += [flag] if value is True else [flag, str(value)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    metrics_host = str(settings.get("metrics_host") or "127.0.0.1")
    encoder = LocalEncoder(process, port, metrics_port, log_path, security, metrics_host)
    return encoder.wait_serving() if wait else encoder
