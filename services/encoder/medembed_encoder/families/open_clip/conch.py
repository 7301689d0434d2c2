"""CONCH-style CoCa image tower: a timm ViT trunk with attentional-pooler heads.

CONCH's reference code lives only on GitHub (mahmoodlab/CONCH, not installable as a library of
record), so what it does is written down here stage by stage, with its file and function names:

1. Preprocessing, `conch/open_clip_custom/transform.py: image_transform(448, OPENAI mean/std)` as
   called by `factory.py: create_model_from_pretrained`: `Resize(448, BICUBIC)` (shorter side),
   `CenterCrop(448)`, `image.convert("RGB")`, `ToTensor()`, `Normalize(OPENAI_DATASET_MEAN/STD)`.
   medembed: open_clip's `image_transform_v2` with the same parameters (catalog `preprocess_cfg`);
   converting to RGB before the resize instead of after gives the same pixels (channel-wise ops).
2. Trunk, `coca_model.py: _build_vision_tower`: `timm.models.vision_transformer.VisionTransformer(
   embed_dim=768, depth=12, num_heads=12, mlp_ratio=4, img_size=448, patch_size=16, num_classes=0,
   dynamic_img_size=True)` with `forward = forward_features` (all tokens after the final norm).
   medembed: the same timm class, same arguments (`self.trunk`).
3. Contrastive pooling, `vision_tower.py: VisualModel.forward_no_head`: `attn_pool_contrast(tokens)[:, 0]`
   then `ln_contrast`; the pooler is `transformer.py: AttentionalPooler` (LayerNorm on keys and on the
   learned query, then `torch.nn.MultiheadAttention(d_model, heads, kdim=width, vdim=width)`).
   medembed: open_clip's `AttentionalPooler`, the same computation with `batch_first=True`.
4. Projection, `VisualModel.forward`: `pooled @ proj_contrast`.
5. `coca_model.py: CoCa.encode_image(images, normalize=True, proj_contrast=True)`: stage 4, then
   `F.normalize(dim=-1)` by default. With `proj_contrast=False, normalize=False` it returns stage 3,
   the embedding CONCH's README recommends for linear probes.

So medembed's `default` is CONCH's `encode_image(x)` with its defaults (projected, L2-normalised:
the upstream API's own image feature), and `pre_projection` is `encode_image(x, proj_contrast=False,
normalize=False)`. Parameter names follow the `visual.*` tensors of the released checkpoint
(`conch_ViT-B-16`): `trunk.*`, `attn_pool_contrast.*`, `ln_contrast.*`, `proj_contrast`,
`attn_pool_caption.*`, `ln_caption.*`. The captioning pooler feeds only the (unreleased) text
decoder; it is kept so the released tower loads exactly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from open_clip.transformer import AttentionalPooler
from timm.models.vision_transformer import VisionTransformer
from torch import nn

# CONCH's CoCaVisionCfg defaults; its released config leaves these out.
_VISION_DEFAULTS = {"layers": 12, "width": 768, "num_heads": 12, "mlp_ratio": 4.0, "patch_size": 16,
                    "image_size": 224, "n_queries_contrast": 1, "n_queries_caption": 256, "attn_pooler_heads": 8}


class ConchVisual(nn.Module):
    """CONCH's CoCa image tower (stages 2-5 of the module docstring), parameter names as in the released checkpoint."""

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
        """Stages 2-3: CONCH's `encode_image(proj_contrast=False, normalize=False)`, [N, embed_dim]."""
        tokens = self.trunk.forward_features(images)
        return self.ln_contrast(self.attn_pool_contrast(tokens)[:, 0])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stage 4: the contrastive embedding before normalisation, [N, embed_dim]."""
        return self.forward_no_head(images) @ self.proj_contrast

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Stage 5: CONCH's `encode_image(images)` with its defaults, L2-normalised, [N, embed_dim]."""
        return F.normalize(self.forward(images), dim=-1)
