"""`medembed-encoder serve|catalog`: run the encoder service or list the catalog."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from . import config, logs
from .catalog import CatalogError, load_catalog


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medembed-encoder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the models over gRPC")
    config.add_arguments(serve)
    listing = commands.add_parser("catalog", help="print the catalog entries as JSON lines")
    listing.add_argument("--catalog", default=None, help="extra catalog YAML")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Imported here, not at the top: decode worker processes import this module as their __main__
    # and must not pay for torch.
    from .families import ModelLoadError

    args = _parser().parse_args(argv)
    try:
        if args.command == "catalog":
            for entry in load_catalog(args.catalog).values():
                print(json.dumps({"id": entry.id, "family": entry.family, "architecture": entry.architecture,
                                  "weights": entry.weights.kind, "dim": entry.dim}))
            return 0
        settings = config.from_sources(args)
        logs.configure(settings.log_level)
        from .server import serve  # torch and the families load only for serving

        return asyncio.run(serve(settings))
    except (config.ConfigError, CatalogError, ModelLoadError) as exc:
        print(f"medembed-encoder: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
