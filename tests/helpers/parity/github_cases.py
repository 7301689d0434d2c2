"""Models whose reference code lives only on GitHub (CONCH, CONCH v1.5, FLAIR, CXR-CLIP): each reference is the
upstream's stages, in the upstream's own order and calls, built from the library functions the
upstream itself calls (timm, torch.nn, torchvision, transformers). The family modules
(families/open_clip/conch.py, families/torchvision/flair.py, families/hf/cxr_clip.py) cite the
upstream files and functions stage by stage.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torchvision import transforms
from transformers import SwinConfig, SwinModel

from .hubcache import plant
from .registry import BuiltCase, CaseContext, Reference, catalog_entry, parity_case

OPENAI = {"mean": (0.48145466, 0.4578275, 0.40821073), "std": (0.26862954, 0.26130258, 0.27577711)}


class _ConchPooler(nn.Module):
    """The parameters of conch/open_clip_custom/transformer.py AttentionalPooler, by its names."""

    def __init__(self, d_model: int, context_dim: int, n_head: int, n_queries: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(n_queries, d_model))
        self.attn = nn.MultiheadAttention(d_model, n_head, kdim=context_dim, vdim=context_dim)
        self.ln_q = nn.LayerNorm(d_model)
        self.ln_k = nn.LayerNorm(context_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """AttentionalPooler.forward: sequence-first (LND) attention of the learned queries over the tokens."""
        x = self.ln_k(x).permute(1, 0, 2)
        q = self.ln_q(self.query)
        out = self.attn(q.unsqueeze(1).repeat(1, x.shape[1], 1), x, x, need_weights=False)[0]
        return out.permute(1, 0, 2)


@parity_case("conch", "open_clip")
def conch(ctx: CaseContext) -> BuiltCase:
    entry = catalog_entry("conch")
    vision = entry["options"]["model_cfg"]["vision_cfg"]
    depth, note = ctx.depth(12)  # CoCaVisionCfg.layers
    torch.manual_seed(60)
    visual = nn.Module()  # VisualModel's attribute names (conch/open_clip_custom/vision_tower.py)
    visual.trunk = VisionTransformer(embed_dim=768, depth=depth, num_heads=12, mlp_ratio=4.0, img_size=448,
                                     patch_size=16, num_classes=0, dynamic_img_size=True)  # coca_model.py
    visual.attn_pool_contrast = _ConchPooler(512, 768, 8, 1)
    visual.ln_contrast = nn.LayerNorm(512)
    visual.proj_contrast = nn.Parameter(768 ** -0.5 * torch.randn(512, 512))
    visual.attn_pool_caption = _ConchPooler(768, 768, 8, 256)
    visual.ln_caption = nn.LayerNorm(768)
    visual.eval()
    state = {f"visual.{key}": tensor for key, tensor in visual.state_dict().items()}
    state["logit_scale"] = torch.tensor(2.6592)  # the text side of the release is not read
    torch.save(state, plant(ctx.hub_cache, "MahmoodLab/conch", "pytorch_model.bin"))
    preprocess = transforms.Compose([  # transform.py image_transform(448, OPENAI mean/std)
        transforms.Resize(448, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(448),
        lambda image: image.convert("RGB"), transforms.ToTensor(), transforms.Normalize(**OPENAI)])

    def no_head(image: Image.Image) -> torch.Tensor:  # VisualModel.forward_no_head
        tokens = visual.trunk.forward_features(preprocess(image).unsqueeze(0))
        return visual.ln_contrast(visual.attn_pool_contrast(tokens)[:, 0])

    vision["layers"] = depth
    def encode_image(image: Image.Image) -> torch.Tensor:  # CoCa.encode_image(normalize=True, proj_contrast=True)
        return F.normalize(no_head(image) @ visual.proj_contrast, dim=-1)[0]

    return BuiltCase(entry, {
        "default": Reference("CONCH encode_image(x) stages: timm VisionTransformer.forward_features, "
                             "AttentionalPooler (torch MultiheadAttention, LND), ln_contrast, @ proj_contrast, "
                             "F.normalize", encode_image),
        "pre_projection": Reference("CONCH encode_image(x, proj_contrast=False, normalize=False) stages",
                                    lambda image: no_head(image)[0]),
    }, note)


def _flair_preprocess(image: Image.Image, size: int = 512) -> torch.Tensor:
    """flair/modeling/model.py FLAIRModel.preprocess_image, on np.array of the RGB image."""
    pixels = np.float32(np.array(image.convert("RGB")))
    if pixels.max() > 0:
        pixels /= 255
    tensor = torch.tensor(np.expand_dims(np.transpose(pixels, (2, 0, 1)), 0))
    scale = max(tensor.shape[-2:]) / size
    tensor = torchvision.transforms.Resize((int(tensor.shape[-2] / scale), int(tensor.shape[-1] / scale)),
                                           antialias=True)(tensor)
    return F.pad(tensor, (0, size - tensor.shape[-1], 0, size - tensor.shape[-2], 0, 0))


@parity_case("flair", "torchvision")
def flair(ctx: CaseContext) -> BuiltCase:
    entry = catalog_entry("flair")
    torch.manual_seed(61)
    resnet = torchvision.models.resnet50(weights=None)  # VisionModel, vision_type resnet_v1
    resnet.fc = nn.Identity()
    resnet.eval()
    projection = nn.Linear(2048, 512, bias=False)  # ProjectionLayer's layer, proj_bias False
    state = {f"vision_model.model.{key}": tensor for key, tensor in resnet.state_dict().items()}
    state["vision_model.projection_head_vision.projection.weight"] = projection.weight.detach().clone()
    state["logit_scale"] = torch.tensor(2.6592)
    save_file(state, str(plant(ctx.hub_cache, "jusiro2/FLAIR", "model.safetensors")))

    def features(image: Image.Image) -> torch.Tensor:
        return resnet(_flair_preprocess(image))

    def embedding(image: Image.Image) -> torch.Tensor:  # ProjectionLayer.forward, projection and norm
        x = features(image)
        x = projection(x / x.norm(dim=-1, keepdim=True))
        return (x / x.norm(dim=-1, keepdim=True))[0]

    return BuiltCase(entry, {
        "default": Reference("FLAIR VisionModel.forward stages: preprocess_image, torchvision resnet50 (fc=Identity), "
                             "ProjectionLayer (norm, Linear, norm)", embedding),
        "pre_projection": Reference("FLAIR preprocess_image + torchvision resnet50 (fc=Identity)",
                                    lambda image: features(image)[0]),
    })


# Swin tensor names of transformers 4.x, which CXR-CLIP's checkpoints were saved with
SWIN_NAMES_AT_SAVE_TIME = {
    "attention.q_proj": "attention.self.query", "attention.k_proj": "attention.self.key",
    "attention.v_proj": "attention.self.value", "attention.o_proj": "attention.output.dense",
    "attention.relative_position_bias.relative_position_bias_table": "attention.self.relative_position_bias_table",
    "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
}


def _saved_name(name: str) -> str:
    for current, saved in SWIN_NAMES_AT_SAVE_TIME.items():
        name = name.replace(current, saved)
    return name


@parity_case("cxr-clip-swint", "hf")
def cxr_clip(ctx: CaseContext) -> BuiltCase:
    entry = catalog_entry("cxr-clip-swint")
    swin_config = dict(entry["options"]["swin_config"])
    full = list(swin_config["depths"])
    swin_config["depths"] = [ctx.depth(blocks)[0] for blocks in full]
    note = "" if swin_config["depths"] == full else f"depths {swin_config['depths']} of {full}"
    torch.manual_seed(62)
    swin = SwinModel(SwinConfig(**swin_config)).eval()  # HuggingfaceImageEncoder, model_type swin
    projection = nn.Linear(swin.config.hidden_size, 512)  # LinearProjectionHead
    model_state = {f"image_encoder.image_encoder.{_saved_name(key)}": tensor
                   for key, tensor in swin.state_dict().items()}
    model_state |= {f"image_projection.projection.{key}": tensor for key, tensor in projection.state_dict().items()}
    model_state["text_projection.projection.weight"] = torch.randn(512, 768)
    ctx.work.mkdir(parents=True, exist_ok=True)
    path = ctx.work / "swint_mcc.tar"
    torch.save({"model": model_state, "config": {"model": {"name": "clip_custom"}}, "epoch": 1}, path)
    preprocess = transforms.Compose([  # data_utils.load_transform("test") + transform_image("huggingface")
        transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(mean=[0.5] * 3, std=[0.5] * 3)])

    def global_feature(image: Image.Image) -> torch.Tensor:  # CXRClip.encode_image
        return swin(pixel_values=preprocess(image.convert("RGB")).unsqueeze(0))["last_hidden_state"][:, 0]

    def evaluator_embedding(image: Image.Image) -> torch.Tensor:  # Evaluator.encode_image
        embedding = projection(global_feature(image))
        return (embedding / torch.norm(embedding, dim=1, keepdim=True))[0]

    entry["weights"] = {"kind": "local", "ref": str(path)}
    entry["options"]["swin_config"] = swin_config
    return BuiltCase(entry, {
        "default": Reference("CXR-CLIP Evaluator.encode_image stages: torchvision transforms, transformers SwinModel "
                             "last_hidden_state[:, 0], LinearProjectionHead, / norm", evaluator_embedding),
        "pre_projection": Reference("CXR-CLIP CXRClip.encode_image stages (SwinModel last_hidden_state[:, 0])",
                                    lambda image: global_feature(image)[0]),
    }, note)


IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def _ibot_interpolate_pos_encoding(pos_embed: torch.Tensor, npatch: int, w: int, h: int, patch: int) -> torch.Tensor:
    """TRIDENT conchv1_5.py VisionTransformer.interpolate_pos_encoding (iBOT/DINO), as written there."""
    n = pos_embed.shape[1] - 1
    if npatch == n and w == h:
        return pos_embed
    class_pos_embed, patch_pos_embed = pos_embed[:, 0], pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    w0, h0 = w // patch + 0.1, h // patch + 0.1
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, int(math.sqrt(n)), int(math.sqrt(n)), dim).permute(0, 3, 1, 2),
        scale_factor=(w0 / math.sqrt(n), h0 / math.sqrt(n)), mode="bicubic")
    assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


class _ConchV15Pooler(nn.Module):
    """conchv1_5.py AttentionalPooler: its parameters by name and its forward with the einops steps spelled in torch
    (rearrange 'b n d -> b 1 n d', repeat, rearrange_many 'b t n (h d) -> b h t n d', einsum)."""

    def __init__(self, d_model: int, context_dim: int, n_head: int, n_queries: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(n_queries, d_model))
        dim_head = d_model // n_head
        self.scale, self.heads = dim_head ** -0.5, n_head
        self.ln_k = nn.LayerNorm(context_dim)
        self.ln_q = nn.LayerNorm(d_model)
        self.to_q = nn.Linear(d_model, dim_head * n_head, bias=False)
        self.to_kv = nn.Linear(context_dim, dim_head * n_head * 2, bias=False)
        self.to_out = nn.Linear(dim_head * n_head, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)  # b n d -> b 1 n d
        q = self.query.expand(x.shape[0], x.shape[1], -1, -1)  # n d -> b m n d
        x, q = self.ln_k(x), self.ln_q(q)
        q = self.to_q(q)
        k, v = self.to_kv(x).chunk(2, dim=-1)

        def split(t):  # b t n (h d) -> b h t n d
            b, t_, n, hd = t.shape
            return t.reshape(b, t_, n, self.heads, hd // self.heads).permute(0, 3, 1, 2, 4)

        q, k, v = split(q) * self.scale, split(k), split(v)
        sim = torch.einsum("...id,...jd->...ij", q, k)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        out = torch.einsum("...ij,...jd->...id", sim.softmax(dim=-1), v)
        b, h, t, n, d = out.shape
        out = out.permute(0, 2, 3, 1, 4).reshape(b, t, n, h * d)  # b h t n d -> b t n (h d)
        return self.to_out(out).squeeze(dim=1)


@parity_case("conch-v1.5", "open_clip")
def conch_v1_5(ctx: CaseContext) -> BuiltCase:
    """TRIDENT conchv1_5.py: CONCHVisionTower (vit_large(init_values=1.0) trunk, AttentionalPooler, ln_contrast),
    create_model_from_pretrained's pos_embed resampling (the checkpoint here holds a 32 x 32 table) and strict
    load of pytorch_model_vision.bin, its eval transform, and forward: forward_features with iBOT's position
    interpolation, pooler [:, 0], ln_contrast."""
    entry = catalog_entry("conch-v1.5")
    depth, note = ctx.depth(24)
    trunk_args = {"patch_size": 16, "embed_dim": 1024, "depth": depth, "num_heads": 16, "mlp_ratio": 4.0,
                  "qkv_bias": True, "init_values": 1.0, "num_classes": 0}
    torch.manual_seed(62)
    source = nn.Module()
    source.trunk = VisionTransformer(img_size=512, **trunk_args)  # a 32 x 32 position table in the checkpoint
    source.attn_pool_contrast = _ConchV15Pooler(768, 1024, 8, 1)
    source.ln_contrast = nn.LayerNorm(768)
    path = plant(ctx.hub_cache, "MahmoodLab/conchv1_5", "pytorch_model_vision.bin")
    torch.save(source.state_dict(), path)

    tower = nn.Module()  # CONCHVisionTower: the trunk at its default img_size=224
    tower.trunk = VisionTransformer(img_size=224, **trunk_args)
    tower.attn_pool_contrast = _ConchV15Pooler(768, 1024, 8, 1)
    tower.ln_contrast = nn.LayerNorm(768)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["trunk.pos_embed"] = resample_abs_pos_embed(state["trunk.pos_embed"], new_size=(14, 14),
                                                      num_prefix_tokens=1, interpolation="bilinear",
                                                      antialias=False, verbose=False)
    tower.load_state_dict(state, strict=True)
    tower.eval()
    preprocess = transforms.Compose([transforms.Resize(448, interpolation=transforms.InterpolationMode.BILINEAR),
                                     transforms.CenterCrop(448), transforms.ToTensor(),
                                     transforms.Normalize(**IMAGENET)])

    def forward(image: Image.Image) -> torch.Tensor:
        x = preprocess(image.convert("RGB")).unsqueeze(0)
        trunk = tower.trunk
        _, _, w, h = x.shape
        tokens = trunk.patch_embed.proj(x).flatten(2).transpose(1, 2)  # PatchEmbed: NCHW -> NLC
        tokens = torch.cat((trunk.cls_token.expand(1, -1, -1), tokens), dim=1)
        tokens = tokens + _ibot_interpolate_pos_encoding(trunk.pos_embed, tokens.shape[1] - 1, w, h, 16)
        tokens = trunk.norm(trunk.blocks(tokens))
        return tower.ln_contrast(tower.attn_pool_contrast(tokens)[:, 0])[0]

    entry["options"]["trunk"] = {**entry["options"]["trunk"], "depth": depth}
    return BuiltCase(entry, {"default": Reference(
        "TRIDENT conchv1_5 CONCHVisionTower.forward stages: timm VisionTransformer blocks, iBOT "
        "interpolate_pos_encoding, AttentionalPooler (einops steps in torch), ln_contrast; resample_abs_pos_embed "
        "at load", forward)}, note)
