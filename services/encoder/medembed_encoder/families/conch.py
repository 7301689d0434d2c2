"""CONCH-style CoCa image tower: a timm ViT trunk with attentional-pooler heads.

Parameter names follow the `visual.*` tensors of MahmoodLab's released CONCH checkpoint
(`conch_ViT-B-16`): `trunk.*` (timm VisionTransformer, classifier removed), `attn_pool_contrast.*`,
`ln_contrast.*`, `proj_contrast`, `attn_pool_caption.*`, `ln_caption.*`. The captioning pooler
feeds only the (unreleased) text decoder; it is kept so the released tower loads exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from open_clip.transformer import AttentionalPooler
from timm.models.vision_transformer import VisionTransformer
from torch import nn

# CONCH's CoCaVisionCfg defaults; its released config leaves these out.
_VISION_DEFAULTS = {"layers": 12, "width": 768, "num_heads": 12, "mlp_ratio": 4.0, "patch_size": 16,
                    "image_size": 224, "n_queries_contrast": 1, "n_queries_caption": 256, "attn_pooler_heads": 8}


class ConchVisual(nn.Module):
    def __init__(self, embed_dim: int, embed_dim_caption: int, vision_cfg: dict[str, Any]) -> None:
        super().__init__()
        cfg = {**_VISION_DEFAULTS, **vision_cfg}
        self.image_size = int(cfg["image_size"])
        self.trunk = VisionTransformer(img_size=self.image_size, patch_size=cfg["patch_size"],
                                       embed_dim=cfg["width"], depth=cfg["layers"], num_heads=cfg["num_heads"],
                                       mlp_ratio=cfg["mlp_ratio"], num_classes=0, dynamic_img_size=True)
        width = self.trunk.num_features
        heads = cfg["attn_pooler_heads"]
        self.attn_pool_contrast = AttentionalPooler(embed_dim, width, heads, cfg["n_queries_contrast"])
        self.ln_contrast = nn.LayerNorm(embed_dim)
        self.proj_contrast = nn.Parameter(width ** -0.5 * torch.randn(embed_dim, embed_dim))
        self.attn_pool_caption = AttentionalPooler(embed_dim_caption, width, heads, cfg["n_queries_caption"])
        self.ln_caption = nn.LayerNorm(embed_dim_caption)

    def forward_no_head(self, images: torch.Tensor) -> torch.Tensor:
        """CONCH's `encode_image(proj_contrast=False, normalize=False)`: its linear-probe embedding."""
        tokens = self.trunk.forward_features(images)
        return self.ln_contrast(self.attn_pool_contrast(tokens)[:, 0])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The contrastive (image-text) embedding, unnormalized."""
        return self.forward_no_head(images) @ self.proj_contrast
