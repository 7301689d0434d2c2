"""The versions of the libraries that shape a model's vectors: reported in ListModels and part of the
vector identity (identity.py).

torch computes every forward; torchvision's transforms do the resizing of most families' own
preprocessing (timm's and open_clip's eval transforms are built from them); each family adds its
model library and the packages it reads weights with (the libraries of its row in families/table.py,
which its pip extra installs); the decoders turn bytes into pixels.
"""

from __future__ import annotations

import functools
import importlib
import platform
from importlib import metadata

from .families.table import FAMILIES

ENCODER_LIBRARIES = ("medembed-encoder", "torch", "torchvision", "numpy")
DECODE_LIBRARIES = ("medembed-decode", "pillow", "pydicom", "imagecodecs", "tifffile", "simplejpeg", "nibabel")
"""The decode rules' package and the libraries it decodes with (libs/decode/pyproject.toml)."""
BUILD_TAGGED = {"torch": "torch", "torchvision": "torchvision"}
"""Packages whose module version carries the build (`2.14.1+cu130` vs `+cpu`), which the package metadata drops."""


@functools.cache
def library_versions(family: str) -> dict[str, str]:
    """{package: version} for the packages installed that compute `family`'s vectors, plus `python`.

    An unknown family gets the libraries every family uses. Packages not installed are left out.
    """
    versions = {"python": platform.python_version()}
    family_libraries = FAMILIES[family].libraries if family in FAMILIES else ()
    for package in dict.fromkeys((*ENCODER_LIBRARIES, *family_libraries, *DECODE_LIBRARIES)):
        try:
            if package in BUILD_TAGGED:
                versions[package] = importlib.import_module(BUILD_TAGGED[package]).__version__
            else:
                versions[package] = metadata.version(package)
        except (ImportError, metadata.PackageNotFoundError):
            continue
    return versions
