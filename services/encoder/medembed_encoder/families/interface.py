"""The Family interface: what every module the registry names must provide, checked when it is imported.

A family module builds the models of one library (open_clip, timm), or one architecture of a library
(hf's `llava`, torchvision's `flair_resnet50`), from catalog entries. `check_family` refuses a module
that lacks a part, naming the family and every missing or mistyped part, before any entry is served.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Protocol, cast

import torch

from ..catalog import CatalogEntry
from ..load_errors import ModelLoadError
from .base import LoadedEncoder, Preprocessing
from .options import CatalogOptions

FUNCTIONS = {"load": ("entry", "device"), "preprocessing": ("entry",)}  # name -> positional parameters


class Family(Protocol):
    """A module that serves catalog entries of one family (or one architecture of it).

    Attributes:
        OPTIONS: the CatalogOptions subclass listing every key an entry's `options:` may hold, typed.
        CODE_VERSION: bumped whenever the module's maths change; part of the vector identity.
        CODE_NAME: this code's name in the vector identity. It is the module path the code had when
            identities were first issued (e.g. `medembed_encoder.families.open_clip_family`), kept as
            it is so that moving a module changes no identity and cached vectors stay valid.
    """

    OPTIONS: type[CatalogOptions]
    CODE_VERSION: int
    CODE_NAME: str

    def preprocessing(self, entry: CatalogEntry) -> Preprocessing:
        """The model's own image transform, known from the entry alone (no weights are read)."""
        ...

    def load(self, entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
        """The model built on `device` with its weights. Raises ModelLoadError (WeightsUnavailable when
        the weights cannot be had here) with a message that says what to do."""
        ...


class FamilyInterfaceError(ModelLoadError):
    """A module named by the registry does not provide the Family interface."""


def interface_problems(module: ModuleType) -> list[str]:
    """What `module` lacks of the Family interface, one phrase per part; empty when it has everything."""
    problems = []
    for name, parameters in FUNCTIONS.items():
        function = getattr(module, name, None)
        call = f"{name}({', '.join(parameters)})"
        if not callable(function):
            problems.append(f"no function {call}")
            continue
        try:
            inspect.signature(function).bind(*parameters)
        except TypeError:
            problems.append(f"{name}{inspect.signature(function)} cannot be called as {call}")
    options = getattr(module, "OPTIONS", None)
    if not (isinstance(options, type) and issubclass(options, CatalogOptions)):
        problems.append("no OPTIONS (a CatalogOptions subclass)" if options is None
                        else f"OPTIONS is {options!r}, not a CatalogOptions subclass")
    version = getattr(module, "CODE_VERSION", None)
    if type(version) is not int:
        problems.append("no CODE_VERSION (an int)" if version is None else f"CODE_VERSION is {version!r}, not an int")
    code_name = getattr(module, "CODE_NAME", None)
    if not (isinstance(code_name, str) and code_name):
        problems.append("no CODE_NAME (a non-empty str)" if code_name is None
                        else f"CODE_NAME is {code_name!r}, not a non-empty str")
    return problems


def check_family(module: ModuleType, where: str) -> Family:
    """`module`, typed as a Family once it is known to provide every part of the interface.

    `where` names it in the error, e.g. "family 'hf', architecture 'llava'".
    Raises FamilyInterfaceError naming the family, the module and every missing or mistyped part.
    """
    problems = interface_problems(module)
    if problems:
        raise FamilyInterfaceError(f"{where}: module {module.__name__} does not provide the Family interface "
                                   f"(families/interface.py): {'; '.join(problems)}")
    return cast(Family, module)
