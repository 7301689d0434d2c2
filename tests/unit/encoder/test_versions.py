"""ListModels' library_versions: each family's libraries, as the libraries themselves report them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy
import open_clip
import PIL
import pydicom
import timm
import torch
import torchvision
import transformers

from medembed_encoder.versions import DECODE_LIBRARIES, ENCODER_LIBRARIES, FAMILY_LIBRARIES, library_versions

ROOT = Path(__file__).resolve().parents[3]


def _names(requirements: list[str]) -> set[str]:
    return {re.match(r"[A-Za-z0-9._-]+", requirement).group().lower() for requirement in requirements}


def test_versions_are_what_each_library_reports_of_itself():
    versions = library_versions("open_clip")
    assert versions["torch"] == torch.__version__ and versions["torchvision"] == torchvision.__version__
    assert versions["open-clip-torch"] == open_clip.__version__ and versions["timm"] == timm.__version__
    assert versions["pillow"] == PIL.__version__ and versions["pydicom"] == pydicom.__version__
    assert versions["numpy"] == numpy.__version__
    assert library_versions("hf")["transformers"] == transformers.__version__
    assert "transformers" not in versions and "open-clip-torch" not in library_versions("timm")


def test_every_library_a_family_extra_or_the_decoder_installs_is_reported():
    encoder = tomllib.loads((ROOT / "services/encoder/pyproject.toml").read_text())["project"]
    decode = tomllib.loads((ROOT / "libs/decode/pyproject.toml").read_text())["project"]
    for family, requirements in encoder["optional-dependencies"].items():
        assert _names(requirements) <= {*FAMILY_LIBRARIES[family], *ENCODER_LIBRARIES}, family
    assert _names(decode["dependencies"]) <= {*DECODE_LIBRARIES, *ENCODER_LIBRARIES}
    assert {"torch", "numpy", "pillow"} <= _names(encoder["dependencies"])
