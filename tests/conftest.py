import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers.redis_server import PrivateRedis  # noqa: E402
from helpers.servers import RunningServer, start_server  # noqa: E402


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def tiny_server(server_dir: Path):
    """One shared server with the tiny test models; tests must leave it serving."""
    server = start_server("tiny-clip,tiny-timm", server_dir, max_queue_delay_ms=20, max_items_per_request=16,
                          max_request_bytes=2_000_000, max_image_bytes=1_000_000)
    yield server
    server.stop()


@pytest.fixture
def private_redis():
    """A redis-server of this test's own, on a free port; the test may kill or pause it."""
    server = PrivateRedis().start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: loads real-size models")


__all__ = ["RunningServer"]
