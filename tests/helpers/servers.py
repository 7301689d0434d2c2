"""Real encoder servers in subprocesses on free loopback ports, and their metrics."""

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

from medembed_client import check_health

TESTS = Path(__file__).resolve().parent.parent
TEST_CATALOG = TESTS / "fixtures" / "catalog.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    metrics_port: int
    log_path: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample as {(name, sorted labels): value}."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        return sum(value for (sample_name, sample_labels), value in self.metrics().items()
                   if sample_name == name and set(labels.items()) <= set(sample_labels))

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_server(models: str, tmp_dir: Path, *, wait: bool = True, env: dict[str, str] | None = None,
                 **settings: object) -> RunningServer:
    port, metrics_port = free_port(), free_port()
    log_path = tmp_dir / f"encoder-{port}.log"
    command = [sys.executable, "-m", "medembed_encoder.cli", "serve", "--models", models, "--host", "127.0.0.1",
               "--port", str(port), "--metrics-port", str(metrics_port), "--catalog", str(TEST_CATALOG),
               "--allow-random-weights", "--device", "cpu", "--decode-threads", "2"]
    for name, value in settings.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    full_env = {**os.environ, "MEDEMBED_CACHE_URL": "none", **(env or {})}
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=full_env)
    server = RunningServer(process, port, metrics_port, log_path)
    if wait:
        wait_serving(server)
    return server


def wait_serving(server: RunningServer, timeout: float = 120) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if server.process.poll() is not None:
            raise RuntimeError(f"encoder exited with {server.process.returncode}:\n{server.log()}")
        if check_health(server.target, timeout_s=1) == "SERVING":
            return
        time.sleep(0.2)
    server.stop(signal.SIGKILL)
    raise TimeoutError(f"encoder not SERVING after {timeout}s:\n{server.log()}")
