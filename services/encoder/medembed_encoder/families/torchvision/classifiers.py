"""torchvision family, classifiers: torchvision classifiers as feature extractors.

Classifiers (`vgg16`, `resnet50`, `vit_l_16`, any torchvision model whose last layer is listed in
CLASSIFIER_HEADS): the final classification Linear is replaced by identity, so `default` is the
penultimate feature (VGG16 fc7 4096, ResNet50 pool 2048, ViT-L/16 class token 1024). Weights:
`pretrained` (a torchvision weights name such as IMAGENET1K_V1, downloaded by torchvision with
its hash checked), `local` (a checkpoint in torchvision's layout) or `random`. Preprocessing is
the weights' own `transforms()`: the pretrained tag's, else `options.weights_transforms` (a weights
name of the architecture, e.g. IMAGENET1K_V1 for a local copy of those weights), else the
architecture's DEFAULT weights'. The served vector equals torchvision's
`create_feature_extractor(model, {<input of the classifier Linear>: ...})` on the same weights.
The family's other architecture, `flair_resnet50`, is flair.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from typing import ClassVar
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from ...catalog import CatalogEntry
from ...load_errors import ModelLoadError, WeightsUnavailable
from ...logs import event
from ...weights.checkpoints import load_exact, read_state_dict
from ...weights.hub import checkpoint_file, model_cache_dir
from ..base import DEFAULT_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions

# architecture -> the classification Linear replaced by identity (the registry lists the same names)
CLASSIFIER_HEADS = {"vgg16": "classifier.6", "resnet50": "fc", "vit_l_16": "heads.head"}
CODE_VERSION = 1
log = logging.getLogger(__name__)
CODE_NAME = "medembed_encoder.families.torchvision_family"  # see interface.Family


class TorchvisionOptions(CatalogOptions):
    """Catalog options of a torchvision classifier entry (see the module docstring)."""

    schema_name: ClassVar[str] = "torchvision"
    weights_transforms: str | None = None  # weights name whose transforms() preprocess non-pretrained weights


OPTIONS = TorchvisionOptions


def _weights_enum(entry: CatalogEntry) -> torchvision.models.WeightsEnum:
    weights_class = torchvision.models.get_model_weights(entry.architecture)
    name = entry.weights.ref if entry.weights.kind == "pretrained" else TorchvisionOptions.from_entry(
        entry).weights_transforms
    if name is None:
        return weights_class.DEFAULT
    try:
        return weights_class[name]
    except KeyError:
        raise ModelLoadError(f"model {entry.id!r}: torchvision has no weights {name!r} for "
                             f"{entry.architecture}; known: {[w.name for w in weights_class]}") from None


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """The weights' own `transforms()` (see the module docstring): [3, crop, crop] float tensors.

    Raises ModelLoadError when the architecture has no weights of that name."""
    transform = _weights_enum(entry).transforms()
    return Preprocessing(transform, int(transform.crop_size[0]))


def checkpoint_folder() -> str:
    """The folder torchvision's weights files are kept in: MEDEMBED_MODEL_CACHE/torchvision, else
    torch.hub's own, `torch.hub.get_dir()/checkpoints` (TORCH_HOME/hub/checkpoints; without TORCH_HOME,
    $XDG_CACHE_HOME/torch/hub/checkpoints or ~/.cache/torch/hub/checkpoints), resolved."""
    cache = model_cache_dir()
    return os.path.join(cache, "torchvision") if cache else os.path.join(torch.hub.get_dir(), "checkpoints")


def _pretrained_state(entry: CatalogEntry, folder: str) -> dict[str, torch.Tensor]:
    """The weights' state dict through torchvision (hash checked). torch.hub writes a plain
    `Downloading: ...` line to stdout before a download; it is logged as the event weights_download
    instead, so the log stays one JSON object a line."""
    weights = _weights_enum(entry)
    path = os.path.join(folder, os.path.basename(urlparse(weights.url).path))
    if not os.path.exists(path):
        event(log, "weights_download", model=entry.id, url=weights.url, path=path)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            return weights.get_state_dict(progress=False, check_hash=True, weights_only=True, model_dir=folder)
    finally:
        for line in printed.getvalue().splitlines():
            if line.strip() and not line.startswith("Downloading: "):  # that one is weights_download
                event(log, "library_output", library="torch.hub", model=entry.id, text=line)


def _classifier_state(entry: CatalogEntry) -> dict[str, torch.Tensor]:
    if entry.weights.kind == "pretrained":
        folder = checkpoint_folder()
        try:
            return _pretrained_state(entry, folder)
        except OSError as exc:  # not cached and no network
            reason = getattr(exc, "reason", None) or exc.strerror or exc  # URLError keeps the cause in .reason
            raise WeightsUnavailable(f"model {entry.id!r}: torchvision weights {entry.weights.ref} are not in {folder} "
                                     f"and could not be downloaded ({reason})") from None
    if entry.weights.kind == "local":
        return read_state_dict(checkpoint_file(entry.weights, entry.id, ()))
    raise ModelLoadError(f"model {entry.id!r}: torchvision cannot load weights of kind {entry.weights.kind!r}")


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The classifier without its last Linear, on `device`; spec `default` maps [N, 3, crop, crop] to the
    penultimate feature [N, dim]. Raises ModelLoadError for an architecture not in CLASSIFIER_HEADS or
    weights that do not fit, WeightsUnavailable when pretrained weights are neither cached nor downloadable."""
    head = CLASSIFIER_HEADS.get(entry.architecture)
    if head is None:
        raise ModelLoadError(f"model {entry.id!r}: torchvision architecture {entry.architecture!r} is not "
                             f"supported; known: {sorted(CLASSIFIER_HEADS)}")
    state = None if entry.weights.is_random else _classifier_state(entry)
    with building_on(entry, device):
        model = torchvision.models.get_model(entry.architecture, weights=None)
    if state is not None:
        load_exact(model, state, f"{entry.architecture} {entry.weights.ref}")
    model.set_submodule(head, nn.Identity())  # the penultimate feature is the embedding

    def embed_features(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)

    return make_encoder(entry, model, preprocessing(entry), {DEFAULT_SPEC: embed_features})
