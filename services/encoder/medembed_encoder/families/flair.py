"""FLAIR's image encoder (jusiro/FLAIR): a torchvision ResNet50 and its projection into the text space.

The checkpoint (`jusiro2/FLAIR` on the hub, or the released flair_resnet.pth) names the image side
`vision_model.model.*` (ResNet50 without its classifier) and
`vision_model.projection_head_vision.projection.weight` (Linear 2048 -> 512, no bias). FLAIR's
projection layer L2-normalizes its input and its output; `default` reproduces that, and
`pre_projection` is the raw ResNet feature (FLAIR's linear-probe setting).

Preprocessing is FLAIR's own `preprocess_image`: scale to [0, 1] (no mean/std), resize the longer
side to 512 keeping the aspect ratio, zero-pad right and bottom to 512 x 512.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.models import resnet50
from torchvision.transforms import functional as TF

RESNET_FEATURES = 2048
CHECKPOINT_PREFIX = "vision_model."


class FlairImageEncoder(nn.Module):
    def __init__(self, projection_dim: int) -> None:
        super().__init__()
        self.model = resnet50()
        self.model.fc = nn.Identity()
        self.projection_head_vision = nn.ModuleDict(
            {"projection": nn.Linear(RESNET_FEATURES, projection_dim, bias=False)})

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        projected = self.projection_head_vision["projection"](F.normalize(self.features(images), dim=-1))
        return F.normalize(projected, dim=-1)


class FlairPreprocess:
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
