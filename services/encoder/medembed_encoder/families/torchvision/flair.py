"""torchvision family, `flair_resnet50`: FLAIR's image encoder (jusiro/FLAIR), a torchvision ResNet50
and its projection into the text space. Weights: `hub` (a repo holding model.safetensors), `local` or `random`.

FLAIR's reference code lives only on GitHub; what `flair/modeling/model.py` does, stage by stage:

1. `FLAIRModel.preprocess_image(image)` on the image as a numpy array (`np.array(Image.open(p))`,
   RGB): `np.float32`, divided by 255 when its max is > 0 (no mean/std), channels first,
   `torchvision.transforms.Resize((int(h / scale), int(w / scale)), antialias=True)` on the float
   tensor with `scale = max(h, w) / 512`, then `torch.nn.functional.pad` with zeros on the right and
   bottom to 512 x 512. medembed's FlairPreprocess does the same with the same torchvision calls;
   a gray image is made RGB first (FLAIR's ResNet takes three channels).
2. `VisionModel.forward`: `self.model(pixel_values)`, `torchvision.models.resnet50` with
   `fc = Identity()`: the 2048-d pooled feature (medembed's `pre_projection`).
3. `ProjectionLayer.forward` (projection=True, norm=True): `x / x.norm(dim=-1)`, the bias-free
   `Linear(2048, 512)`, then `/ norm` again (medembed's `default`, FLAIR's image embedding as its
   `forward` uses it for zero-shot logits).

The checkpoint (`jusiro2/FLAIR` on the hub, or the released flair_resnet.pth) names the image side
`vision_model.model.*` (ResNet50 without its classifier) and
`vision_model.projection_head_vision.projection.weight` (Linear 2048 -> 512, no bias).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.models import resnet50
from torchvision.transforms import functional as TF

from ...catalog import CatalogEntry
from ...weights.checkpoints import load_exact, read_state_dict, with_prefix
from ...weights.hub import checkpoint_file
from ..base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions

RESNET_FEATURES = 2048
CHECKPOINT_PREFIX = "vision_model."
FLAIR_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CODE_VERSION = 1
CODE_NAME = "medembed_encoder.families.flair"  # see interface.Family


class FlairOptions(CatalogOptions):
    """Catalog options of a `flair_resnet50` entry."""

    schema_name: ClassVar[str] = "torchvision/flair_resnet50"
    image_size: int = 512  # FLAIR's canvas side
    projection_dim: int = 512  # width of the projection into FLAIR's text space


OPTIONS = FlairOptions


class FlairImageEncoder(nn.Module):
    """FLAIR's `VisionModel` with its projection head: stages 2-3 of the module docstring."""

    def __init__(self, projection_dim: int) -> None:
        super().__init__()
        self.model = resnet50()
        self.model.fc = nn.Identity()
        self.projection_head_vision = nn.ModuleDict(
            {"projection": nn.Linear(RESNET_FEATURES, projection_dim, bias=False)})

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Stage 2: the ResNet50's pooled feature, [N, 3, H, W] -> [N, 2048]."""
        return self.model(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stage 3: normalise, project, normalise again, [N, 3, H, W] -> [N, projection_dim] of unit length."""
        projected = self.projection_head_vision["projection"](F.normalize(self.features(images), dim=-1))
        return F.normalize(projected, dim=-1)


class FlairPreprocess:
    """Stage 1, FLAIR's `preprocess_image`: PIL RGB image -> [3, size, size] in [0, 1], the longer side
    resized to `size`, zero-padded on the right and bottom."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        pixels = TF.to_tensor(image)  # uint8 RGB -> [0, 1], as FLAIR's division by 255
        height, width = pixels.shape[-2:]
        scale = max(height, width) / self.size
        # FLAIR's arithmetic, truncation included, so the padded canvas matches its own
        resized = TF.resize(pixels, [int(height / scale), int(width / scale)], antialias=True)
        return F.pad(resized, (0, self.size - resized.shape[-1], 0, self.size - resized.shape[-2]))

    def __repr__(self) -> str:
        return f"FlairPreprocess(size={self.size}, scale=1/255, resize=longer-side bilinear antialias, pad=zero)"


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """FlairPreprocess at `options.image_size`: [3, size, size] float tensors in [0, 1]."""
    size = FlairOptions.from_entry(entry).image_size
    return Preprocessing(FlairPreprocess(size), size)


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """FLAIR's image encoder on `device`: `default` is stage 3 ([N, projection_dim], L2-normalised),
    `pre_projection` stage 2 ([N, 2048]). Raises WeightsUnavailable when the checkpoint cannot be had,
    ModelLoadError when its `vision_model.*` tensors do not fit."""
    path = None if entry.weights.is_random else checkpoint_file(entry.weights, entry.id, FLAIR_WEIGHT_FILES)
    with building_on(entry, device):
        model = FlairImageEncoder(FlairOptions.from_entry(entry).projection_dim)
    if path is not None:
        load_exact(model, with_prefix(read_state_dict(path), CHECKPOINT_PREFIX), str(path))
    specs = {DEFAULT_SPEC: model.forward, PRE_PROJECTION_SPEC: model.features}
    return make_encoder(entry, model, preprocessing(entry), specs)
