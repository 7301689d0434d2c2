"""`make bench`: start a local encoder (on-disk vector cache) serving the plan's models, run the
plan, print the table, stop the encoder. Works offline on a fresh clone.

    python scripts/bench.py [--data DIR] [--plan deploy/plans/bench.yaml] [--out results]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medembed_encoder.testing import start_local_encoder
from medembed_evaluator.cli import main as evaluate
from medembed_evaluator.errors import EvaluatorError
from medembed_evaluator.plan.load import load_plan
from medembed_evaluator.plan.schema import DEFAULT_TARGET
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID

ROOT = Path(__file__).resolve().parent.parent


def served_models(plan_path: Path) -> str:
    """The plan's models that its `default` encoder serves, comma-separated (what the local encoder loads)."""
    plan = load_plan(plan_path)
    default = plan.encoders.get(DEFAULT_TARGET)
    ids = [m.id for m in plan.models if m.id != RAW_PIXELS_MODEL_ID and m.target == default]
    return ",".join(dict.fromkeys(ids))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", default=[], help="ImageFolder dataset to add (repeatable)")
    parser.add_argument("--plan", type=Path, default=ROOT / "deploy" / "plans" / "bench.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--models", default="", help="models the local encoder serves (default: the plan's)")
    args = parser.parse_args()
    for folder in args.data:
        if not Path(folder).is_dir():
            parser.error(f"--data {folder}: no such directory")
    try:
        models = args.models or served_models(args.plan)
    except EvaluatorError as exc:
        parser.error(str(exc))
    print(f"starting a local encoder for {models} (random-init models allowed for the demo) ...", flush=True)
    with start_local_encoder(models, args.out / "logs", allow_random_weights=True,
                             cache_dir=args.out / "vector-cache", env={"MEDEMBED_CACHE_URL": ""}) as encoder:
        print(f"encoder serving on {encoder.target}; log: {encoder.log_path}", flush=True)
        argv = ["run", str(args.plan), "--out", str(args.out), "--encoder", f"default={encoder.target}"]
        for folder in args.data:
            argv += ["--add-imagefolder", folder]
        return evaluate(argv)


if __name__ == "__main__":
    sys.exit(main())
