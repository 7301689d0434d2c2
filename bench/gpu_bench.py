"""The GPU path in one run (bench/gpu.sh calls this on the device machine):

  forward : in-process forward only — a ready batch on the device, bf16 autocast as the server
            runs it — for ViT-B/16 and ViT-L/14-336 (bench/catalog-gpu.yaml, random weights) at
            each batch size, and with --study-stand-ins every study model's tower shape
            (bench/study_shape.py STAND_INS) at one batch size;
  e2e     : end to end over gRPC — encoded JPEG/PNG bytes in, vectors out — through the medembed
            server (the device, bf16, max_batch_size = the batch size, no cache) and its Client;
  GPU utilisation sampled by nvidia-smi during every timed part.

Prints a table and writes results/bench/gpu-device.json (--cpu-smoke: gpu-cpu.json; or --out),
which bench/study_cost.py reads.
--cpu-smoke runs every part on the CPU with tiny counts, to check the script here.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_results import write_result  # noqa: E402
from study_shape import STAND_INS  # noqa: E402

from medembed_client import Client  # noqa: E402
from medembed_encoder.catalog import load_catalog  # noqa: E402
from medembed_encoder.families import load_encoder  # noqa: E402
from medembed_encoder.testing import start_local_encoder  # noqa: E402

BENCH_CATALOG = Path(__file__).resolve().parent / "catalog-gpu.yaml"
MODELS = ("bench-vit-b-16", "bench-vit-l-14-336")


class GpuSampler:
    """nvidia-smi utilisation and memory samples every 100 ms while the block runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "100"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                util, memory = (float(v) for v in line.split(",")[:2])
            except ValueError:
                continue
            self.samples.append((util, memory))

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_util_p10": None, "gpu_mem_max_mib": None, "samples": 0}
        util = np.array([s[0] for s in self.samples])
        return {"gpu_util_mean": float(util.mean()), "gpu_util_p10": float(np.percentile(util, 10)),
                "gpu_mem_max_mib": float(max(s[1] for s in self.samples)), "samples": len(self.samples)}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_rate(forward, input_size: int, batch: int, device: torch.device, dtype: torch.dtype,
                 seconds: float) -> dict:
    """Images/s of forward(batch) alone: the batch already on the device, autocast like the server."""
    x = torch.randn(batch, 3, input_size, input_size, device=device)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    with torch.inference_mode(), autocast:
        forward(x)  # warm-up: kernels, cuBLAS handles, autotuning
        synchronize(device)
        runs, started = 0, time.perf_counter()
        with GpuSampler() as sampler:
            while runs < 1 or time.perf_counter() - started < seconds:
                forward(x)
                runs += 1
            synchronize(device)
        elapsed = time.perf_counter() - started
    return {"img_s": batch * runs / elapsed, "batches": runs, **sampler.summary()}


def timm_forward(architecture: str, input_size: int, device: torch.device):
    import timm

    kwargs = {"img_size": input_size} if "vit" in architecture or "eva" in architecture else {}
    with torch.device(device):
        model = timm.create_model(architecture, pretrained=False, num_classes=0, **kwargs).eval()
    return model


def synthetic_images(count: int, size: int, seed: int = 0) -> list[bytes]:
    """Distinct photo-like images (smooth colour fields with texture): JPEG q90 RGB and 16-bit-free
    8-bit gray PNG, alternating, so the decode mix has both paths."""
    def one(index: int) -> bytes:
        rng = np.random.default_rng(seed + index)
        small = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((size, size), Image.BICUBIC)
        texture = rng.normal(0, 6, (size, size, 3))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + texture, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        if index % 2 == 0:
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        else:
            Image.fromarray(pixels[..., 0]).save(buffer, format="PNG")
        return buffer.getvalue()

    with ThreadPoolExecutor() as pool:
        return list(pool.map(one, range(count)))


def end_to_end(model: str, images: list[bytes], batch: int, device: str, dtype: str, logs: Path,
               request_items: int, concurrency: int) -> dict:
    """Images/s through the server: bytes in over gRPC, vectors out; no cache, so every image is
    decoded, preprocessed and embedded."""
    with start_local_encoder(model, logs, env={"MEDEMBED_CACHE_URL": "none"}, catalog=str(BENCH_CATALOG),
                             allow_random_weights=True, device=device, dtype=dtype, max_batch_size=batch,
                             max_queue_delay_ms=10, max_queue_items=max(4096, 4 * batch),
                             max_items_per_request=max(256, request_items)) as server, \
            Client(server.target, chunk_size=request_items, max_concurrency=concurrency) as client:
        client.embed(images[:batch], model)  # warm-up: connections and the first batches
        before_items = server.metric("medembed_batch_size_sum", model=model)
        before_batches = server.metric("medembed_batch_size_count", model=model)
        with GpuSampler() as sampler:
            started = time.perf_counter()
            result = client.embed(images, model)
            elapsed = time.perf_counter() - started
        if result.errors:
            raise SystemExit(f"{model}: {len(result.errors)} item errors, e.g. {next(iter(result.errors.items()))}")
        items = server.metric("medembed_batch_size_sum", model=model) - before_items
        batches = server.metric("medembed_batch_size_count", model=model) - before_batches
        preprocess = server.metric("medembed_preprocess_seconds_sum", model=model)
        preprocessed = server.metric("medembed_preprocess_seconds_count", model=model)
    return {"img_s": len(images) / elapsed, "images": len(images), "mean_batch": items / max(batches, 1),
            "preprocess_ms_per_item": 1000 * preprocess / max(preprocessed, 1), **sampler.summary()}


def _util(row: dict) -> str:
    return "   n/a" if row.get("gpu_util_mean") is None else f"{row['gpu_util_mean']:5.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="everything on the CPU, tiny counts")
    parser.add_argument("--batch-sizes", default="64,128,256", help="forward-only batch sizes")
    parser.add_argument("--e2e-batch-sizes", default="64,256", help="server max_batch_size for the gRPC runs")
    parser.add_argument("--e2e-images", type=int, default=0, help="images per gRPC run (0: 24 batches' worth)")
    parser.add_argument("--image-size", type=int, default=512, help="side of the encoded test images")
    parser.add_argument("--seconds", type=float, default=4.0, help="each forward-only measurement")
    parser.add_argument("--study-stand-ins", action="store_true", help="also time every study model's tower shape")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default results/bench/gpu-device.json, --cpu-smoke: gpu-cpu.json)")
    args = parser.parse_args()
    if args.cpu_smoke:
        device, dtype_name = torch.device("cpu"), "float32"
        args.batch_sizes, args.e2e_batch_sizes, args.seconds = "1", "2", 0.0
        args.e2e_images = args.e2e_images or 2
        args.image_size = min(args.image_size, 256)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --cpu-smoke for the CPU check")
        device, dtype_name = torch.device("cuda"), "bfloat16"
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    e2e_batches = [int(b) for b in args.e2e_batch_sizes.split(",")]
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"device {name}; dtype {dtype_name}; torch {torch.__version__}; forward batches {batch_sizes}; "
          f"gRPC batch caps {e2e_batches}", flush=True)
    catalog = load_catalog(BENCH_CATALOG)
    report: dict = {"device": name, "dtype": dtype_name, "cpu_smoke": args.cpu_smoke, "models": {}, "stand_ins": {}}
    for model in MODELS:
        encoder = load_encoder(catalog[model], device, allow_random_weights=True)
        forward = encoder.specs[encoder.default_spec]
        rows = {b: forward_rate(forward, encoder.input_size, b, device, dtype, args.seconds) for b in batch_sizes}
        report["models"][model] = {"architecture": catalog[model].architecture, "input_size": encoder.input_size,
                                   "forward": {str(b): r for b, r in rows.items()}, "e2e": {}}
        for b, row in rows.items():
            print(f"  {model:<20} forward only, batch {b:>3}: {row['img_s']:8.1f} img/s  GPU {_util(row)}", flush=True)
        del encoder, forward
        if device.type == "cuda":
            torch.cuda.empty_cache()
    with tempfile.TemporaryDirectory() as scratch:
        for model in MODELS:
            for batch in e2e_batches:
                count = args.e2e_images or 24 * batch
                images = synthetic_images(count, args.image_size)
                row = end_to_end(model, images, batch, device.type, dtype_name, Path(scratch),
                                 request_items=min(64, batch), concurrency=max(4, 2 * batch // min(64, batch)))
                report["models"][model]["e2e"][str(batch)] = row
                print(f"  {model:<20} gRPC end to end, cap {batch:>3}: {row['img_s']:8.1f} img/s  GPU {_util(row)}"
                      f"  mean batch {row['mean_batch']:.0f}, preprocess {row['preprocess_ms_per_item']:.1f} ms/item",
                      flush=True)
    if args.study_stand_ins:
        batch = batch_sizes[len(batch_sizes) // 2]
        for architecture, size in sorted({(s.architecture, s.input_size) for s in STAND_INS.values()}):
            model = timm_forward(architecture, size, device)
            row = forward_rate(model, size, batch, device, dtype, args.seconds)
            report["stand_ins"][f"{architecture}@{size}"] = {"batch": batch, **row}
            print(f"  stand-in {architecture}@{size}, batch {batch}: {row['img_s']:8.1f} img/s  GPU {_util(row)}",
                  flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print("\n| model | batch | forward only img/s | gRPC end to end img/s | e2e / forward | GPU util e2e |")
    print("|---|---|---|---|---|---|")
    for model, measured in report["models"].items():
        for batch in sorted({*batch_sizes, *e2e_batches}):
            fwd, e2e = measured["forward"].get(str(batch)), measured["e2e"].get(str(batch))
            ratio = f"{e2e['img_s'] / fwd['img_s']:.2f}" if fwd and e2e else "–"
            print(f"| {model} | {batch} | {fwd['img_s']:.1f} |" if fwd else f"| {model} | {batch} | – |", end="")
            print(f" {e2e['img_s']:.1f} | {ratio} | {_util(e2e).strip()} |" if e2e else " – | – | – |")
    path = (write_result(args.out.stem, report, directory=args.out.parent) if args.out
            else write_result("gpu-cpu" if args.cpu_smoke else "gpu-device", report))
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
