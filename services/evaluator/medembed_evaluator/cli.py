"""`medembed-evaluate run PLAN.yaml`: the benchmark table from the embedding API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import yaml

from medembed_client import SecurityError, security
from medembed_client.redact import RedactingFormatter, redact
from medembed_evaluator.errors import EvaluatorError, PlanError
from medembed_evaluator.plan.load import load_plan, parse_plan
from medembed_evaluator.plan.schema import DatasetEntry, Plan
from medembed_evaluator.publish import REPORT_NAME
from medembed_evaluator.runner import RunSettings, run_plan


def _job_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (one per core) or a positive count (flag or env "
                                         f"MEDEMBED_PROBE_JOBS), got {text!r}")
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medembed-evaluate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a plan: embed, probe, publish")
    run.add_argument("plan", type=Path)
    run.add_argument("--out", type=Path, default=Path(os.environ.get("MEDEMBED_RESULTS_DIR", "results")),
                     help="results root (env MEDEMBED_RESULTS_DIR); features are kept under OUT/features")
    run.add_argument("--data-root", type=Path, default=Path(os.environ.get("MEDEMBED_DATA_ROOT", ".")),
                     help="folder the plan's dataset paths are relative to (env MEDEMBED_DATA_ROOT)")
    run.add_argument("--add-imagefolder", action="append", default=[], metavar="DIR",
                     help="add an ImageFolder dataset (class per sub-folder) to the plan; repeatable")
    run.add_argument("--encoder", action="append", default=[], metavar="NAME=HOST:PORT",
                     help="override an entry of the plan's `encoders` map; repeatable")
    run.add_argument("--encoder-wait", type=float, default=120.0,
                     help="seconds to keep retrying an encoder that is down before stopping")
    run.add_argument("--concurrency", type=int, default=4, help="requests in flight per encoder")
    run.add_argument("--probe-jobs", type=_job_count, default=os.environ.get("MEDEMBED_PROBE_JOBS", "0"),
                     help="worker processes for the probe's fits (env MEDEMBED_PROBE_JOBS); 0 = one per core, "
                          "fewer when memory is short; results are identical for any count")
    run.add_argument("--run-id", default="", help="default: UTC time and plan name")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    security.add_arguments(run)
    return parser


def _configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _load(path: Path, encoder_overrides: list[str], extra: list[DatasetEntry]) -> Plan:
    if not encoder_overrides:
        return load_plan(path, extra_datasets=extra)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f"cannot read plan {path}: {exc}") from None
    for override in encoder_overrides:
        name, separator, target = override.partition("=")
        if not separator or not name or not target:
            raise PlanError(f"--encoder expects NAME=HOST:PORT, got {override!r}")
        document.setdefault("encoders", {})[name] = target
    return parse_plan(document, extra_datasets=extra)


def main(argv: list[str] | None = None) -> int:
    """`medembed-evaluate` with `argv` (default: sys.argv[1:]). Returns the exit status: 0 when every
    pair gave a result, 1 when some gave none, 2 for a plan, dataset, encoder or security problem
    (said on stderr, secrets redacted).
    """
    args = _parser().parse_args(argv)
    _configure_logging()
    extra = [DatasetEntry(name=Path(folder).resolve().name, kind="imagefolder", path=str(Path(folder).resolve()))
             for folder in args.add_imagefolder]
    try:
        plan = _load(args.plan, args.encoder, extra)
        channel_security = security.from_args(args, environ={**plan.security.as_env(), **os.environ})
        outcome = run_plan(plan, RunSettings(out_dir=args.out, data_root=args.data_root,
                                             encoder_wait_s=args.encoder_wait, concurrency=args.concurrency,
                                             progress=not args.quiet, run_id=args.run_id,
                                             security=channel_security, probe_jobs=args.probe_jobs))
    except (EvaluatorError, SecurityError) as exc:
        print(f"medembed-evaluate: {redact(exc)}", file=sys.stderr)
        return 2
    print()
    print(outcome.table)
    print(f"results: {outcome.run_dir}/ (table.md, results.csv, results.json)")
    print(f"report:  {outcome.run_dir / REPORT_NAME} (self-contained: open it in any browser)")
    if outcome.failures:
        print(f"medembed-evaluate: {len(outcome.failures)} pair(s) gave no result (listed under the table and in "
              "results.json \"failures\")", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
