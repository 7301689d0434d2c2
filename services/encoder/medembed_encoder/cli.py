"""`medembed-encoder serve|catalog`: run the encoder service or list the catalog."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from medembed_proto.helpformat import HelpFormatter, subcommand

from . import config, logs
from .catalog import CatalogError, load_catalog
from .ports import BindError

if TYPE_CHECKING:
    from .families import ModelLoadError

EXIT_USAGE, EXIT_LOAD_FAILED = 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medembed-encoder", description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = subcommand(commands, "serve", help="serve the models over gRPC",
                                description="Serve catalog models over gRPC. Every flag can also be set by the "
                                            "environment variable in brackets; a flag wins over its variable.")
    config.add_arguments(serve)
    listing = subcommand(commands, "catalog", help="print the catalog entries as JSON lines")
    listing.add_argument("--catalog", default=None,
                         help="extra catalog YAML merged over the built-in one (default: the built-in catalog only)")
    return parser


def load_failure_hint(error: ModelLoadError, settings: config.Settings) -> str:
    """What to do next when a model's weights cannot be had here."""
    from .families import WeightsUnavailable

    if not isinstance(error, WeightsUnavailable) or settings.allow_random_weights:
        return ""
    return ("Next: offline? Load the model once on a machine with internet access and copy its model cache "
            "here (MEDEMBED_MODEL_CACHE, else HF_HOME; torchvision: MEDEMBED_MODEL_CACHE/torchvision, else "
            "TORCH_HOME); set HF_HUB_OFFLINE=1 to read that cache without trying the network. Or start with "
            "--allow-random-weights to serve seeded random weights in their place (flagged random_weights).")


def _catalog_lines(extra: str | None) -> list[str]:
    return [json.dumps({"id": entry.id, "family": entry.family, "architecture": entry.architecture,
                        "weights": entry.weights.kind, "random_weights": entry.weights.is_random, "dim": entry.dim})
            for entry in load_catalog(extra).values()]


def main(argv: list[str] | None = None) -> int:
    """Run `medembed-encoder` with `argv` (default sys.argv[1:]); returns the exit code: 0, EXIT_USAGE
    for an invalid setting, catalog or port, EXIT_LOAD_FAILED when a model cannot load (with a hint
    when its weights cannot be had). argparse exits with 2 itself on a malformed command line."""
    # Imported here, not at the top: decode worker processes import this module as their __main__
    # and must not pay for torch.
    from .families import ModelLoadError

    args = _parser().parse_args(argv)
    try:
        if args.command == "catalog":
            print("\n".join(_catalog_lines(args.catalog)))
            return 0
        settings = config.from_sources(args)
        logs.configure(settings.log_level)
        from .server import serve  # torch and the families load only for serving

        try:
            return asyncio.run(serve(settings))
        except ModelLoadError as exc:
            hint = load_failure_hint(exc, settings)
            print(f"medembed-encoder: {exc}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
            return EXIT_LOAD_FAILED
    except (config.ConfigError, CatalogError, ModelLoadError, BindError) as exc:
        print(f"medembed-encoder: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
