"""Where the server's time goes under load: py-spy samples of the encoder process, grouped by
thread and by pipeline stage, per-OS-thread CPU seconds from /proc (torch's intra-op threads and
gRPC's C threads included, which Python sampling does not see) and the server's own metrics.

    python bench/profile_load.py --data ../shared/data/busi --clients 16 --seconds 30
    python bench/profile_load.py --data ../shared/data/busi --cached 64   # fully cached 64-image requests

py-spy: `pip install py-spy` (any venv; pass --py-spy PATH if it is not on PATH). Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from images import load_images  # noqa: E402

from medembed_client import AsyncClient  # noqa: E402
from medembed_encoder.testing import LocalEncoder, LocalRedis, start_local_encoder  # noqa: E402

# (stage, frame substring), first match from the leaf up names a sample's stage.
STAGES = (
    ("hash (sha256)", "content_sha256"), ("hash (sha256)", "read_items"),
    ("decode", "decode_image"), ("preprocess", "ModelRuntime.preprocess"),
    ("stack + forward", "ModelRuntime._forward_chunk"),
    ("proto assembly", "to_proto"), ("proto assembly", "EmbedResponse"),
    ("cache (redis)", "medembed_encoder/cache/"), ("cache (redis)", "redis/"),
    ("single-flight", "EmbedPipeline.compute_once"), ("batcher", "medembed_encoder/batcher.py"),
    ("metrics", "prometheus_client"), ("grpc (python side)", "grpc/"),
    ("asyncio loop", "asyncio/"),
)
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, marker in STAGES:
            if marker in frame:
                return stage
    return "other"


def summarize_spy(raw: Path) -> None:
    by_thread: Counter[str] = Counter()
    by_stage: dict[str, Counter[str]] = defaultdict(Counter)
    leaves: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        thread = re.sub(r"_\d+$", "", frames[0].split(": ", 1)[-1]) if frames else "?"
        count = int(count_text)
        by_thread[thread] += count
        by_stage[thread][stage_of(frames[1:])] += count
        leaves[f"{thread} | {frames[-1]}"] += count
    total = sum(by_thread.values()) or 1
    print(f"\npy-spy: {total} samples of running Python threads")
    for thread, count in by_thread.most_common():
        stages = ", ".join(f"{stage} {n / count:.0%}" for stage, n in by_stage[thread].most_common(6))
        print(f"  {thread:<40} {count / total:6.1%}  [{stages}]")
    print("  hottest leaf frames:")
    for leaf, count in leaves.most_common(12):
        print(f"    {count / total:6.1%}  {leaf}")


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """{OS thread id: (its name, CPU seconds so far)} for every thread of pid."""
    ticks = os.sysconf("SC_CLK_TCK")
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        threads[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)  # utime + stime
    return threads


def python_thread_names(raw: Path) -> dict[int, str]:
    """py-spy's `thread (TID): name` prefixes: which OS threads run Python, and their names."""
    names = {}
    if raw.exists():
        for line in raw.read_text().splitlines():
            match = re.match(r"thread \((\d+)\): ([^;]*)", line)
            if match:
                names[int(match.group(1))] = re.sub(r"_\d+$", "", match.group(2))
    return names


def cpu_by_role(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                python_names: dict[int, str]) -> Counter[str]:
    """CPU seconds in the window by role: Python threads by their name, the others (torch's
    intra-op OpenMP pool, gRPC's C-core threads) by their OS name."""
    roles: Counter[str] = Counter()
    for tid, (name, seconds) in after.items():
        role = python_names.get(tid, f"{name} (no Python frames)")
        roles[role] += seconds - before.get(tid, (name, 0.0))[1]
    return roles


def metric_means(server: LocalEncoder, model: str) -> dict[str, float]:
    means = {}
    for name in ("medembed_preprocess_seconds", "medembed_inference_seconds", "medembed_queue_wait_seconds",
                 "medembed_batch_size"):
        count = server.metric(f"{name}_count", model=model)
        means[name] = server.metric(f"{name}_sum", model=model) / count if count else float("nan")
    count = server.metric("medembed_request_duration_seconds_count", method="Embed")
    means["request_seconds"] = server.metric("medembed_request_duration_seconds_sum", method="Embed") / max(count, 1)
    return means


async def load_for(target: str, model: str, images: list[bytes], clients: int, per_request: int,
                   seconds: float) -> list[float]:
    """Closed loop for `seconds`: each client sends its next request when the last one answered."""
    stop = time.perf_counter() + seconds
    latencies: list[float] = []

    async def one(offset: int) -> None:
        async with AsyncClient(target) as client:
            i = offset
            while time.perf_counter() < stop:
                batch = [images[(i + k) % len(images)] for k in range(per_request)]
                started = time.perf_counter()
                result = await client.embed(batch, model)
                latencies.append(time.perf_counter() - started)
                if result.errors:
                    raise RuntimeError(result.errors)
                i += clients if per_request == 1 else 0  # cached: the same images every time

    await asyncio.gather(*(one(c) for c in range(clients)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--model", default="efficientnet-lite0-imagenet")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--cached", type=int, default=0, help="N: one client sends fully cached N-image requests")
    parser.add_argument("--gil", action="store_true", help="sample only threads holding the GIL")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    args = parser.parse_args()
    description, images = load_images(args.data)
    redis_server = LocalRedis().start() if args.cached else None
    cache_url = redis_server.url if redis_server else "none"
    clients, per_request = (1, args.cached) if args.cached else (args.clients, 1)
    try:
        with tempfile.TemporaryDirectory() as scratch, start_local_encoder(
                args.model, Path(scratch), env={"MEDEMBED_CACHE_URL": cache_url}, device="cpu") as server:
            if args.cached:
                asyncio.run(load_for(server.target, args.model, images[:per_request], 1, per_request, 0.1))
                time.sleep(1.0)  # the background SETs land
            raw = Path(scratch) / "spy.txt"
            before = thread_cpu(server.process.pid)
            spy = subprocess.Popen([args.py_spy, "record", "-p", str(server.process.pid), "-d", str(int(args.seconds)),
                                    "-r", "100", "--threads", "--nonblocking", "--format", "raw", "-o", str(raw),
                                    *(["--gil"] if args.gil else [])], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            started = time.perf_counter()
            latencies = asyncio.run(load_for(server.target, args.model, images, clients, per_request, args.seconds))
            elapsed = time.perf_counter() - started
            spy.wait()
            after = thread_cpu(server.process.pid)
            means = metric_means(server, args.model)
            print(f"model {args.model}; {description}; {clients} client(s) x {per_request} image(s) per request; "
                  f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
            p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
            print(f"{len(latencies) * per_request / elapsed:.1f} img/s, request p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                  f"({len(latencies)} requests)")
            print("server metrics (means): " + ", ".join(
                f"{k.removeprefix('medembed_')} {v * (1 if k == 'medembed_batch_size' else 1000):.2f}"
                f"{'' if k == 'medembed_batch_size' else ' ms'}" for k, v in means.items()))
            cpu = cpu_by_role(before, after, python_thread_names(raw))
            busy = sum(cpu.values()) or 1.0
            print(f"server CPU: {busy:.1f} s in {elapsed:.1f} s ({busy / elapsed:.2f} cores), by thread:")
            for name, value in cpu.most_common(10):
                print(f"  {name:<40} {value:6.1f} s  {value / busy:6.1%}")
            if raw.exists():
                summarize_spy(raw)
            else:
                print(f"no py-spy samples (is {args.py_spy} installed and allowed to ptrace?)")
    finally:
        if redis_server is not None:
            redis_server.stop()


if __name__ == "__main__":
    main()
