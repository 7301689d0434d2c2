"""`medembed-evaluate run PLAN.yaml`: the benchmark table from the embedding API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import yaml

from medembed_client import SecurityError
from medembed_client.stopping import (
    Terminated,
    command_line,
    disk_full_line,
    exit_code,
    is_disk_full,
    stop_signals,
    stopped_line,
)
from medembed_evaluator.errors import EvaluatorError, PlanError
from medembed_evaluator.plan.load import load_plan, parse_plan
from medembed_evaluator.plan.schema import DatasetEntry, Plan
from medembed_evaluator.publish import REPORT_NAME
from medembed_evaluator.runner import RunSettings, run_plan
from medembed_proto import security
from medembed_proto.helpformat import HelpFormatter, subcommand
from medembed_proto.redact import RedactingFormatter, redact


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
    parser = argparse.ArgumentParser(prog="medembed-evaluate", description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = subcommand(commands, "run", help="run a plan: embed, probe, publish")
    run.add_argument("plan", type=Path, help="the plan YAML: datasets, models, encoders (deploy/plans/ has examples)")
    run.add_argument("--out", type=Path, default=Path(os.environ.get("MEDEMBED_RESULTS_DIR", "results")),
                     help="results root; features are kept under OUT/features (default: env MEDEMBED_RESULTS_DIR, "
                          "else ./results)")
    run.add_argument("--data-root", type=Path, default=Path(os.environ.get("MEDEMBED_DATA_ROOT", ".")),
                     help="folder the plan's dataset paths are relative to (default: env MEDEMBED_DATA_ROOT, else the "
                          "current folder)")
    run.add_argument("--add-imagefolder", action="append", default=[], metavar="[NAME=]DIR",
                     help="add an ImageFolder dataset (a class per sub-folder) to the plan; its name (the table's "
                          "column) is NAME, else the folder's name; repeatable (default: none)")
    run.add_argument("--encoder", action="append", default=[], metavar="NAME=HOST:PORT",
                     help="override an entry of the plan's `encoders` map; repeatable (default: the plan's map)")
    run.add_argument("--encoder-wait", type=float, default=120.0,
                     help="seconds to keep retrying an encoder that is down before stopping")
    run.add_argument("--concurrency", type=int, default=4, help="requests in flight per encoder")
    run.add_argument("--probe-jobs", type=_job_count, default=os.environ.get("MEDEMBED_PROBE_JOBS", "0"),
                     help="worker processes for the probe's fits; 0 = one per core, fewer when memory is short; "
                          "results are identical for any count (default: env MEDEMBED_PROBE_JOBS, else 0)")
    run.add_argument("--run-id", default="",
                     help="name of the run's folder under OUT (default: UTC time and plan name)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    security.add_arguments(run)
    return parser


def imagefolder_path(text: str) -> str:
    """The folder of an `--add-imagefolder [NAME=]DIR` value: the whole text when it is a folder
    (a folder's name may hold `=`), else what follows the first `=`."""
    name, separator, folder = text.partition("=")
    return folder if separator and name and not Path(text).is_dir() else text


def imagefolder_entry(text: str) -> DatasetEntry:
    """The plan entry of `--add-imagefolder [NAME=]DIR`: named NAME, else after the folder."""
    folder = Path(imagefolder_path(text)).resolve()
    name = text.partition("=")[0] if imagefolder_path(text) != text else folder.name
    return DatasetEntry(name=name, kind="imagefolder", path=str(folder))


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


def main(argv: list[str] | None = None, resume_command: str | None = None) -> int:
    """`medembed-evaluate` with `argv` (default: sys.argv[1:]). Returns the exit status: 0 when every
    pair gave a result, 1 when some gave none, 2 for a plan, dataset, encoder or security problem or a
    full disk (said on stderr in one line, secrets redacted), 130 on Ctrl-C and 143 on SIGTERM (one
    line naming `resume_command`, default this command, which continues from the stored features).
    """
    args = _parser().parse_args(argv)
    _configure_logging()
    try:
        with stop_signals():
            return _run(args)
    except (KeyboardInterrupt, Terminated) as stop:
        kept = f"stored features are kept under {args.out / 'features'}"
        command = resume_command or command_line("medembed-evaluate", argv)
        print(f"\n{stopped_line('medembed-evaluate', stop, kept, command)}", file=sys.stderr)
        return exit_code(stop)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        folder = Path(exc.filename).parent if exc.filename else args.out
        print(f"medembed-evaluate: {disk_full_line(folder, None)} (writing {exc.filename or args.out}); stored "
              "features are kept: free space there and run the same command again", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    extra = [imagefolder_entry(text) for text in args.add_imagefolder]
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
