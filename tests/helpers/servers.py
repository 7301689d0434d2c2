"""Real encoder servers in subprocesses on free loopback ports (tiny test catalog, CPU)."""

from __future__ import annotations

from pathlib import Path

from medembed_encoder.testing import LocalEncoder, free_port, start_local_encoder
from medembed_proto.security import PLAINTEXT, ChannelSecurity

TESTS = Path(__file__).resolve().parent.parent
TEST_CATALOG = TESTS / "fixtures" / "catalog.yaml"
# An idle model starts a batch at once; tests that need items to wait out max_queue_delay_ms (to
# keep a run going for seconds, or a queue full) turn that off.
WAIT_FOR_BATCHES = {"MEDEMBED_START_WHEN_IDLE": "0"}
RunningServer = LocalEncoder


def start_server(models: str, tmp_dir: Path, *, wait: bool = True, env: dict[str, str] | None = None,
                 security: ChannelSecurity = PLAINTEXT, **settings: object) -> LocalEncoder:
    defaults = {"catalog": TEST_CATALOG, "allow_random_weights": True, "device": "cpu", "decode_threads": 2,
                "decode_workers": 2}
    return start_local_encoder(models, tmp_dir, env={"MEDEMBED_CACHE_URL": "none", **(env or {})}, wait=wait,
                               security=security, **{**defaults, **settings})


def wait_serving(server: LocalEncoder, timeout: float = 120) -> None:
    server.wait_serving(timeout)


__all__ = ["TEST_CATALOG", "WAIT_FOR_BATCHES", "RunningServer", "free_port", "start_server", "wait_serving"]
