"""The encoder image's build-time check (`python -m medembed_encoder.buildcheck`), run in this
environment: every family's extra is installed here (`make install`), torch is whatever build pip
gave (PyPI's CUDA build on Linux x86_64 unless TORCH_INDEX_URL pointed at the CPU index)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch

from medembed_encoder import buildcheck
from medembed_encoder.families.table import ANY_ARCHITECTURE, FAMILIES, FamilySpec

CHECK = [sys.executable, "-m", "medembed_encoder.buildcheck"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_family_whose_libraries_are_installed_passes(family):
    completed = subprocess.run([*CHECK, family], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"buildcheck: FAMILY={family}: ")


def test_a_missing_package_and_a_module_that_does_not_import_are_named(monkeypatch):
    def no_such_module():
        return importlib.import_module("medembed_encoder.families.no_such_module")

    monkeypatch.setitem(buildcheck.FAMILIES, "timm", FamilySpec("timm", {ANY_ARCHITECTURE: no_such_module},
                                                                ("timm", "no-such-package-medembed")))
    problems = buildcheck.family_problems("timm")
    assert problems[0].startswith("package no-such-package-medembed is not installed (the extra "
                                  "medembed-encoder[timm] needs it")
    assert problems[1].startswith(f"architecture(s) '*': {__name__}.test_a_missing_package_and_a_module_that_does_"
                                  "not_import_are_named.<locals>.no_such_module() could not import the module serving "
                                  "them: No module named 'medembed_encoder.families.no_such_module'")


def test_cpu_requires_a_torch_without_cuda():
    completed = subprocess.run([*CHECK, "timm", "--cpu"], capture_output=True, text=True, timeout=300)
    if torch.version.cuda is None:  # torch's own statement of its build
        assert completed.returncode == 0, completed.stderr
    else:
        assert completed.returncode == 1
        (line,) = completed.stderr.splitlines()
        assert line.startswith(f"buildcheck: FAMILY=timm: torch {torch.__version__} is a CUDA build "
                               f"(CUDA {torch.version.cuda}) in a CPU image")
        assert "TORCH_INDEX_URL" in line


def test_an_unknown_family_is_refused():
    completed = subprocess.run([*CHECK, "resnet"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "FAMILY must be one of hf, open_clip, timm, torchvision" in completed.stderr
