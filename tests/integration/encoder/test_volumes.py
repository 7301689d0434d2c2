"""Volume items through a real encoder and a real Redis: slice rules, rows and their slice indices,
pooled vectors, and vector identities (cache keys) that never mix two rules, axes or windows."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from helpers.servers import start_server
from helpers.volumes import nifti_bytes, phantom, series_files, zip_of
from medembed_client import Client, EmbedError, RetryPolicy
from medembed_decode import DecodeLimits
from medembed_decode.volume import SliceOptions, decode_slices
from medembed_proto import volume_identity

MODEL = "tiny-timm"


@pytest.fixture(scope="module")
def volume_server(tmp_path_factory):
    server = start_server(MODEL, tmp_path_factory.mktemp("volumes"), max_queue_delay_ms=2)
    yield server
    server.stop()


@pytest.fixture
def cached_volume_server(private_redis, server_dir):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2)
    yield server
    server.stop()


def ct_series(slices: int = 5, seed: int = 0) -> bytes:
    """A zip of one CT series (24 x 24 x `slices`, shuffled file names, signed pixels, padding)."""
    return zip_of(series_files(phantom((24, 24, slices), seed=seed)))


def png_of(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def slice_pngs(data: bytes, **options: str) -> list[bytes]:
    """The chosen slices as the decode rules render them (medembed_decode.volume), one PNG each."""
    decoded = decode_slices(data, SliceOptions.parse(**options), DecodeLimits())
    return [png_of(image.pixels) for image in decoded.images]


def test_every_slice_is_a_row_equal_to_that_slice_sent_as_an_image(volume_server):
    series = ct_series()
    with Client(volume_server.target) as client:
        result = client.embed([series], MODEL, volume={"slices": "all", "window": "abdomen"})
        alone = client.embed(slice_pngs(series, rule="all", window="abdomen"), MODEL)
    assert result.errors == {}
    assert result.vectors.shape == (5, alone.vectors.shape[1])
    assert result.row_item.tolist() == [0] * 5 and result.row_slice.tolist() == [0, 1, 2, 3, 4]
    assert result.slice_indices == [(0, 1, 2, 3, 4)] and result.slice_counts.tolist() == [5]
    np.testing.assert_allclose(result.vectors, alone.vectors, rtol=0, atol=1e-5)


def test_mean_is_the_mean_of_the_slice_rows_and_every_k_picks_every_kth(volume_server):
    volume = nifti_bytes(phantom((24, 24, 6), seed=3), np.diag([0.8, 0.8, 2.5, 1.0]), gzipped=True)
    with Client(volume_server.target) as client:
        rows = client.embed([volume], MODEL, volume={"slices": "all"})
        pooled = client.embed([volume], MODEL, volume={"slices": "mean"})
        every = client.embed([volume, png_of(np.zeros((32, 32), np.uint8))], MODEL, volume={"slices": "every:4"})
    assert pooled.vectors.shape == (1, rows.vectors.shape[1])
    np.testing.assert_allclose(pooled.vectors[0], rows.vectors.mean(axis=0), rtol=0, atol=1e-5)
    assert pooled.row_slice.tolist() == [-1] and pooled.slice_indices == [tuple(range(6))]
    # every:4 of 6 slices: 0 and 4; a 2-D image in the same request is a volume of one slice.
    assert every.row_item.tolist() == [0, 0, 1] and every.row_slice.tolist() == [0, 4, 0]
    np.testing.assert_allclose(every.vectors[:2], rows.vectors[[0, 4]], rtol=0, atol=1e-5)
    assert every.slice_counts.tolist() == [6, 1]


def test_two_rules_never_share_a_cache_entry(cached_volume_server, private_redis):
    series = ct_series()
    with Client(cached_volume_server.target, retry=RetryPolicy(max_attempts=1)) as client:
        served = next(spec.vector_identity for m in client.list_models() if m.id == MODEL for spec in m.specs
                      if spec.name == m.default_spec)
        middle = client.embed([series], MODEL, volume={"slices": "middle"})
        index = client.embed([series], MODEL, volume={"slices": "index:2"})  # the same slice, another rule
        lung = client.embed([series], MODEL, volume={"slices": "middle", "window": "lung"})
        wait_for_keys(private_redis, 3)
        again = client.embed([series], MODEL, volume={"slices": "middle"})
    identities = {r.provenance.vector_identity for r in (middle, index, lung)}
    assert len(identities) == 3 and served not in identities
    assert "slices=middle" in middle.provenance.volume and "window=lung" in lung.provenance.volume
    assert middle.provenance.vector_identity == volume_identity(served, middle.provenance.volume)
    assert middle.slice_indices == index.slice_indices == [(2,)]
    np.testing.assert_array_equal(middle.vectors, index.vectors)  # same pixels, same vector ...
    assert not index.cache_hits[0]  # ... yet computed again: its rule has its own key
    assert not np.allclose(middle.vectors, lung.vectors)
    keys = sorted(private_redis.client().keys("medembed:v1:*"))
    assert len(keys) == 3 and len({key.split(b":")[4] for key in keys}) == 3  # sha256:<identity>
    assert again.cache_hits.all() and again.slice_indices == [(2,)] and again.slice_counts.tolist() == [5]
    np.testing.assert_array_equal(again.vectors, middle.vectors)


def wait_for_keys(redis_server, count: int) -> None:
    """Cache writes go out in the background: wait until `count` keys are there."""
    client = redis_server.client()
    deadline = time.monotonic() + 30
    while len(client.keys("medembed:v1:*")) < count:
        assert time.monotonic() < deadline, "the cache writes never arrived"
        time.sleep(0.02)


def test_bad_volume_options_refuse_the_request_naming_the_field(volume_server):
    with Client(volume_server.target, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(EmbedError) as refused:
            client.embed([png_of(np.zeros((32, 32), np.uint8))], MODEL, volume={"slices": "every:0"})
        with pytest.raises(ValueError, match="unknown"):
            client.embed([b"x"], MODEL, volume={"slice": "all"})
    assert refused.value.code == "INVALID_ARGUMENT"
    assert "EmbedRequest.volume" in refused.value.message and "every:0" in refused.value.message


def test_a_slice_outside_the_volume_fails_that_item_alone(volume_server):
    series = ct_series()
    with Client(volume_server.target) as client:
        result = client.embed([series, ct_series(slices=12, seed=1)], MODEL, volume={"slices": "index:9"})
    assert list(result.errors) == [0] and result.errors[0].code == "decode_error"
    assert "5" in result.errors[0].message  # names the slice count
    assert result.ok.tolist() == [False, True] and result.slice_indices[1] == (9,)
