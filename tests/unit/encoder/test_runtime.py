"""ModelRuntime's compute layout: on a CPU the chunk per forward call is the one measured fastest
per image at warm-up; a chunk that is set is used as it is. `start` makes one batcher per spec."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import torch
from PIL import Image

from helpers.servers import TEST_CATALOG
from medembed_encoder.batcher import BatchLimits
from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import load_encoder
from medembed_encoder.metrics import EncoderMetrics
from medembed_encoder.runtime import ComputeLayout, ModelRuntime

CPU = torch.device("cpu")


def runtime_with_cost(seconds_for_batch, chunk: int = 0, max_batch: int = 8) -> ModelRuntime:
    """tiny-timm whose default spec also sleeps seconds_for_batch(N) per call of N items (costs far
    above the tiny model's own, so a loaded machine cannot reorder the candidates)."""
    encoder = load_encoder(load_catalog(TEST_CATALOG)["tiny-timm"], CPU, allow_random_weights=True)
    forward = encoder.specs[encoder.default_spec]

    def costed(batch):
        time.sleep(seconds_for_batch(len(batch)))
        return forward(batch)

    encoder.specs[encoder.default_spec] = costed
    return ModelRuntime(encoder, CPU, torch.float32, BatchLimits(max_batch, 0.005, 100), EncoderMetrics(),
                        ComputeLayout(workers=2, intra_op_threads=1, chunk=chunk))


def test_a_fixed_cost_per_call_tunes_to_the_largest_chunk(monkeypatch):
    monkeypatch.setattr("medembed_encoder.runtime.TUNE_BUDGET_S", 30.0)  # measure every candidate
    runtime = runtime_with_cost(lambda n: 0.2)
    runtime.warm_up()
    assert runtime.batch_cap == 8
    assert runtime.metrics.batch_cap.labels(runtime.model_id)._value.get() == 8


def test_a_cost_growing_faster_than_the_batch_tunes_to_one_item(monkeypatch):
    # 0.5 s for one item, 2 s for two: a loaded machine would have to stall one 1-item call by
    # 0.5 s to reorder them (at 0.05 s per item it did, at load 6 on 2 cores). The budget lets
    # both candidates be measured (1 s for chunk 1, 4 s for chunk 2), then stops.
    monkeypatch.setattr("medembed_encoder.runtime.TUNE_BUDGET_S", 3.0)
    runtime = runtime_with_cost(lambda n: 0.5 * n * n)
    runtime.warm_up()
    assert runtime.batch_cap == 1


def test_a_chunk_that_is_set_is_not_tuned():
    runtime = runtime_with_cost(lambda n: 0.05, chunk=4)
    runtime.warm_up()
    assert runtime.batch_cap == 4
    vectors = runtime.forward([runtime.preprocess(Image.new("RGB", (40, 30)))] * 6, runtime.encoder.default_spec)
    assert vectors.shape[0] == 6  # two calls of at most 4 items


async def test_start_makes_one_batcher_per_spec_each_computing_its_own_spec():
    runtime = runtime_with_cost(lambda n: 0.0, chunk=4)
    runtime.start()
    tensor = runtime.preprocess(Image.new("RGB", (40, 30)))
    try:
        for spec, dim in runtime.encoder.spec_dims.items():
            vectors = await asyncio.gather(*runtime.submit([tensor] * 3, spec, None, bulk=False))
            assert [v.shape for v in vectors] == [(dim,)] * 3
            assert np.allclose(vectors[0], runtime.forward([tensor], spec)[0], atol=1e-5)
    finally:
        await runtime.stop()
