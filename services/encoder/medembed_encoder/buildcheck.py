"""`python -m medembed_encoder.buildcheck FAMILY [--cpu]`: the encoder image's build-time check.

An image that builds without its family's library only fails when the encoder starts (exit 3), and
a CPU image that got PyPI's CUDA torch (6 GB, the CPU wheel index unreachable) works but is the
wrong image. The Dockerfile runs this after its installs, so both fail the build with one message:

- every package of the family's extra (its row's `libraries` in families/table.py, plus torch and
  torchvision) is installed, and every code module the row names imports;
- with `--cpu`, torch is a CPU build (`torch.version.cuda` is None).

Exit 0 when the image is right, 1 with one line a problem on stderr otherwise, 2 for a bad FAMILY.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from medembed_proto.helpformat import HelpFormatter

from .families.table import FAMILIES, ModuleLoader

BASE_LIBRARIES = ("torch", "torchvision")


def family_modules(family: str) -> list[str]:
    """The names of the code modules `family`'s row names, sorted, each imported; KeyError for an unknown
    family, ImportError when one does not import."""
    return sorted({loader().__name__ for loader in FAMILIES[family].modules.values()})


def family_problems(family: str) -> list[str]:
    """What keeps this environment from serving `family`: packages not installed, modules that do not
    import (with the ImportError); empty when it can."""
    problems = []
    spec = FAMILIES[family]
    for package in dict.fromkeys((*BASE_LIBRARIES, *spec.libraries)):
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            problems.append(f"package {package} is not installed (the extra medembed-encoder[{family}] needs it; "
                            "a pip older than 23.3 drops extras named with '_')")
    architectures: dict[ModuleLoader, list[str]] = {}
    for architecture, loader in sorted(spec.modules.items()):
        architectures.setdefault(loader, []).append(architecture)
    for loader, served in architectures.items():
        try:
            loader()
        except ImportError as exc:
            problems.append(f"architecture(s) {', '.join(map(repr, served))}: {loader.__module__}.{loader.__qualname__}"
                            f"() could not import the module serving them: {exc}")
    return problems


def torch_build_problem() -> str:
    """Why torch here is no CPU build ('' when it is one): its version and CUDA version."""
    import torch

    if torch.version.cuda is None:
        return ""
    return (f"torch {torch.__version__} is a CUDA build (CUDA {torch.version.cuda}) in a CPU image: the CPU wheel "
            "index (build arg TORCH_INDEX_URL) could not be reached or lacks this version, and pip took PyPI's CUDA "
            "wheels; make https://download.pytorch.org/whl/cpu (or a mirror of it) reachable from the build, or "
            "build the GPU image")


def main(argv: list[str] | None = None) -> int:
    """Check this environment for FAMILY (and a CPU torch with --cpu); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m medembed_encoder.buildcheck", description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("family", help=f"the image's family: {' | '.join(sorted(FAMILIES))}")
    parser.add_argument("--cpu", action="store_true", help="also require a CPU-only torch build")
    args = parser.parse_args(argv)
    if args.family not in FAMILIES:
        print(f"buildcheck: FAMILY must be one of {', '.join(sorted(FAMILIES))}, not {args.family!r}", file=sys.stderr)
        return 2
    problems = family_problems(args.family)
    if args.cpu and not problems:
        problems += [problem for problem in [torch_build_problem()] if problem]
    for problem in problems:
        print(f"buildcheck: FAMILY={args.family}: {problem}", file=sys.stderr)
    if not problems:
        print(f"buildcheck: FAMILY={args.family}: {', '.join(family_modules(args.family))} import"
              + (", torch is a CPU build" if args.cpu else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
