"""What an unauthenticated call costs the server: 4 concurrent 120 MiB `Embed` calls without a token
against a local encoder that needs one, measured in one run. Prints the server's resident-memory
growth (VmRSS after, and the peak: VmHWM after resetting it through /proc/PID/clear_refs, proc(5))
and the wall time, then the same calls with a valid token for comparison (those bodies are read:
refused as too large, or over the request-bytes budget, only after gRPC received them).
Goal: the unauthenticated calls grow the server by under 20 MiB (before this was built: ~670 MiB).

    python bench/unauthenticated_cost.py [--mib 120] [--calls 4]

Linux only (reads /proc). Uses the tiny test catalog (tests/fixtures/catalog.yaml): the model does
not matter, no call reaches it.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import grpc

from medembed_encoder.testing import start_local_encoder
from medembed_proto.v1 import encoder_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "tests" / "fixtures" / "catalog.yaml"
MODEL = "tiny-timm"
TOKEN = "bench-token-0123456789abcdef"


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def concurrent_calls(target: str, request: bytes, calls: int, token: str | None) -> Counter[str]:
    """`calls` Embed calls at once, each on its own connection; their status codes, counted."""
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    metadata = (("authorization", f"Bearer {token}"),) if token else None

    def call() -> None:
        with grpc.insecure_channel(target) as channel:
            embed = channel.unary_unary("/medembed.v1.Encoder/Embed")  # raw bytes: serialized once, up front
            try:
                embed(request, timeout=120, metadata=metadata)
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name
        with lock:
            codes[code] += 1

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def measure(pid: int, target: str, request: bytes, calls: int, token: str | None) -> tuple[float, float, float, str]:
    """(RSS growth MiB, peak growth MiB, seconds, codes) of one round of concurrent calls."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = memory(pid)
    started = time.perf_counter()
    codes = concurrent_calls(target, request, calls, token)
    seconds = time.perf_counter() - started
    after = memory(pid)
    mib = 2**20
    return ((after["VmRSS"] - before["VmRSS"]) / mib, (after["VmHWM"] - before["VmRSS"]) / mib, seconds,
            ", ".join(f"{n} {code}" for code, n in sorted(codes.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=120, help="size of each call's request, MiB")
    parser.add_argument("--calls", type=int, default=4, help="calls at once")
    args = parser.parse_args()
    request = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=bytes(args.mib * 2**20))]).SerializeToString()
    small = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=b"x")]).SerializeToString()
    with tempfile.TemporaryDirectory() as logs, start_local_encoder(
            MODEL, Path(logs), env={"MEDEMBED_TOKENS": TOKEN, "MEDEMBED_CACHE_URL": "none"}, catalog=CATALOG,
            allow_random_weights=True, device="cpu", decode_workers=1, decode_threads=1) as server:
        pid = server.process.pid
        concurrent_calls(server.target, small, args.calls, None)  # first-call costs paid before measuring
        concurrent_calls(server.target, small, args.calls, TOKEN)
        time.sleep(1.0)
        rows = [("no token", *measure(pid, server.target, request, args.calls, None)),
                ("valid token", *measure(pid, server.target, request, args.calls, TOKEN))]
        limits = f"max message {2 * 64 + 1} MiB (default --max-request-bytes 64 MiB)"
    print(f"{args.calls} concurrent {args.mib} MiB Embed calls against one local server ({limits}):")
    print(f"{'calls':<12} {'RSS growth':>11} {'peak growth':>12} {'seconds':>8}  codes")
    for name, grown, peak, seconds, codes in rows:
        print(f"{name:<12} {grown:>8.1f} MiB {peak:>8.1f} MiB {seconds:>8.2f}  {codes}")
    unauthenticated_peak = rows[0][2]
    print(f"unauthenticated peak growth {unauthenticated_peak:.1f} MiB: "
          f"{'under' if unauthenticated_peak < 20 else 'OVER'} the 20 MiB goal")


if __name__ == "__main__":
    main()
