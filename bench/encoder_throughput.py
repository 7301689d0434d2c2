"""Service throughput at N concurrent single-image clients vs an in-process batched forward.

Both sides decode, preprocess and embed the same images with the same model and batch size, on
this machine, in one run; the figure is the ratio of the two throughputs.

    python bench/encoder_throughput.py [--data ../shared/data/busi] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from images import load_images  # noqa: E402

from medembed_client import AsyncClient  # noqa: E402
from medembed_decode import DecodeLimits, decode_image  # noqa: E402
from medembed_encoder.catalog import load_catalog  # noqa: E402
from medembed_encoder.families import load_encoder  # noqa: E402
from medembed_encoder.testing import start_local_encoder  # noqa: E402


def in_process_throughput(model_id: str, images: list[bytes], batch_size: int) -> float:
    encoder = load_encoder(load_catalog()[model_id], torch.device("cpu"), allow_random_weights=True)
    limits = DecodeLimits(2**30, 10**9, 1)

    def run(subset: list[bytes]) -> None:
        with torch.inference_mode():
            for start in range(0, len(subset), batch_size):
                chunk = subset[start:start + batch_size]
                batch = torch.stack([encoder.preprocess(decode_image(d, limits)) for d in chunk])
                encoder.specs[encoder.default_spec](batch)

    run(images[:batch_size])  # warm-up
    started = time.perf_counter()
    run(images)
    return len(images) / (time.perf_counter() - started)


async def service_throughput(target: str, model_id: str, images: list[bytes], clients: int) -> float:
    async def one_client(share: list[bytes]) -> None:
        async with AsyncClient(target) as client:
            for data in share:
                result = await client.embed([data], model_id)
                if result.errors:
                    raise RuntimeError(result.errors)

    await one_client(images[:clients])  # warm-up
    started = time.perf_counter()
    await asyncio.gather(*(one_client(images[i::clients]) for i in range(clients)))
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="ImageFolder root; default: offline phantoms")
    parser.add_argument("--model", default="efficientnet-lite0-imagenet")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--limit", type=int, default=400)
    args = parser.parse_args()
    description, images = load_images(args.data, args.limit)
    print(f"model {args.model}; {description}; batch size {args.clients}; torch threads {torch.get_num_threads()}")
    ours_in_process = in_process_throughput(args.model, images, args.clients)
    with tempfile.TemporaryDirectory() as logs, start_local_encoder(
            args.model, Path(logs), env={"MEDEMBED_CACHE_URL": "none"}, allow_random_weights=True, device="cpu",
            max_batch_size=args.clients, max_queue_delay_ms=5) as server:
        ours_service = asyncio.run(service_throughput(server.target, args.model, images, args.clients))
        batches = server.metric("medembed_batch_size_count", model=args.model)
        items = server.metric("medembed_batch_size_sum", model=args.model)
    print(f"in-process batched forward : {ours_in_process:8.1f} img/s")
    print(f"service, {args.clients} clients        : {ours_service:8.1f} img/s (mean batch {items / batches:.1f})")
    print(f"service / in-process       : {ours_service / ours_in_process:8.2f}x")


if __name__ == "__main__":
    main()
