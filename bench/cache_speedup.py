"""What the Redis cache buys: second-pass vs first-pass throughput over the same images, and the
latency of a fully cached 64-image request, measured in one run against a private redis-server.

    python bench/cache_speedup.py [--data ../shared/data/busi]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from images import load_images  # noqa: E402

from medembed_client import Client  # noqa: E402
from medembed_encoder.testing import LocalRedis, start_local_encoder  # noqa: E402


def timed_pass(client: Client, images: list[bytes], model: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = client.embed(images, model)
    seconds = time.perf_counter() - started
    if result.errors:
        raise RuntimeError(f"item errors: {list(result.errors.items())[:3]}")
    return len(images) / seconds, int(result.cache_hits.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="ImageFolder root; default: offline phantoms")
    parser.add_argument("--model", default="efficientnet-lite0-imagenet")
    parser.add_argument("--requests", type=int, default=200, help="cached 64-image requests to time")
    args = parser.parse_args()
    description, images = load_images(args.data)
    redis_server = LocalRedis().start()
    try:
        with tempfile.TemporaryDirectory() as logs, start_local_encoder(
                args.model, Path(logs), cache_url=redis_server.url, device="cpu") as server, \
                Client(server.target, chunk_size=32, max_concurrency=4) as client:
            first, first_hits = timed_pass(client, images, args.model)
            time.sleep(1.0)  # let the background SETs land
            second, second_hits = timed_pass(client, images, args.model)
            request = images[:64]
            latencies = []
            for _ in range(args.requests):
                started = time.perf_counter()
                result = client.embed(request, args.model)
                latencies.append(time.perf_counter() - started)
                assert result.cache_hits.all()
            forwards = server.metric("medembed_forward_items_total", model=args.model)
    finally:
        redis_server.stop()
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    print(f"model {args.model}; {description}; redis cache")
    print(f"first pass  : {first:9.1f} img/s ({first_hits} hits)")
    print(f"second pass : {second:9.1f} img/s ({second_hits} hits; forwards in total: {forwards:.0f})")
    print(f"second / first throughput: {second / first:.1f}x")
    print(f"fully cached 64-image request over {args.requests} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
