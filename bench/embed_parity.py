"""`medembed embed` through the service vs an in-process forward of the same model on the same
preprocessing: prints the array shape and the max abs difference.

    python bench/embed_parity.py --data ../shared/data/busi [--model efficientnet-lite0-imagenet]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from medembed_decode import DecodeLimits, decode_image
from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import load_encoder
from medembed_encoder.testing import start_local_encoder


def in_process(model_id: str, files: list[Path], batch_size: int = 32) -> np.ndarray:
    encoder = load_encoder(load_catalog()[model_id], torch.device("cpu"), allow_random_weights=True)
    limits = DecodeLimits(2**30, 10**9, 1)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(files), batch_size):
            batch = torch.stack([encoder.preprocess(decode_image(f.read_bytes(), limits))
                                 for f in files[start:start + batch_size]])
            parts.append(encoder.specs[encoder.default_spec](batch).numpy())
    return np.concatenate(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="efficientnet-lite0-imagenet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_local_encoder(
            args.model, Path(tmp), env={"MEDEMBED_CACHE_URL": "none"}, allow_random_weights=True,
            device="cpu") as server:
        out = Path(tmp) / "feats.npy"
        subprocess.run([sys.executable, "-m", "medembed_client.cli", "--target", server.target, "embed", args.data,
                        "--model", args.model, "--out", str(out), "--quiet"], check=True)
        served = np.load(out)
        files = [Path(line) for line in out.with_suffix(".files.txt").read_text().splitlines()]
    expected = in_process(args.model, files)
    print(f"{args.model}: service {served.shape} vs in-process {expected.shape}; "
          f"max abs difference {np.abs(served - expected).max():.2e}")


if __name__ == "__main__":
    main()
