"""`make bench`: start a local encoder (on-disk vector cache) serving the plan's models, run the
plan, print the table, stop the encoder. Works offline on a fresh clone.

    python scripts/bench.py [--data DIR] [--plan deploy/plans/bench.yaml] [--out results]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from medembed_client.stopping import Terminated, command_line, exit_code, stop_signals, stopped_line
from medembed_proto.helpformat import HelpFormatter

# The evaluator's and encoder's modules are imported in the functions that use them, after a line
# that says so: on a cold start (numba, scikit-learn, torch) that takes up to a minute.

ROOT = Path(__file__).resolve().parent.parent


class BenchHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The docstring's layout kept, every option's default shown."""


def served_models(plan_path: Path) -> str:
    """The plan's models that its `default` encoder serves, comma-separated (what the local encoder loads)."""
    from medembed_evaluator.plan.load import load_plan
    from medembed_evaluator.plan.schema import DEFAULT_TARGET
    from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID

    plan = load_plan(plan_path)
    default = plan.encoders.get(DEFAULT_TARGET)
    ids = [m.id for m in plan.models if m.id != RAW_PIXELS_MODEL_ID and m.target == default]
    return ",".join(dict.fromkeys(ids))


def build_parser() -> argparse.ArgumentParser:
    """The command line of `make bench` (DATA, PLAN and BENCH_ARGS of the Makefile end up here)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=BenchHelpFormatter)
    parser.add_argument("--data", action="append", default=[], metavar="[NAME=]DIR",
                        help="ImageFolder dataset to add (a class per sub-folder); its table column is NAME, "
                             "else the folder's name (repeatable; default: none)")
    parser.add_argument("--plan", type=Path, default=ROOT / "deploy" / "plans" / "bench.yaml", help="the plan YAML")
    parser.add_argument("--out", type=Path, default=ROOT / "results",
                        help="results root; the encoder's log and on-disk vector cache go under it too")
    parser.add_argument("--models", default="",
                        help="models the local encoder serves, comma-separated (default: the plan's)")
    return parser


def main() -> int:
    """Run `make bench`; returns the evaluator's exit status (130/143 with one line on Ctrl-C/SIGTERM)."""
    resume = "make bench" if os.environ.get("MAKELEVEL") else command_line("python scripts/bench.py", None)
    try:
        with stop_signals():
            return _bench(resume)
    except (KeyboardInterrupt, Terminated) as stop:
        print(f"\n{stopped_line('bench', stop, 'stored features are kept', resume)}", file=sys.stderr)
        return exit_code(stop)


def _bench(resume: str) -> int:
    args = (p := build_parser()).parse_args()
    print("loading the evaluator and the encoder's libraries (up to a minute on a cold start) ...", flush=True)
    from medembed_encoder.testing import start_local_encoder
    from medembed_evaluator.cli import imagefolder_path
    from medembed_evaluator.cli import main as evaluate
    from medembed_evaluator.errors import EvaluatorError

    for folder in args.data:
        if not Path(imagefolder_path(folder)).is_dir():
            p.error(f"--data {folder}: no such directory")
    try:
        models = args.models or served_models(args.plan)
    except EvaluatorError as exc:
        p.error(str(exc))
    print(f"starting a local encoder for {models} (random-init models allowed for the demo) ...", flush=True)
    with start_local_encoder(models, args.out / "logs", allow_random_weights=True,
                             cache_dir=args.out / "vector-cache", env={"MEDEMBED_CACHE_URL": ""}) as encoder:
        print(f"encoder serving on {encoder.target}; log: {encoder.log_path}", flush=True)
        argv = ["run", str(args.plan), "--out", str(args.out), "--encoder", f"default={encoder.target}"]
        for folder in args.data:
            argv += ["--add-imagefolder", folder]
        return evaluate(argv, resume_command=resume)


if __name__ == "__main__":
    sys.exit(main())
