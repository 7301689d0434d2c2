"""Upstream parity of every catalog model: the vector served over gRPC vs the upstream library's own
feature function on the same weights and image. One row per catalog model and spec: the reference,
max abs difference and lowest cosine over a non-square RGB, a gray and a 16-bit image (fp32 CPU).

Works offline on a fresh clone: random weights are written in each release's checkpoint format
and key layout (the real package weights for EfficientNet-Lite0), one encoder server per family.
Transformer towers are built with 2 blocks unless --full-depth (the same code path; the row says
so); --full-depth needs memory for the largest tower twice (ViT-bigG: about 15 GB).

    python bench/parity.py [--full-depth] [--family open_clip ...] [--model clip-vit-b-16 ...]

Exit status 1 when a row is over 1e-5 or a catalog model has no parity case.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.parity import TOLERANCE, Row, load_cases, run_cases  # noqa: E402
from helpers.parity.run import MIN_SCALE  # noqa: E402
from medembed_encoder.catalog import load_catalog  # noqa: E402

FAMILY_ORDER = ("timm", "open_clip", "hf", "llava", "torchvision")


def _table(rows: list[Row], missing: list[str]) -> tuple[list[str], bool]:
    by_spec: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_spec[(row.model_id, row.spec)].append(row)
    lines = ["| model | spec | reference | built as | max abs diff | min cosine | ok |",
             "|---|---|---|---|---|---|---|"]
    ok = not missing
    for (model_id, spec), group in sorted(by_spec.items()):
        worst = max((row.max_abs for row in group), key=lambda value: (value != value, value))  # NaN first
        passed = all(row.max_abs <= TOLERANCE and row.scale >= MIN_SCALE for row in group)
        ok &= passed
        cosine = min(row.cosine for row in group)
        lines.append(f"| `{model_id}` | `{spec}` | {group[0].reference} | {group[0].note or 'release config'} | "
                     f"{worst:.1e} | {cosine:.7f} | {'yes' if passed else 'NO'} |")
    lines += [f"| `{model_id}` | - | no parity case registered (helpers/parity CASE_MODULES) | | | | NO |"
              for model_id in missing]
    return lines, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-depth", action="store_true", help="build every tower at its release depth")
    parser.add_argument("--family", action="append", choices=FAMILY_ORDER, help="only these families")
    parser.add_argument("--model", action="append", help="only these catalog ids")
    parser.add_argument("--work", help="keep the checkpoints and server logs in this folder")
    args = parser.parse_args()
    catalog, cases = load_catalog(), load_cases()
    selected = [model_id for model_id in catalog if (not args.model or model_id in args.model)
                and (model_id not in cases or not args.family or cases[model_id].family in args.family)]
    missing = [model_id for model_id in selected if model_id not in cases]
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="medembed-parity-") as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        for family in FAMILY_ORDER:
            family_cases = [cases[model_id] for model_id in selected if model_id in cases
                            and cases[model_id].family == family]
            if family_cases:
                rows += run_cases(family_cases, work / family, full_depth=args.full_depth, say=say)
    lines, ok = _table(rows, missing)
    print("\n".join(lines))
    print(f"\n{len(rows)} comparisons, tolerance {TOLERANCE:g} (fp32 CPU), {time.perf_counter() - started:.0f} s; "
          f"images: non-square RGB, gray, 16-bit (references see medembed's decoded 8-bit image)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
