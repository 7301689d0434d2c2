"""`medembed models|health|embed`: the command line face of the client."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import security
from .aio import DEFAULT_TARGET
from .client import Client
from .health import check_health
from .inputs import IMAGE_SUFFIXES
from .redact import redact
from .results import EmbedError


def image_files(paths: list[str]) -> list[Path]:
    """Files as given; directories expanded recursively to their image files, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {raw}")
    return files


def _cmd_models(args: argparse.Namespace) -> int:
    with Client(args.target, security=security.from_args(args)) as client:
        models = client.list_models()
    if args.json:
        for m in models:
            print(json.dumps({"id": m.id, "family": m.family, "dim": m.dim, "input_size": m.input_size,
                              "default_spec": m.default_spec, "specs": {s.name: s.dim for s in m.specs},
                              "ready": m.ready, "weights_digest": m.weights_digest,
                              "random_weights": m.random_weights}))
        return 0
    print(f"{'MODEL':32} {'FAMILY':10} {'DIM':>5} {'INPUT':>5} {'READY':5} SPECS")
    for m in models:
        specs = ",".join(s.name for s in m.specs)
        print(f"{m.id:32} {m.family:10} {m.dim:>5} {m.input_size:>5} {'yes' if m.ready else 'no':5} {specs}")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    status = check_health(args.target, args.service, args.timeout, security.from_args(args))
    print(status)
    return 0 if status == "SERVING" else 1


def _cmd_embed(args: argparse.Namespace) -> int:
    files = image_files(args.inputs)
    if not files:
        print("medembed: no image files found", file=sys.stderr)
        return 2
    with Client(args.target, chunk_size=args.batch, max_concurrency=args.concurrency,
                security=security.from_args(args)) as client:
        result = client.embed(files, args.model, spec=args.spec, priority=args.priority,
                              skip_cache=args.skip_cache, progress=not args.quiet)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, result.vectors)
    stem = out.with_suffix("")
    stem.with_suffix(".files.txt").write_text("".join(f"{f}\n" for f in files))
    errors = {str(files[i]): {"index": i, "code": e.code, "message": e.message} for i, e in result.errors.items()}
    stem.with_suffix(".errors.json").write_text(json.dumps(errors, indent=1))
    provenance = result.provenance.__dict__ if result.provenance else None
    stem.with_suffix(".provenance.json").write_text(json.dumps(provenance, indent=1))
    print(f"wrote {out} {result.vectors.shape}; {len(result.errors)} item error(s); "
          f"{int(result.cache_hits.sum())} cache hit(s)", file=sys.stderr)
    return 1 if result.errors else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medembed", description="medembed embedding service client")
    parser.add_argument("--target", default=os.environ.get("MEDEMBED_TARGET", DEFAULT_TARGET),
                        help="HOST:PORT of the encoder service (env MEDEMBED_TARGET)")
    security.add_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list the models the server hosts")
    models.add_argument("--json", action="store_true")
    health = commands.add_parser("health", help="exit 0 only when the server reports SERVING")
    health.add_argument("--service", default="", help="a model id, or empty for the whole server")
    health.add_argument("--timeout", type=float, default=3.0)
    embed = commands.add_parser("embed", help="embed image files or directories into a .npy array")
    embed.add_argument("inputs", nargs="+", help="image files and/or directories (searched recursively)")
    embed.add_argument("--model", required=True)
    embed.add_argument("--out", required=True, help="output .npy; .files.txt/.errors.json/.provenance.json beside it")
    embed.add_argument("--spec", default="")
    embed.add_argument("--priority", choices=["online", "bulk"], default="bulk")
    embed.add_argument("--skip-cache", action="store_true")
    embed.add_argument("--batch", type=int, default=32, help="items per request")
    embed.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    embed.add_argument("--quiet", action="store_true", help="no progress bar")
    for sub in (models, health, embed):  # --target also accepted after the command
        sub.add_argument("--target", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        security.add_arguments(sub, hidden=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"models": _cmd_models, "health": _cmd_health, "embed": _cmd_embed}
    try:
        return handlers[args.command](args)
    except EmbedError as exc:
        print(f"medembed: {exc}", file=sys.stderr)
        return 3
    except (FileNotFoundError, security.SecurityError) as exc:
        print(f"medembed: {redact(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
