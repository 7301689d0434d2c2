"""medembed beside its peers, in one interleaved run: medembed through its own AsyncClient, NVIDIA
Triton through PyTriton running the identical Python model (bench/peers_triton.py) twice — as
installed (one model instance, torch's default threads) and as an operator would tune it on this
machine (an instance group of as many instances as medembed's forward workers, each with
medembed's torch threads per forward: one on 2 cores) — where the PyTriton environment exists,
and two in-process references without any RPC: the batched forward one batch at a time on torch's
default threads, and the machine's best in-process configuration (the fastest of a grid of
concurrent forward workers x torch threads x batch sizes: the compute limit a server can approach).

Same model, same images, same batch cap and queue delay, one image per request, closed loop,
1/8/16/32 clients; the rounds rotate which server goes first. Prints img/s, p50/p99 latency and
the ratios medembed / each Triton (median over rounds) and medembed / the compute limit, and
writes results/bench/peers.json.

    bash bench/peers_venv.sh   # the Triton peer's own venv, .venv-peers
    python bench/peers.py --data ../shared/data/busi --limit 210 [--rounds 2] [--clients 1,8,16,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_results import write_result  # noqa: E402
from closed_loop import closed_loop  # noqa: E402
from images import load_images  # noqa: E402

from medembed_client import AsyncClient, Client  # noqa: E402
from medembed_decode import DecodeLimits, decode_image  # noqa: E402
from medembed_encoder.catalog import load_catalog  # noqa: E402
from medembed_encoder.config import Settings  # noqa: E402
from medembed_encoder.families import load_encoder  # noqa: E402
from medembed_encoder.runtime import ComputeLayout  # noqa: E402
from medembed_encoder.testing import free_port, start_local_encoder  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TRITONS = ("triton", "triton-tuned")
"""The Triton peers: as installed, and tuned as an operator would (see the module docstring)."""
DEFAULT_TRITON_PYTHON = os.environ.get("MEDEMBED_TRITON_PYTHON", str(ROOT / ".venv-peers" / "bin" / "python"))


class InProcessBest:
    """The fastest in-process configuration on this machine: decode, preprocess and forward with
    `workers` threads each computing its own batch at the same time, torch's intra-op threads =
    cores // workers, over a grid of worker counts and batch sizes; no RPC. This is the compute
    limit: what a server on this machine could reach if it wasted nothing."""

    def __init__(self, encoder: InProcess, batch_sizes: list[int]) -> None:
        self.encoder = encoder
        cores = os.cpu_count() or 1
        self.grid = [(workers, max(1, cores // workers), batch) for workers in range(1, cores + 1)
                     if cores % workers == 0 for batch in batch_sizes]
        self.best: tuple[int, int, int] | None = None

    def _throughput(self, images: list[bytes], workers: int, threads: int, batch: int) -> float:
        chunks = [images[start:start + batch] for start in range(0, len(images), batch)]
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(self.encoder.run_batch, chunks[:workers]))  # warm-up, one batch per worker
                started = time.perf_counter()
                list(pool.map(self.encoder.run_batch, chunks))
                return len(images) / (time.perf_counter() - started)
        finally:
            torch.set_num_threads(previous)

    def search(self, images: list[bytes]) -> dict:
        """Measure every configuration of the grid once; remember and return the fastest
        ({workers, torch_threads, batch, img_s})."""
        rates = {config: self._throughput(images, *config) for config in self.grid}
        self.best = max(rates, key=rates.__getitem__)
        workers, threads, batch = self.best
        return {"workers": workers, "torch_threads": threads, "batch": batch, "img_s": rates[self.best]}

    def throughput(self, images: list[bytes]) -> float:
        """img/s of the fastest configuration found by `search`, measured again."""
        assert self.best is not None, "search() first"
        return self._throughput(images, *self.best)


class InProcess:
    """Decode, preprocess and forward in batches in this process: no RPC at all, one batch at a
    time on torch's default threads (the server runs two one-thread forwards at once, which is
    why it can outrun this)."""

    def __init__(self, model_id: str, batch_size: int) -> None:
        self.encoder = load_encoder(load_catalog()[model_id], torch.device("cpu"), allow_random_weights=True)
        defaults = Settings()
        self.limits = DecodeLimits(defaults.max_image_bytes, defaults.max_pixels, defaults.min_side)
        self.batch_size = batch_size

    def run_batch(self, images: list[bytes]) -> None:
        """Decode, preprocess and forward `images` as one batch."""
        forward = self.encoder.specs[self.encoder.default_spec]
        with torch.inference_mode():
            forward(torch.stack([self.encoder.preprocess(decode_image(d, self.limits)) for d in images]))

    def _run(self, images: list[bytes]) -> None:
        for start in range(0, len(images), self.batch_size):
            self.run_batch(images[start:start + self.batch_size])

    def throughput(self, images: list[bytes]) -> float:
        self._run(images[:self.batch_size])
        started = time.perf_counter()
        self._run(images)
        return len(images) / (time.perf_counter() - started)


async def medembed_load(target: str, model: str, images: list[bytes], clients: int) -> dict:
    @asynccontextmanager
    async def open_client():
        async with AsyncClient(target) as client:
            async def send(data: bytes) -> None:
                result = await client.embed([data], model)
                if result.errors:
                    raise RuntimeError(f"medembed item error: {result.errors}")
            yield send

    return await closed_loop(open_client, images, clients)


class TritonPeer:
    """PyTriton's tritonserver in a subprocess of the PyTriton environment's Python."""

    def __init__(self, python: str, model: str, batch: int, delay_ms: float, log_dir: Path, *, name: str = "triton",
                 instances: int = 1, torch_threads: int = 0) -> None:
        self.python = python
        self.name = name
        self.grpc_port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.url = f"127.0.0.1:{self.grpc_port}"
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [python, str(BENCH / "peers_triton.py"), "serve", "--model", model, "--grpc-port",
                 str(self.grpc_port), "--http-port", str(self.http_port), "--metrics-port", str(self.metrics_port),
                 "--max-batch-size", str(batch), "--max-queue-delay-ms", str(delay_ms), "--instances",
                 str(instances), "--torch-threads", str(torch_threads)],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 300) -> None:
        give_up = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/v2/models/medembed/ready"
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; log {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                if urllib.request.urlopen(url, timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"{self.name} not ready after {timeout}s; log {self.log_path}")

    def _run(self, *args: str) -> str:
        done = subprocess.run([self.python, str(BENCH / "peers_triton.py"), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"peers_triton.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def load(self, images_file: Path, clients: int) -> dict:
        return json.loads(self._run("load", "--url", self.url, "--clients", str(clients),
                                    "--images", str(images_file)).strip().splitlines()[-1])

    def vector(self, image_file: Path, out: Path) -> np.ndarray:
        self._run("vector", "--url", self.url, "--image", str(image_file), "--out", str(out))
        return np.load(out)

    def batches(self) -> tuple[float, float]:
        """(inferences, executions) so far: their ratio is the mean batch size."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        values = {"nv_inference_count": 0.0, "nv_inference_exec_count": 0.0}
        for line in text.splitlines():
            name = line.split("{", 1)[0]
            if name in values:
                values[name] += float(line.rsplit(" ", 1)[1])
        return values["nv_inference_count"], values["nv_inference_exec_count"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _summary(rows: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in rows) for key in ("img_s", "p50_ms", "p99_ms")}


def _ratio(ours: dict, theirs: dict | None) -> str:
    return f"{ours['img_s'] / theirs['img_s']:.2f}x" if theirs else "–"


def _cell(row: dict | None, key: str, unit: str = "") -> str:
    return f"{row[key]:.{1 if key == 'img_s' else 0}f}{unit}" if row else "–"


def main() -> None:
    """Run the interleaved comparison and print and write its table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="ImageFolder root; default: offline phantoms")
    parser.add_argument("--limit", type=int, default=210, help="images per measurement (each sent once)")
    parser.add_argument("--model", default="efficientnet-lite0-imagenet")
    parser.add_argument("--clients", default="1,8,16,32")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-queue-delay-ms", type=float, default=5.0)
    parser.add_argument("--best-batches", default="1,4,16,32",
                        help="batch sizes the in-process best-configuration search tries")
    parser.add_argument("--triton-python", default=DEFAULT_TRITON_PYTHON,
                        help="Python of the PyTriton environment (env MEDEMBED_TRITON_PYTHON)")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    description, images = load_images(args.data, args.limit)
    with_triton = Path(args.triton_python).exists()
    layout = ComputeLayout.resolve(torch.device("cpu"), 0, 0, 0)  # medembed's own defaults on this machine
    print(f"model {args.model}; {description}; batch cap {args.max_batch_size}, queue delay "
          f"{args.max_queue_delay_ms:g} ms; clients {client_counts}; {args.rounds} round(s); torch threads "
          f"{torch.get_num_threads()}; {os.cpu_count()} cores; medembed: {layout.workers} forward workers x "
          f"{layout.intra_op_threads} torch thread(s)", flush=True)
    if not with_triton:
        print(f"Triton left out: no PyTriton environment at {args.triton_python} "
              "(make it with bash bench/peers_venv.sh, or pass --triton-python)", flush=True)
    started = time.perf_counter()
    peers = ["medembed", *(TRITONS if with_triton else ())]
    measured: dict[str, dict[int, list[dict]]] = {name: {c: [] for c in client_counts} for name in peers}
    baseline: list[float] = []
    best_rates: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        images_file = scratch_dir / "images.pkl"
        images_file.write_bytes(pickle.dumps(images))
        (scratch_dir / "first.img").write_bytes(images[0])
        tritons: dict[str, TritonPeer] = {}
        try:
            if with_triton:
                tritons["triton"] = TritonPeer(args.triton_python, args.model, args.max_batch_size,
                                               args.max_queue_delay_ms, scratch_dir, name="triton")
                tritons["triton-tuned"] = TritonPeer(args.triton_python, args.model, args.max_batch_size,
                                                     args.max_queue_delay_ms, scratch_dir, name="triton-tuned",
                                                     instances=layout.workers, torch_threads=layout.intra_op_threads)
            with start_local_encoder(args.model, scratch_dir, env={"MEDEMBED_CACHE_URL": "none"},
                                     allow_random_weights=True, device="cpu", max_batch_size=args.max_batch_size,
                                     max_queue_delay_ms=args.max_queue_delay_ms) as server:
                with Client(server.target) as client:
                    ours = client.embed([images[0]], args.model).vectors[0]
                for name, triton in tritons.items():
                    theirs = triton.vector(scratch_dir / "first.img", scratch_dir / f"first-{name}.npy")
                    print(f"same model check: max |medembed - {name}| = {np.abs(ours - theirs).max():.2e} "
                          f"over {ours.size} values", flush=True)
                in_process = InProcess(args.model, args.max_batch_size)
                best = InProcessBest(in_process, [int(b) for b in args.best_batches.split(",")])
                found = best.search(images)
                print(f"in-process best configuration: {found['workers']} worker(s) x {found['torch_threads']} torch "
                      f"thread(s), batch {found['batch']}: {found['img_s']:.1f} img/s", flush=True)
                for round_index in range(args.rounds):
                    baseline.append(in_process.throughput(images))
                    best_rates.append(best.throughput(images))
                    order = peers[round_index % len(peers):] + peers[:round_index % len(peers)]
                    for clients in client_counts:
                        for name in order:
                            row = (asyncio.run(medembed_load(server.target, args.model, images, clients))
                                   if name == "medembed" else tritons[name].load(images_file, clients))
                            measured[name][clients].append(row)
                            print(f"  round {round_index + 1}: {name:<12} {clients:>2} clients "
                                  f"{row['img_s']:7.1f} img/s  p50 {row['p50_ms']:7.1f} ms  "
                                  f"p99 {row['p99_ms']:7.1f} ms", flush=True)
                items = server.metric("medembed_batch_size_sum", model=args.model)
                batches = server.metric("medembed_batch_size_count", model=args.model)
                triton_batches = {name: triton.batches() for name, triton in tritons.items()}
        finally:
            for triton in tritons.values():
                triton.stop()
    compute_limit = statistics.median(best_rates)
    print(f"\nin-process batched forward (batch {args.max_batch_size}): {statistics.median(baseline):.1f} img/s "
          f"(no RPC; one batch at a time, torch's default threads)")
    print(f"in-process best ({found['workers']} x {found['torch_threads']} threads, batch {found['batch']}): "
          f"{compute_limit:.1f} img/s: the compute limit on this machine")
    print(f"mean batch: medembed {items / max(batches, 1):.1f}"
          + "".join(f", {name} {done / max(runs, 1):.1f}" for name, (done, runs) in triton_batches.items()))
    print("\n| clients | Triton img/s | tuned Triton img/s | medembed img/s | ÷ Triton | ÷ tuned Triton | "
          "÷ compute limit | p99 Triton / tuned / medembed |")
    print("|---|---|---|---|---|---|---|---|")
    table = {}
    for clients in client_counts:
        rows = {name: _summary(measured[name][clients]) for name in peers}
        ours, plain, tuned = rows["medembed"], rows.get("triton"), rows.get("triton-tuned")
        table[clients] = {"medembed": ours, "triton": plain, "triton_tuned": tuned,
                          "medembed_of_compute_limit": ours["img_s"] / compute_limit}
        print(f"| {clients} | {_cell(plain, 'img_s')} | {_cell(tuned, 'img_s')} | {ours['img_s']:.1f} | "
              f"{_ratio(ours, plain)} | {_ratio(ours, tuned)} | {ours['img_s'] / compute_limit:.2f} | "
              f"{_cell(plain, 'p99_ms')} / {_cell(tuned, 'p99_ms')} / {ours['p99_ms']:.0f} ms |")
    print(f"\none full run: {time.perf_counter() - started:.0f} s")
    path = write_result("peers", {"model": args.model, "images": description, "rounds": args.rounds,
                                  "in_process_img_s": statistics.median(baseline),
                                  "in_process_best": {**found, "img_s": compute_limit},
                                  "triton_tuned": {"instances": layout.workers,
                                                   "torch_threads": layout.intra_op_threads},
                                  "table": table, "raw": measured})
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
