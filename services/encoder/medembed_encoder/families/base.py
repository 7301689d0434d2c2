"""The data a family module returns (a model that preprocesses images and embeds batches) and the
helpers every family builds it with."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from medembed_decode import rules_identity

from ..catalog import CatalogEntry

Preprocess = Callable[[Image.Image], torch.Tensor]  # PIL image, mode L or RGB -> [C, H, W] float tensor
EmbedFn = Callable[[Any], torch.Tensor]  # a collated batch -> [N, dim]
Collate = Callable[[Sequence[Any], torch.device], Any]  # preprocessed items -> one batch on the device


def stack_batch(items: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Fixed-shape inputs: [C, H, W] each -> [N, C, H, W] on the device. For a GPU the batch is
    stacked in pinned host memory, so its copy to the device is asynchronous and overlaps the
    forward another worker is running."""
    if device.type != "cuda":
        return torch.stack(list(items)).to(device)
    pinned = torch.empty((len(items), *items[0].shape), dtype=items[0].dtype, pin_memory=True)
    torch.stack(list(items), out=pinned)
    return pinned.to(device, non_blocking=True)


@dataclass(frozen=True)
class CodeIdentity:
    """What a family module contributes to the vector identity (identity.py): its module, code version and
    the entry's validated options. Set on LoadedEncoder.code by families.load_encoder."""

    module: str  # the family module's CODE_NAME, e.g. medembed_encoder.families.open_clip_family
    code_version: int
    options: str  # canonical JSON of the validated options


DEFAULT_SPEC = "default"
PRE_PROJECTION_SPEC = "pre_projection"  # the embedding before the model's final projection head


@dataclass
class LoadedEncoder:
    """A model ready to embed: its preprocessing, its embedding functions per spec and what identifies them.

    `preprocess` maps a decoded PIL image (mode L or RGB) to the family's item ([C, H, W] float tensor,
    or AnyresImage for LLaVA-1.6); `collate` stacks items into a batch on the device; each `specs[name]`
    maps that batch to [N, spec_dims[name]] float vectors. Built by `make_encoder`.
    """

    entry: CatalogEntry
    module: torch.nn.Module
    preprocess: Preprocess  # decoded PIL image (mode L or RGB) -> [C, H, W] float tensor (or the family's item)
    specs: dict[str, EmbedFn]  # spec name -> collated batch ([N, C, H, W] unless collate says otherwise) -> [N, dim]
    spec_dims: dict[str, int]
    input_size: int
    weights_digest: str
    preprocess_digest: str
    random_weights: bool
    preprocess_description: str = ""  # repr of the whole image transform (part of the vector identity)
    code: CodeIdentity | None = None  # set by families.load_encoder: module, code version, options
    collate: Collate = stack_batch  # families whose items vary in shape (LLaVA-1.6 anyres) bring their own

    @property
    def default_spec(self) -> str:
        """The spec served when a request names none: the catalog entry's `default_spec`."""
        return self.entry.default_spec

    def resolve_spec(self, requested: str) -> str:
        """The spec to compute for `requested` ('' means the default); KeyError names the specs offered."""
        spec = requested or self.default_spec
        if spec not in self.specs:
            raise KeyError(f"model {self.entry.id!r} has no spec {spec!r}; specs: {sorted(self.specs)}")
        return spec


@dataclass(frozen=True)
class Preprocessing:
    """A model's own image transform, known from its catalog entry alone (no weights needed)."""

    transform: Preprocess  # PIL image -> [C, input_size, input_size] float tensor
    input_size: int
    takes_gray: bool = False  # the transform handles a mode-L image itself, as its upstream code does

    @property
    def description(self) -> str:
        """repr of the whole image transform, RGB conversion included: part of the vector identity."""
        return repr(self.image_transform)

    @property
    def image_transform(self) -> Preprocess:
        """The transform applied to a decoded image: RGB first, unless the model's own code takes gray."""
        return self.transform if self.takes_gray else ConvertToRGB(self.transform)


class ConvertToRGB:
    """`image.convert("RGB")`, then the model's transform: what most upstream pipelines do first."""

    def __init__(self, transform: Preprocess) -> None:
        self.transform = transform

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image if image.mode == "RGB" else image.convert("RGB"))

    def __repr__(self) -> str:
        return f"ConvertToRGB({self.transform!r})"


@contextmanager
def building_on(entry: CatalogEntry, device: torch.device) -> Iterator[None]:
    """Construct modules directly on `device` (meta for shape-only builds), seeded when weights are random."""
    if entry.weights.is_random:
        torch.manual_seed(entry.weights.seed)
    with torch.device(device):
        yield


def make_encoder(entry: CatalogEntry, module: torch.nn.Module, preprocessing: Preprocessing,
                 specs: dict[str, EmbedFn], collate: Collate | None = None) -> LoadedEncoder:
    """`collate`: for items that are not fixed-shape tensors; their probe is a preprocessed gray image."""
    module.eval()
    size = preprocessing.input_size
    if collate is None:
        collate, probe = stack_batch, torch.zeros(3, size, size)
    else:
        probe = preprocessing.image_transform(Image.new("RGB", (size, size), (128, 128, 128)))
    device = next(module.parameters()).device
    return LoadedEncoder(
        entry=entry, module=module, preprocess=preprocessing.image_transform, specs=specs,
        spec_dims=measure_spec_dims(specs, collate([probe], device)), input_size=size,
        weights_digest=state_dict_digest(module), preprocess_digest=preprocess_digest(preprocessing.description),
        random_weights=entry.weights.is_random, preprocess_description=preprocessing.description,
        collate=collate,
    )


def state_dict_digest(module: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer, names included: the identity of the weights."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(str(tensor.dtype).encode())
        if tensor.device.type != "meta":
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def preprocess_digest(description: str) -> str:
    """Identity of the whole path from bytes to tensor: decode rules plus the model's transform."""
    text = f"{rules_identity()}\n{description}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def measure_spec_dims(specs: dict[str, EmbedFn], probe_batch: Any) -> dict[str, int]:
    """Run a one-item probe batch through every spec to learn its output dim."""
    dims = {}
    with torch.inference_mode():
        for name, embed in specs.items():
            dims[name] = int(embed(probe_batch).reshape(1, -1).shape[1])
    return dims
