"""CONCH v1.5's image tower (MahmoodLab/conchv1_5, TITAN's patch encoder): an iBOT-style ViT-L/16 trunk and
CONCH's attentional pooler, served in the open_clip image as CONCH v1 is.

Its code lives only on GitHub, in TRIDENT (mahmoodlab/TRIDENT
trident/patch_encoder_models/model_zoo/conchv1_5/conchv1_5.py, "modified based on" bytedance/ibot and
timm 0.9.2), and is written down here stage by stage with its names:

1. Preprocessing, `create_model_from_pretrained(img_size=448)`: `Resize(448, BILINEAR)`, `CenterCrop(448)`,
   `ToTensor()`, `Normalize(IMAGENET_MEAN, IMAGENET_STD)`. medembed: the same torchvision transforms.
2. Trunk, `CONCHVisionTower.trunk = vit_large(init_values=1.0)`: `VisionTransformer(patch_size=16,
   embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4, qkv_bias=True, init_values=1.0)` at its default
   `img_size=224`, LayerNorm eps 1e-6, GELU, class token, `global_pool='token'`: timm's ViT blocks
   (`norm1`, `attn.qkv`, `attn.proj`, `ls1.gamma`, `norm2`, `mlp.fc1`, `mlp.fc2`, `ls2.gamma`) and names.
   medembed: timm's `VisionTransformer` with those arguments (the same modules and tensor names).
3. Position embedding at load, `create_model_from_pretrained`: the checkpoint's `trunk.pos_embed` is
   resampled to the trunk's 14 x 14 grid by `resize_pos_embed`, i.e. timm's `resample_abs_pos_embed(...,
   num_prefix_tokens=1, interpolation='bilinear', antialias=False)` when its shape differs.
4. Position embedding at run time, `VisionTransformer.interpolate_pos_encoding` (iBOT/DINO): for an input
   of `w x h` pixels the 14 x 14 table is interpolated by `F.interpolate(mode='bicubic',
   scale_factor=(w0 / 14, h0 / 14))` with `w0 = w // 16 + 0.1` (DINO's offset against rounding), unless
   the grid already matches; `forward_features`: patch embedding, class token first, position added,
   blocks, final norm. medembed: `IbotPositionTrunk._pos_embed` does exactly that (timm's own resampling
   uses another formula).
5. Pooling, `AttentionalPooler(d_model=768, context_dim=1024, n_head=8, n_queries=1)`: `ln_k` on the
   tokens, `ln_q` on the learned `query`, `to_q`, `to_kv` (chunked in two), `to_out` (no biases),
   per-head scaled dot-product softmax (max-subtracted), output `[:, 0]`, then `ln_contrast`
   (LayerNorm 768). `CONCHVisionTower.forward` returns that: 768-d, no projection, not normalised.
   medembed: `ConchV15Pooler`, the same operations without einops.

`default` is `CONCHVisionTower.forward(x)`, the patch embedding TRIDENT (`conch_v15`) and TITAN feed
their slide encoders and the one the authors probe linearly. The checkpoint is
`pytorch_model_vision.bin` with `trunk.*`, `attn_pool_contrast.*` and `ln_contrast.*`, loaded strictly.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torchvision import transforms

from ...catalog import CatalogEntry
from ...weights.checkpoints import load_exact, read_state_dict
from ...weights.hub import checkpoint_file
from ..base import DEFAULT_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions, YamlTuple

CODE_VERSION = 1
CODE_NAME = "medembed_encoder.families.open_clip.conch_v1_5"  # see interface.Family
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TRIDENT's vit_large(init_values=1.0) at VisionTransformer's defaults
TRUNK = {"img_size": 224, "patch_size": 16, "embed_dim": 1024, "depth": 24, "num_heads": 16, "mlp_ratio": 4.0,
         "init_values": 1.0}
POOLER = {"d_model": 768, "n_head": 8, "n_queries": 1}


class ConchV15Options(CatalogOptions):
    """Catalog options of a `conch_v1_5` entry (see the module docstring)."""

    schema_name: ClassVar[str] = "open_clip/conch_v1_5"
    trunk: dict[str, Any] = Field(default_factory=lambda: dict(TRUNK))  # VisionTransformer arguments
    pooler: dict[str, Any] = Field(default_factory=lambda: dict(POOLER))  # AttentionalPooler arguments
    image_size: int = 448  # create_model_from_pretrained(img_size=448)
    mean: YamlTuple[float] = IMAGENET_MEAN
    std: YamlTuple[float] = IMAGENET_STD
    weights_files: YamlTuple[str] = ("pytorch_model_vision.bin",)


OPTIONS = ConchV15Options


class IbotPositionTrunk(VisionTransformer):
    """timm's VisionTransformer whose position embedding follows iBOT's `interpolate_pos_encoding` (stage 4)."""

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, H/16, W/16, D] patch embeddings (dynamic_img_size layout) -> [N, 1 + H W / 256, D] with the class
        token first and iBOT's interpolated position embedding added."""
        batch, rows, cols, dim = x.shape
        x = torch.cat([self.cls_token.expand(batch, -1, -1), x.reshape(batch, rows * cols, dim)], dim=1)
        return self.pos_drop(x + self._interpolated(rows, cols, dim))

    def _interpolated(self, rows: int, cols: int, dim: int) -> torch.Tensor:
        table = self.pos_embed.shape[1] - 1
        if rows * cols == table and rows == cols:
            return self.pos_embed
        side = math.sqrt(table)
        patches = self.pos_embed[:, 1:].reshape(1, int(side), int(side), dim).permute(0, 3, 1, 2)
        patches = F.interpolate(patches, scale_factor=((rows + 0.1) / side, (cols + 0.1) / side), mode="bicubic")
        patches = patches.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat([self.pos_embed[:, :1], patches], dim=1)


class ConchV15Pooler(nn.Module):
    """CONCH's AttentionalPooler as TRIDENT's conchv1_5.py writes it (stage 5), parameter names kept."""

    def __init__(self, d_model: int, context_dim: int, n_head: int, n_queries: int) -> None:
        super().__init__()
        head_dim = d_model // n_head
        self.heads, self.scale = n_head, head_dim ** -0.5
        self.query = nn.Parameter(torch.randn(n_queries, d_model))
        self.ln_k = nn.LayerNorm(context_dim)
        self.ln_q = nn.LayerNorm(d_model)
        self.to_q = nn.Linear(d_model, head_dim * n_head, bias=False)
        self.to_kv = nn.Linear(context_dim, head_dim * n_head * 2, bias=False)
        self.to_out = nn.Linear(head_dim * n_head, d_model, bias=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape  # 'b n (h d) -> b h n d'
        return x.reshape(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[N, L, context_dim] tokens -> [N, n_queries, d_model]."""
        keys_in = self.ln_k(tokens)
        queries = self.ln_q(self.query).unsqueeze(0).expand(tokens.shape[0], -1, -1)
        q = self._heads(self.to_q(queries)) * self.scale
        k, v = (self._heads(part) for part in self.to_kv(keys_in).chunk(2, dim=-1))
        similarity = q @ k.transpose(-2, -1)
        attention = (similarity - similarity.amax(dim=-1, keepdim=True).detach()).softmax(dim=-1)
        out = (attention @ v).transpose(1, 2)
        return self.to_out(out.reshape(out.shape[0], out.shape[1], -1))


class ConchV15Tower(nn.Module):
    """TRIDENT's CONCHVisionTower: trunk, attentional pooler, LayerNorm; [N, 3, 448, 448] -> [N, 768]."""

    def __init__(self, options: ConchV15Options) -> None:
        super().__init__()
        self.trunk = IbotPositionTrunk(**options.trunk, num_classes=0, dynamic_img_size=True)
        self.attn_pool_contrast = ConchV15Pooler(context_dim=self.trunk.embed_dim, **options.pooler)
        self.ln_contrast = nn.LayerNorm(options.pooler["d_model"])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stages 2-5: the pooled, LayerNorm-ed image embedding."""
        tokens = self.trunk.forward_features(images)
        return self.ln_contrast(self.attn_pool_contrast(tokens)[:, 0])


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """Stage 1: Resize(448, bilinear), CenterCrop(448), ToTensor, ImageNet Normalize -> [3, 448, 448]."""
    options = ConchV15Options.from_entry(entry)
    size = options.image_size
    transform = transforms.Compose([transforms.Resize(size, interpolation=transforms.InterpolationMode.BILINEAR),
                                    transforms.CenterCrop(size), transforms.ToTensor(),
                                    transforms.Normalize(options.mean, options.std)])
    return Preprocessing(transform, size)


def _load_weights(tower: ConchV15Tower, state: dict[str, torch.Tensor], origin: str) -> None:
    """Stage 3, then a strict load (every name and shape checked)."""
    position = state.get("trunk.pos_embed")
    if position is not None and position.shape != tower.trunk.pos_embed.shape:
        state = {**state, "trunk.pos_embed": resample_abs_pos_embed(
            position, new_size=tower.trunk.patch_embed.grid_size, num_prefix_tokens=1, interpolation="bilinear",
            antialias=False, verbose=False)}
    load_exact(tower, state, origin)


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The tower on `device`; `default` maps [N, 3, 448, 448] to [N, 768]. Raises WeightsUnavailable when the
    checkpoint cannot be had, ModelLoadError when its tensors do not fit."""
    options = ConchV15Options.from_entry(entry)
    path = None if entry.weights.is_random else checkpoint_file(entry.weights, entry.id, options.weights_files)
    with building_on(entry, device):
        tower = ConchV15Tower(options)
    if path is not None:
        _load_weights(tower, read_state_dict(path), str(path))
    return make_encoder(entry, tower, preprocessing(entry), {DEFAULT_SPEC: tower.forward})
