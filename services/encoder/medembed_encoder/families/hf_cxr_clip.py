"""CXR-CLIP's image encoder: a transformers Swin and the linear image projection of its checkpoint.

CXR-CLIP (kakaobrain/cxr-clip) saves `{"model": state_dict, "config": ..., ...}` in a .tar file;
the image side is `image_encoder.image_encoder.*` (a transformers SwinModel) and
`image_projection.projection.*` (Linear to `projection_dim`). Its global image feature is token 0 of
the Swin's last hidden state (CXR-CLIP's `encode_image`); the projection was trained on exactly
that, so it is reproduced here. Preprocessing is CXR-CLIP's evaluation transform for Swin: resize,
center crop, normalize with mean = std = 0.5 (`options.transform`).
Specs: `default` (projected), `pre_projection` (the Swin feature).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision import transforms
from transformers import SwinConfig, SwinModel

from ..catalog import CatalogEntry
from .base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from .hf_checkpoint import load_hf_model
from .hub import checkpoint_file
from .weights import load_exact, read_state_dict, with_prefix

ENCODER_PREFIX = "image_encoder.image_encoder."
PROJECTION_PREFIX = "image_projection.projection."


class CxrClipImageEncoder(nn.Module):
    def __init__(self, encoder: SwinModel, projection: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = projection

    def global_feature(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values=images).last_hidden_state[:, 0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(self.global_feature(images))


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    spec = entry.options["transform"]
    transform = transforms.Compose([
        transforms.Resize(spec["resize"]),
        transforms.CenterCrop(spec["center_crop"]),
        transforms.ToTensor(),
        transforms.Normalize(mean=spec["mean"], std=spec["std"]),
    ])
    return Preprocessing(transform, int(spec["center_crop"]))


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
    config = SwinConfig(**entry.options["swin_config"])
    projection_dim = int(entry.options["projection_dim"])
    if entry.weights.is_random:
        with building_on(entry, device):
            encoder, projection = SwinModel(config), nn.Linear(config.hidden_size, projection_dim)
    else:
        encoder, projection = _load_weights(entry, config, projection_dim, device)
    model = CxrClipImageEncoder(encoder, projection)
    specs = {DEFAULT_SPEC: model.forward, PRE_PROJECTION_SPEC: model.global_feature}
    return make_encoder(entry, model, preprocessing(entry), specs)
