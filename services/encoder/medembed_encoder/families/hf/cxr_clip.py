"""CXR-CLIP's image encoder: a transformers Swin and the linear image projection of its checkpoint.

CXR-CLIP's reference code lives only on GitHub (kakaobrain/cxr-clip); what it does, stage by stage:

1. `cxrclip/data/datasets/imagetext_eval.py`: `Image.open(path).convert("RGB")`; then
   `cxrclip/data/data_utils.py: load_transform("test", configs/transform/default.yaml)`:
   `torchvision.transforms.Resize(224)` and `CenterCrop(224)`, and `transform_image(...,
   normalize="huggingface")`: `ToTensor()`, `Normalize(mean=[0.5]*3, std=[0.5]*3)` (the Swin
   checkpoints use "huggingface"; the evaluator switches to ImageNet statistics for ResNet only).
   medembed: the same torchvision transforms, from `options.transform`.
2. `cxrclip/model/modules/image_encoder.py: HuggingfaceImageEncoder.forward` (model_type "swin"):
   `transformers.SwinModel(pixel_values=image)["last_hidden_state"]`, [N, 49, 768].
3. `cxrclip/model/clip.py: CXRClip.encode_image`: for a non-ResNet encoder `image_features[:, 0]`,
   the first token of the last hidden state (medembed's `pre_projection`).
4. `cxrclip/model/modules/projection.py: LinearProjectionHead` (configs/model/clip_swin_clinical.yaml:
   projection_head "linear", proj_dim 512): `Linear(768, 512)`.
5. `cxrclip/evaluator.py: Evaluator.encode_image`: stages 3-4, then `img_emb / torch.norm(img_emb,
   dim=1, keepdim=True)`; `CXRClip.forward` normalises its image embeddings the same way.

medembed's `default` is stage 5 (CXR-CLIP's evaluation embedding: projected and L2-normalised,
what its zero-shot and retrieval evaluation compare) and `pre_projection` is stage 3.
CXR-CLIP saves `{"model": state_dict, "config": ..., ...}` in a .tar file; the image side is
`image_encoder.image_encoder.*` (a transformers SwinModel) and `image_projection.projection.*`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms
from transformers import SwinConfig, SwinModel

from ...catalog import CatalogEntry
from ...weights.checkpoints import load_exact, read_state_dict, with_prefix
from ...weights.hub import checkpoint_file
from ..base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions, ConfigFields, YamlTuple
from .checkpoint import load_hf_model

ENCODER_PREFIX = "image_encoder.image_encoder."
PROJECTION_PREFIX = "image_projection.projection."
CODE_VERSION = 2  # 2: default is the evaluator's L2-normalised embedding
CODE_NAME = "medembed_encoder.families.hf_cxr_clip"  # see interface.Family
SWIN_FIELDS = frozenset(SwinConfig().to_dict())


class CxrClipTransform(CatalogOptions):
    """Stage 1's transform parameters, as CXR-CLIP's configs/transform/default.yaml and normalize give them."""

    schema_name: ClassVar[str] = "cxr_clip transform"
    resize: int  # shorter side, bilinear (torchvision Resize)
    center_crop: int
    mean: YamlTuple[float]
    std: YamlTuple[float]


class CxrClipOptions(CatalogOptions):
    """Catalog options of a `cxr_clip_swin` entry: the Swin config, the projection width and the transform."""

    schema_name: ClassVar[str] = "hf/cxr_clip_swin"
    config_fields: ClassVar[ConfigFields] = {"swin_config": (SWIN_FIELDS, "SwinConfig")}
    swin_config: dict[str, Any]  # transformers SwinConfig fields
    projection_dim: int
    transform: CxrClipTransform


OPTIONS = CxrClipOptions


class CxrClipImageEncoder(nn.Module):
    """CXR-CLIP's image side: the transformers SwinModel and the linear image projection (stages 2-5)."""

    def __init__(self, encoder: SwinModel, projection: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = projection

    def global_feature(self, images: torch.Tensor) -> torch.Tensor:
        """Stages 2-3: CXRClip.encode_image, [N, 768]."""
        return self.encoder(pixel_values=images).last_hidden_state[:, 0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stages 2-5: Evaluator.encode_image, [N, projection_dim], unit length."""
        return F.normalize(self.projection(self.global_feature(images)), dim=-1)


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """Stage 1: Resize(resize), CenterCrop(center_crop), ToTensor, Normalize(mean, std): [3, crop, crop]
    float tensors."""
    spec = CxrClipOptions.from_entry(entry).transform
    transform = transforms.Compose([
        transforms.Resize(spec.resize),
        transforms.CenterCrop(spec.center_crop),
        transforms.ToTensor(),
        transforms.Normalize(mean=list(spec.mean), std=list(spec.std)),
    ])
    return Preprocessing(transform, spec.center_crop)


def _load_weights(entry: CatalogEntry, config: SwinConfig, projection_dim: int,
                  device: torch.device) -> tuple[SwinModel, nn.Linear]:
    path = checkpoint_file(entry.weights, entry.id, ())
    state = read_state_dict(path, containers=("model",))
    # transformers renames the Swin tensor names of the older version CXR-CLIP was saved with
    encoder = load_hf_model(SwinModel, config, with_prefix(state, ENCODER_PREFIX), str(path))
    with building_on(entry, device):
        projection = nn.Linear(config.hidden_size, projection_dim)
    load_exact(projection, with_prefix(state, PROJECTION_PREFIX), str(path))
    return encoder.to(device), projection


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """CXR-CLIP's image encoder on `device`: `default` is stage 5 ([N, projection_dim], unit length),
    `pre_projection` stage 3 ([N, 768]). Raises WeightsUnavailable when the checkpoint cannot be had,
    ModelLoadError when its image-side tensors do not fit.
    """
    options = CxrClipOptions.from_entry(entry)
    config = SwinConfig(**options.swin_config)
    if entry.weights.is_random:
        with building_on(entry, device):
            encoder, projection = SwinModel(config), nn.Linear(config.hidden_size, options.projection_dim)
    else:
        encoder, projection = _load_weights(entry, config, options.projection_dim, device)
    model = CxrClipImageEncoder(encoder, projection)
    specs = {DEFAULT_SPEC: model.forward, PRE_PROJECTION_SPEC: model.global_feature}
    return make_encoder(entry, model, preprocessing(entry), specs)
