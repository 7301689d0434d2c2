"""`medembed models|health|embed`: the command line face of the client."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from medembed_proto import security
from medembed_proto.health import check_health
from medembed_proto.helpformat import HelpFormatter, subcommand
from medembed_proto.redact import redact

from .aio import DEFAULT_TARGET
from .client import Client
from .files import folder_files
from .models import ModelInfo
from .results import EmbedError
from .retry import RetryPolicy
from .stopping import Terminated, command_line, disk_full_line, exit_code, is_disk_full, stop_signals, stopped_line

UNREACHABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
CONNECT_TIMEOUT_S = 10.0
NPY_HEADER_BYTES = 128  # numpy .npy format 1.0 pads its header to a multiple of 64 bytes
KNOWN_FORMATS = "PNG, JPEG, TIFF, BMP, WEBP, DICOM (with or without a suffix) or NIfTI"
START_HINT = ("is the encoder running? Start it with `medembed-encoder serve --models ID` "
              "(`medembed-encoder catalog` lists the ids), or point --target / MEDEMBED_TARGET at it")


class CliError(Exception):
    """A problem the command reports in one message and exits on."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def image_files(paths: list[str], report: Callable[[str], None] | None = None) -> list[Path]:
    """Files as given; directories expanded recursively to their samples, sorted: files known by
    their content, hidden and system files never (the rule of medembed_client.files).

    What a folder leaves out is passed to `report` (one line per DICOMDIR, one summary line).
    Raises CliError for a missing path or a folder without samples.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = folder_files(path)
            summary = found.summary(path)
            if not found.samples:
                left_out = [summary] if summary else []
                left_out += [f"skipped {skip.path}: {skip.reason}" for skip in found.skipped]
                raise CliError(f"no image files in {raw} (searched its sub-folders too; files are known by their "
                               f"content: {KNOWN_FORMATS}; hidden and system files never count)"
                               + "".join(f"; {line}" for line in left_out))
            if report is not None:
                for skip in found.skipped:
                    report(f"skipped {skip.path}: {skip.reason}")
                if summary:
                    report(f"{raw}: {summary}")
            files += found.samples
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"no such file or directory: {raw}")
    return files


def write_file_list(path: Path, files: list[Path]) -> None:
    """One path a line, as the file system's bytes (os.fsencode), so that names which are not valid
    UTF-8 are written and read back unchanged."""
    path.write_bytes(b"".join(os.fsencode(f) + b"\n" for f in files))


def served_models(target: str, channel_security: security.ChannelSecurity) -> list[ModelInfo]:
    """ListModels with a single try, so a target where no encoder answers fails at once, named.

    Raises CliError (exit code 3) when nothing answers at `target`, EmbedError on other failures.
    """
    with Client(target, retry=RetryPolicy(max_attempts=1), timeout_s=CONNECT_TIMEOUT_S,
                security=channel_security) as client:
        try:
            return client.list_models()
        except EmbedError as exc:
            if exc.code in UNREACHABLE_CODES:
                raise CliError(f"no encoder answers at {target} ({exc.code}): {START_HINT}", 3) from None
            raise


def served_model(target: str, model: str, spec: str, channel_security: security.ChannelSecurity) -> ModelInfo:
    """The served model `model`; raises CliError when the target does not serve it or it has no `spec`."""
    models = {info.id: info for info in served_models(target, channel_security)}
    info = models.get(model)
    if info is None:
        raise CliError(f"model {model!r} is not served by {target}; it serves {', '.join(sorted(models)) or 'nothing'} "
                       "(`medembed models` lists them; `medembed-encoder serve --models ...` picks them)")
    specs = [s.name for s in info.specs]
    if spec and specs and spec not in specs:
        raise CliError(f"model {model!r} has no spec {spec!r}; its specs: {', '.join(specs)}")
    return info


def _weights(info: ModelInfo) -> str:
    return "RANDOM" if info.random_weights else "pretrained"


def _cmd_models(args: argparse.Namespace) -> int:
    models = served_models(args.target, security.from_args(args))
    if args.json:
        for m in models:
            print(json.dumps({"id": m.id, "family": m.family, "dim": m.dim, "input_size": m.input_size,
                              "default_spec": m.default_spec, "specs": {s.name: s.dim for s in m.specs},
                              "ready": m.ready, "weights_digest": m.weights_digest,
                              "random_weights": m.random_weights, "library_versions": m.library_versions}))
        return 0
    print(f"{'MODEL':32} {'FAMILY':11} {'DIM':>5} {'INPUT':>5} {'READY':5} {'WEIGHTS':10} SPECS")
    for m in models:
        specs = ",".join(s.name for s in m.specs)
        print(f"{m.id:32} {m.family:11} {m.dim:>5} {m.input_size:>5} {'yes' if m.ready else 'no':5} "
              f"{_weights(m):10} {specs}")
    if any(m.random_weights for m in models):
        print("RANDOM: served without pretrained weights (random init): its vectors come from an untrained network",
              file=sys.stderr)
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    status = check_health(args.target, args.service, args.timeout, security.from_args(args))
    print(f"{args.target}{f' {args.service}' if args.service else ''} {status}")
    if status in UNREACHABLE_CODES:
        print(f"medembed: no encoder answers at {args.target}: {START_HINT}", file=sys.stderr)
    elif status == "NOT_FOUND":
        print(f"medembed: {args.target} serves no model {args.service!r} (`medembed models` lists them)",
              file=sys.stderr)
    return 0 if status == "SERVING" else 1


class _Writes:
    """A file seen only through its write(): np.save then writes with it, and a full disk raises
    OSError(ENOSPC) (for a real file np.save uses ndarray.tofile, whose OSError carries no errno)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        """Write `data` to the file; returns the bytes written."""
        return self._handle.write(data)


def save_npy(path: Path, array: np.ndarray) -> None:
    """`np.save(path, array)` (the .npy format), raising OSError with its errno when the disk is full."""
    with path.open("wb") as handle:
        np.save(_Writes(handle), array, allow_pickle=False)


def output_paths(out: str) -> tuple[Path, dict[str, Path]]:
    """The .npy written for `--out` (np.save adds .npy when missing) and its side files, named after
    its whole stem: `feats.v1.npy` -> `feats.v1.files.txt`."""
    vectors = Path(out if out.endswith(".npy") else f"{out}.npy")
    stem = vectors.name.removesuffix(".npy")
    return vectors, {kind: vectors.with_name(f"{stem}.{kind}") for kind in ("files.txt", "errors.json",
                                                                           "provenance.json", "rows.tsv")}


def _volume_args(args: argparse.Namespace) -> dict[str, str]:
    return {name: value for name in ("slices", "axis", "window") if (value := getattr(args, name))}


def _cmd_embed(args: argparse.Namespace) -> int:
    files = image_files(args.inputs, report=lambda line: print(f"medembed: {line}", file=sys.stderr))
    channel_security = security.from_args(args)
    info = served_model(args.target, args.model, args.spec, channel_security)  # before any progress bar
    if info.random_weights:
        print(f"medembed: warning: {args.model} is served with random weights: its vectors come from an "
              "untrained network (provenance random_weights: true)", file=sys.stderr)
    with Client(args.target, chunk_size=args.batch, max_concurrency=args.concurrency,
                security=channel_security) as client:
        result = client.embed(files, args.model, spec=args.spec, priority=args.priority,
                              skip_cache=args.skip_cache, progress=not args.quiet, volume=_volume_args(args))
    vectors_path, side = output_paths(args.out)
    rows_path = side.pop("rows.tsv")
    errors = {str(files[i]): {"index": i, "code": e.code, "message": e.message} for i, e in result.errors.items()}
    provenance = dataclasses.asdict(result.provenance) if result.provenance else None
    texts = {"errors.json": json.dumps(errors, indent=1), "provenance.json": json.dumps(provenance, indent=1)}
    if _volume_args(args):  # which item and slice each row of the .npy is
        side["rows.tsv"] = rows_path
        texts["rows.tsv"] = "row\titem\tslice\tslice_count\n" + "".join(
            f"{row}\t{item}\t{slice_index}\t{result.slice_counts[item]}\n"
            for row, (item, slice_index) in enumerate(zip(result.row_item, result.row_slice, strict=True)))
    try:
        vectors_path.parent.mkdir(parents=True, exist_ok=True)
        save_npy(vectors_path, result.vectors)
        write_file_list(side["files.txt"], files)
        for kind, text in texts.items():
            side[kind].write_text(text)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        for written in (vectors_path, *side.values()):  # no half-written output is left to be mistaken for one
            written.unlink(missing_ok=True)
        needed = (result.vectors.nbytes + NPY_HEADER_BYTES + sum(len(os.fsencode(f)) + 1 for f in files)
                  + sum(len(text.encode()) for text in texts.values()))
        raise CliError(f"{disk_full_line(vectors_path.parent, needed)}; nothing was written: free space there (or "
                       f"pass --out elsewhere) and run the same command again (the encoder's vector cache answers "
                       f"what it already computed)") from None
    print(f"wrote {vectors_path} {result.vectors.shape}, {', '.join(str(p) for p in side.values())}; "
          f"{len(result.errors)} item error(s); {int(result.cache_hits.sum())} cache hit(s)", file=sys.stderr)
    return 1 if result.errors else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medembed", description="medembed embedding service client",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--target", default=None,
                        help=f"HOST:PORT of the encoder service (default: env MEDEMBED_TARGET; unset or empty: "
                             f"{DEFAULT_TARGET})")
    security.add_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    models = subcommand(commands, "models", help="list the models the server hosts")
    models.add_argument("--json", action="store_true",
                        help="one JSON object a line per model (id, family, dim, specs, weights ...) instead of "
                             "the table")
    health = subcommand(commands, "health", help="print the target's status; exit 0 only when it is SERVING")
    health.add_argument("--service", default="", help="a model id; empty = the whole server (default: empty)")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    embed = subcommand(commands, "embed", help="embed image files or directories into a .npy array")
    embed.add_argument("inputs", nargs="+", help="image files and/or directories (searched recursively)")
    embed.add_argument("--model", required=True, help="served model id (`medembed models` lists them); required")
    embed.add_argument("--out", required=True,
                       help="output .npy (.npy added if missing); STEM.files.txt, STEM.errors.json and "
                            "STEM.provenance.json beside it; required")
    embed.add_argument("--spec", default="",
                       help="the model's embedding spec, e.g. its pooling (`medembed models` lists each model's "
                            "specs); empty = the model's default spec (default: empty)")
    embed.add_argument("--priority", choices=["online", "bulk"], default="bulk",
                       help="scheduling class: online (latency-sensitive) is served first, bulk (throughput "
                            "work) is never starved")
    embed.add_argument("--skip-cache", action="store_true",
                       help="compute every vector again instead of answering from the server's vector cache "
                            "(the new vectors are still stored)")
    embed.add_argument("--batch", type=int, default=32, help="items per request")
    embed.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    embed.add_argument("--quiet", action="store_true", help="no progress bar")
    volume = embed.add_argument_group("volumes", "what a volume item (NIfTI, multi-frame DICOM, a zip or tar of "
                                      "one DICOM series) yields; setting any of these also writes STEM.rows.tsv "
                                      "(row, item, slice, slice_count) and is part of the vectors' identity")
    volume.add_argument("--slices", default="", metavar="RULE",
                        help="middle | index:N | every:K | all | mean (default: middle; a multi-frame DICOM "
                             "file: its first frame); every:K and all give one row per slice")
    volume.add_argument("--axis", default="", choices=["", "axial", "coronal", "sagittal"],
                        help="anatomical slice axis, from the file's orientation (default: axial)")
    volume.add_argument("--window", default="", metavar="WINDOW",
                        help="CT window in HU: a preset (brain, subdural, stroke, lung, mediastinum, abdomen, "
                             "liver, bone), C/W such as -600/1500, or three comma-separated for the R, G, B "
                             "channels (default: the file's own window, else min-max)")
    for sub in (models, health, embed):  # --target also accepted after the command
        sub.add_argument("--target", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        security.add_arguments(sub, hidden=True)
    return parser


def resolve_target(flag_value: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The encoder to talk to: `--target`, else MEDEMBED_TARGET, else DEFAULT_TARGET; an empty value
    (`MEDEMBED_TARGET=`) counts as unset."""
    env = os.environ if environ is None else environ
    return (flag_value or "").strip() or env.get("MEDEMBED_TARGET", "").strip() or DEFAULT_TARGET


def main(argv: list[str] | None = None) -> int:
    """`medembed ...`: runs one command; returns the exit code (0 ok, 1 item errors or not
    SERVING, 2 bad arguments or files or a full disk, 3 the encoder failed or cannot be reached,
    130 Ctrl-C, 143 SIGTERM: one line each, no traceback)."""
    args = _parser().parse_args(argv)
    args.target = resolve_target(args.target)
    handlers = {"models": _cmd_models, "health": _cmd_health, "embed": _cmd_embed}
    try:
        with stop_signals():
            return handlers[args.command](args)
    except (KeyboardInterrupt, Terminated) as stop:
        kept = ("nothing was written; the vectors the encoder finished stay in its vector cache"
                if args.command == "embed" else "nothing was changed")
        print(f"\n{stopped_line('medembed', stop, kept, command_line('medembed', argv))}", file=sys.stderr)
        return exit_code(stop)
    except CliError as exc:
        print(f"medembed: {exc}", file=sys.stderr)
        return exc.exit_code
    except EmbedError as exc:
        print(f"medembed: {args.target}: {exc}", file=sys.stderr)
        return 3
    except (OSError, security.SecurityError) as exc:  # an unreadable input, an unwritable output, TLS files
        print(f"medembed: {redact(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
