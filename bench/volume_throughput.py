"""Slices/s for a CT series through the service beside an in-process decode + forward of the same
slices, in one run, and the service's memory peak.

The series is synthetic (300 axial 512 x 512 signed 16-bit slices with a rescale and Pixel Padding,
one deflated zip, files in shuffled order; tests/helpers/volumes.py writes it); the service embeds
it as one item with `slices: all` and a window, the in-process side decodes the same slices with
medembed_decode.volume.decode_slices and runs the same model's preprocessing and forward in
batches of the service's max batch size.

    python bench/volume_throughput.py [--slices 300] [--side 512] [--window lung] [--model efficientnet-lite0-imagenet]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.volumes import series_files, zip_of  # noqa: E402
from medembed_client import AsyncClient  # noqa: E402
from medembed_decode import DecodeLimits  # noqa: E402
from medembed_decode.volume import SliceOptions, decode_slices  # noqa: E402
from medembed_encoder.catalog import load_catalog  # noqa: E402
from medembed_encoder.families import load_encoder  # noqa: E402
from medembed_encoder.testing import start_local_encoder  # noqa: E402

ITEM_BYTES = 256 << 20  # the series travels as one item; gRPC caps messages below 2 GiB


def synthetic_ct(slices: int, side: int) -> np.ndarray:
    """HU [slices, side, side]: air, a body ellipse of soft tissue, lungs, a spine; varies by slice."""
    y, x = np.mgrid[0:side, 0:side] / side - 0.5
    body = (x / 0.42) ** 2 + (y / 0.32) ** 2 < 1
    volume = np.full((slices, side, side), -1000, dtype=np.int16)
    rng = np.random.default_rng(0)
    for index in range(slices):
        plane = np.where(body, 40, -1000).astype(np.int16)
        shift = 0.05 * np.sin(index / slices * np.pi)
        for cx in (-0.18, 0.18):
            lung = ((x - cx) / (0.12 + shift)) ** 2 + (y / 0.2) ** 2 < 1
            plane[lung] = -850
        plane[(x ** 2 + (y - 0.2) ** 2) < 0.003] = 700
        volume[index] = plane + rng.integers(-20, 20, size=plane.shape, dtype=np.int16) * body
    return volume


def in_process(model_id: str, data: bytes, options: SliceOptions, batch_size: int) -> tuple[float, int]:
    """Slices/s of decode_slices + preprocessing + forward in batches, and the slice count."""
    encoder = load_encoder(load_catalog()[model_id], torch.device("cpu"), allow_random_weights=True)
    forward = encoder.specs[encoder.default_spec]
    limits = DecodeLimits(max_image_bytes=ITEM_BYTES)
    started = time.perf_counter()
    decoded = decode_slices(data, options, limits)
    with torch.inference_mode():
        images = [image.image() for image in decoded.images]
        for start in range(0, len(images), batch_size):
            forward(torch.stack([encoder.preprocess(image) for image in images[start:start + batch_size]]))
    return len(decoded.images) / (time.perf_counter() - started), len(decoded.images)


async def through_service(target: str, model_id: str, data: bytes, volume: dict[str, str]) -> tuple[float, int]:
    async with AsyncClient(target, timeout_s=3600) as client:
        started = time.perf_counter()
        result = await client.embed([data], model_id, volume=volume, skip_cache=True)
        elapsed = time.perf_counter() - started
    if result.errors:
        raise SystemExit(f"the service failed the series: {result.errors}")
    return len(result.vectors) / elapsed, len(result.vectors)


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(VmHWM of `pid`, the largest VmHWM among its descendants — the decode workers), MiB."""
    def hwm(process: int) -> float:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    descendants, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        descendants += children
        frontier = children
    worker_peaks = []
    for child in descendants:
        try:
            worker_peaks.append(hwm(child))
        except OSError:
            continue
    return hwm(pid), max(worker_peaks, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet-lite0-imagenet")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--window", default="lung")
    parser.add_argument("--batch", type=int, default=32, help="the service's max batch size and the in-process batch")
    args = parser.parse_args()
    volume = {"slices": "all", "window": args.window}
    print(f"building a {args.slices} x {args.side}^2 CT series ...", flush=True)
    stored = np.transpose(synthetic_ct(args.slices, args.side) + 1024, (1, 2, 0)).astype(np.int16)  # rescale -1024
    data = zip_of(series_files(stored))
    print(f"model {args.model}; series zip {len(data) / 2**20:.0f} MiB; volume options {volume}; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    ours_in_process, count = in_process(args.model, data, SliceOptions.parse(rule="all", window=args.window),
                                        args.batch)
    with tempfile.TemporaryDirectory() as logs, start_local_encoder(
            args.model, Path(logs), env={"MEDEMBED_CACHE_URL": "none"}, allow_random_weights=True, device="cpu",
            max_batch_size=args.batch, max_queue_delay_ms=5, max_image_bytes=ITEM_BYTES,
            max_request_bytes=ITEM_BYTES, decode_timeout_s=600) as server:
        service, served = asyncio.run(through_service(server.target, args.model, data, volume))
        server_peak, worker_peak = peak_rss_mib(server.process.pid)
    assert served == count, (served, count)
    print(f"in-process decode + forward : {ours_in_process:8.1f} slices/s ({count} slices)")
    print(f"service (one item, all)     : {service:8.1f} slices/s")
    print(f"service / in-process        : {service / ours_in_process:8.2f}x")
    print(f"memory peak: server {server_peak:.0f} MiB, largest decode worker {worker_peak:.0f} MiB "
          f"(pid {server.process.pid}, os {os.uname().sysname})")


if __name__ == "__main__":
    main()
