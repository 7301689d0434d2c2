"""Fuzz the decode rules: hostile DICOM header values and byte-mutated PNG, JPEG, TIFF, BMP, WEBP
and DICOM files (hypothesis), each decoded as the server decodes an item. Prints the count of
every outcome; `internal` (an exception that is not a DecodeError) should be 0, and nothing should
reach stderr.

    python bench/decode_fuzz.py [--examples 5000] [--seed 0] [--time-budget 900]

--examples is per strategy (two of them): the default runs 10,000 inputs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.decode_fuzz import run_fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=5000, help="inputs per strategy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=900.0, help="seconds; stops drawing inputs after")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)  # what any C decoder or Python warning prints lands here
        try:
            report = run_fuzz(args.examples, seed=args.seed, time_budget_s=args.time_budget)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        stderr = captured.read().decode(errors="replace")
    seconds = time.perf_counter() - started
    print(f"{report.count} inputs ({len(report.distinct)} distinct) in {seconds:.0f} s "
          f"(slowest decode {report.slowest_s:.2f} s)")
    for code, count in report.outcomes.most_common():
        print(f"  {code:20} {count}")
    print(f"internal outcomes: {report.outcomes['internal']}")
    for line in report.internal:
        print(f"  {line}")
    print(f"bytes printed on stderr while decoding: {len(stderr)}")
    for line in stderr.splitlines()[:10]:
        print(f"  {line}")
    return 1 if report.outcomes["internal"] or stderr else 0


if __name__ == "__main__":
    sys.exit(main())
