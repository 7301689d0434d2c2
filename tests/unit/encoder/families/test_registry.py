"""The family registry: every module it names provides the Family interface, a module that does not is
refused naming what it lacks, and families are imported only when an entry needs them, so each family's
container installs only that family's libraries."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.servers import TEST_CATALOG
from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import (
    FAMILIES,
    FamilyInterfaceError,
    FamilySpec,
    ModelLoadError,
    code_identity,
    family_for,
    load_encoder,
    validate_options,
)
from medembed_encoder.families.interface import interface_problems
from medembed_encoder.families.table import ANY_ARCHITECTURE
from medembed_encoder.families.torchvision.classifiers import CLASSIFIER_HEADS

MODEL_LIBRARIES = ("open_clip", "timm", "transformers", "torchvision", "huggingface_hub", "safetensors")
# module -> the libraries of its family's extra (services/encoder/pyproject.toml) it may import; what
# those libraries import themselves is allowed too (timm imports torchvision, open_clip imports
# transformers when it is installed).
OWN_LIBRARIES = {
    "medembed_encoder.families": (),
    "medembed_encoder.weights.hub": (),
    "medembed_encoder.weights.checkpoints": (),
    "medembed_encoder.families.open_clip.family": ("open_clip", "timm", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.open_clip.conch_v1_5": ("open_clip", "timm", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.timm.family": ("timm", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.torchvision.classifiers": ("torchvision", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.torchvision.flair": ("torchvision", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.hf.llava": ("transformers", "torchvision", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.hf.llm2clip": ("transformers", "torchvision", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.hf.cxr_clip": ("transformers", "torchvision", "huggingface_hub", "safetensors"),
    "medembed_encoder.families.hf.vision_backbone": ("transformers", "torchvision", "huggingface_hub",
                                                     "safetensors"),
}


ROWS = [(name, architecture) for name, spec in FAMILIES.items() for architecture in spec.modules]


def registered_modules() -> set[str]:
    """The names of the modules the table's loaders import (importing them all)."""
    return {loader().__name__ for spec in FAMILIES.values() for loader in spec.modules.values()}


@functools.cache
def libraries_imported_by(module: str) -> frozenset[str]:
    """The MODEL_LIBRARIES a fresh interpreter holds after importing `module`."""
    script = (f"import sys, json, {module}\n"
              f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & {set(MODEL_LIBRARIES)!r})))")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return frozenset(json.loads(completed.stdout))


def test_every_registered_module_is_covered_here():
    assert registered_modules() <= set(OWN_LIBRARIES)


@pytest.mark.parametrize("module", sorted(OWN_LIBRARIES))
def test_importing_a_module_brings_in_only_its_own_family_libraries(module):
    own = set(OWN_LIBRARIES[module])
    allowed = own.union(*(libraries_imported_by(library) for library in own))
    assert libraries_imported_by(module) <= allowed


def test_the_registry_imports_a_family_only_when_an_entry_needs_it():
    script = ("import sys\n"
              "from medembed_encoder.catalog import load_catalog\n"
              "from medembed_encoder.families import validate_options\n"
              f"validate_options(load_catalog({str(TEST_CATALOG)!r})['tiny-timm'])\n"
              "print(sorted({'open_clip', 'transformers', 'timm'} & {n.split('.')[0] for n in sys.modules}))")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "['timm']"


def test_the_open_clip_package_does_not_shadow_the_library():
    package = importlib.import_module("medembed_encoder.families.open_clip")
    family = importlib.import_module("medembed_encoder.families.open_clip.family")
    library = importlib.import_module("open_clip")
    assert package is not library
    assert family.open_clip is library and hasattr(library, "create_model")
    assert "medembed_encoder" not in Path(library.__file__).parts


@pytest.mark.parametrize(("family", "architecture"), ROWS)
def test_every_registered_module_provides_the_family_interface(family, architecture):
    assert interface_problems(FAMILIES[family].modules[architecture]()) == []


def test_each_loader_imports_the_module_of_its_family_package():
    """The loaders are import statements (table.py), so a wrong one would serve another family's code."""
    for name, architecture in ROWS:
        module = FAMILIES[name].modules[architecture]()
        assert module.__name__.startswith(f"medembed_encoder.families.{name}."), (name, architecture)


def test_code_names_are_distinct():
    """CODE_NAME keys the family code in the vector identity: two modules must never share one."""
    names = [importlib.import_module(module).CODE_NAME for module in registered_modules()]
    assert len(names) == len(set(names))


def test_the_registry_lists_every_torchvision_classifier():
    classifiers = {arch for arch, loader in FAMILIES["torchvision"].modules.items()
                   if loader().__name__.endswith(".classifiers")}
    assert classifiers == set(CLASSIFIER_HEADS)


def test_every_catalog_entry_has_a_family_module():
    for entry in load_catalog().values():
        assert family_for(entry).OPTIONS is type(validate_options(entry))


def test_a_module_without_the_interface_is_refused_naming_what_it_lacks(tmp_path, monkeypatch):
    (tmp_path / "medembed_broken_family.py").write_text(
        "def preprocessing(entry, device, extra): ...\nCODE_VERSION = '1'\nOPTIONS = dict\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(FAMILIES, "broken", FamilySpec(
        "broken", {ANY_ARCHITECTURE: lambda: importlib.import_module("medembed_broken_family")}, ()))
    entry = dataclasses.replace(load_catalog(TEST_CATALOG)["tiny-timm"], family="broken")
    for attempt in (family_for, code_identity, lambda e: load_encoder(e, "cpu", allow_random_weights=True)):
        with pytest.raises(FamilyInterfaceError) as raised:
            attempt(entry)
        message = str(raised.value)
        assert message.startswith("family 'broken': module medembed_broken_family does not provide the Family "
                                  "interface")
        for problem in ("no function load(entry, device)", "cannot be called as preprocessing(entry)",
                        "OPTIONS is <class 'dict'>, not a CatalogOptions subclass", "CODE_VERSION is '1', not an int",
                        "no CODE_NAME"):
            assert problem in message
        assert isinstance(raised.value, ModelLoadError)  # the server reports it as a model that cannot load


def test_unknown_families_and_architectures_are_named():
    entry = load_catalog(TEST_CATALOG)["tiny-timm"]
    with pytest.raises(ModelLoadError, match=r"unknown family 'nope'; known: \['hf', 'open_clip'"):
        family_for(dataclasses.replace(entry, family="nope"))
    with pytest.raises(ModelLoadError, match=r"family 'hf' has no architecture 'nope'; known: \['clip_vision_proj"):
        family_for(dataclasses.replace(entry, family="hf", architecture="nope"))
