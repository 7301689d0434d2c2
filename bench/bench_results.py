"""Benchmark figures as JSON under results/bench/, with the machine they were measured on, so that
bench/study_cost.py can cost the study from measured rates."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(os.environ.get("MEDEMBED_BENCH_RESULTS")
                   or Path(__file__).resolve().parent.parent / "results" / "bench")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """Where a figure was measured: host, cores, CPU model, load when it was taken, GPU if any."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"host": socket.gethostname(), "cores": usable_cores(), "cpu": cpu,
                            "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def write_result(name: str, payload: dict[str, Any], directory: Path | None = None) -> Path:
    """results/bench/<name>.json: the payload plus `machine` and `measured_at` (UTC)."""
    directory = directory or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    document = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": machine(), **payload}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def read_result(name: str, directory: Path | None = None) -> dict[str, Any] | None:
    path = (directory or RESULTS_DIR) / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())
