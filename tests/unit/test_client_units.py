import numpy as np
import pytest
from PIL import Image

from medembed_client.aio import plan_chunks
from medembed_client.inputs import to_bytes
from medembed_client.retry import RetryPolicy, is_retryable


def test_chunks_respect_item_and_byte_limits():
    assert plan_chunks([1] * 10, 4, 100) == [(0, 4), (4, 8), (8, 10)]
    assert plan_chunks([60, 60, 10, 200, 5], 10, 100) == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert plan_chunks([], 4, 100) == []


def test_inputs_become_png_or_pass_through(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert to_bytes(path) == b"abc" and to_bytes(str(path)) == b"abc" and to_bytes(bytearray(b"q")) == b"q"
    assert to_bytes(Image.new("RGB", (4, 4))).startswith(b"\x89PNG")
    assert to_bytes(np.zeros((4, 4), dtype=np.uint16)).startswith(b"\x89PNG")
    with pytest.raises(TypeError, match="not an image"):
        to_bytes(np.zeros((4, 4), dtype=np.float64))
    with pytest.raises(TypeError, match="cannot embed"):
        to_bytes(42)


def test_retry_classification_and_backoff():
    import grpc

    assert is_retryable(grpc.StatusCode.UNAVAILABLE, "")
    assert is_retryable(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue is full")
    assert not is_retryable(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5 vs. 4)")
    assert not is_retryable(grpc.StatusCode.INVALID_ARGUMENT, "")
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=1.0)
    assert 0.05 <= policy.backoff(0) <= 0.1
    assert 0.5 <= policy.backoff(10) <= 1.0
