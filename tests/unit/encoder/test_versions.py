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

from medembed_encoder.families.table import FAMILIES
from medembed_encoder.versions import DECODE_LIBRARIES, ENCODER_LIBRARIES, library_versions

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


def test_each_family_extra_installs_exactly_its_table_row_libraries():
    """The extras check: services/encoder/pyproject.toml holds the version bounds, families/table.py the names."""
    extras = tomllib.loads((ROOT / "services/encoder/pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {family: _names(requirements) for family, requirements in extras.items()} == {
        name: set(spec.libraries) for name, spec in FAMILIES.items()}


def test_a_family_gets_its_row_libraries_and_an_unknown_family_the_common_ones():
    for name, spec in FAMILIES.items():
        assert set(spec.libraries) <= set(library_versions(name)), name  # every extra is installed here
    assert set(library_versions("no-such-family")) == set(library_versions("torchvision")) - {
        "huggingface-hub", "safetensors"}


def test_every_library_the_encoder_or_the_decoder_installs_is_reported():
    encoder = tomllib.loads((ROOT / "services/encoder/pyproject.toml").read_text())["project"]
    decode = tomllib.loads((ROOT / "libs/decode/pyproject.toml").read_text())["project"]
    assert _names(decode["dependencies"]) <= {*DECODE_LIBRARIES, *ENCODER_LIBRARIES}
    assert {"torch", "numpy", "pillow"} <= _names(encoder["dependencies"])
