"""open_clip models against open_clip itself: `create_model_and_transforms` (tag, hf-hub or file) and
`model.encode_image`, on checkpoints written where open_clip's own download code finds them.

Text towers are built tiny (medembed never builds them; the image side is the release config).
Transformer towers are built DEPTH_CAP blocks deep unless full depth is asked for; for a timm
trunk (EVA02, BiomedCLIP) the depth goes through timm's own hub config (`model_args`), so open_clip
and medembed both build the real timm architecture through their usual code path.
"""

from __future__ import annotations

import copy
from typing import Any

import open_clip
import timm
import torch
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer
from safetensors.torch import save_file

from .hubcache import offline_hub, plant, plant_json
from .registry import BuiltCase, CaseContext, Reference, catalog_entry, parity_case

TINY_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}
TIMM_DEPTHS = {"eva02_large_patch14_clip_336": 24, "vit_base_patch16_224": 12}  # timm's defaults
BIOMEDCLIP = "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
# open_clip_config.json of the BiomedCLIP hub repo (its text tower, PubMedBERT, is replaced by TINY_TEXT)
BIOMEDCLIP_CONFIG = {
    "model_cfg": {"embed_dim": 512, "vision_cfg": {"timm_model_name": "vit_base_patch16_224",
                                                   "timm_model_pretrained": False, "timm_pool": "",
                                                   "timm_proj": "linear", "image_size": 224}},
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
}


def _vision(ctx: CaseContext, vision: dict[str, Any]) -> tuple[dict[str, Any], str]:
    vision = copy.deepcopy(vision)
    name = vision.get("timm_model_name")
    if name is None:
        vision["layers"], note = ctx.depth(vision["layers"])
        return vision, note
    depth, note = ctx.depth(TIMM_DEPTHS[name])
    if note:  # timm's hub config: the same architecture, depth from model_args
        repo = f"medembed-parity/{name}-depth{depth}"
        plant_json(ctx.hub_cache, repo, "config.json", {
            "architecture": name, "model_args": {"depth": depth},
            "pretrained_cfg": timm.models.get_pretrained_cfg(name).to_dict()})
        vision["timm_model_name"] = f"hf-hub:{repo}"
    return vision, note


def _save(model: torch.nn.Module, path) -> None:
    state = {key: tensor.detach().clone().contiguous() for key, tensor in model.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)


def _references(model: torch.nn.Module, preprocess, loaded_by: str) -> dict[str, Reference]:
    model.eval()
    visual = model.visual

    def pixels(image):
        return preprocess(image).unsqueeze(0)

    references = {"default": Reference(f"open_clip {loaded_by}; model.encode_image(preprocess(image))",
                                       lambda image: model.encode_image(pixels(image))[0])}
    if isinstance(visual, VisionTransformer) and visual.proj is not None:
        def unprojected(image):
            projection, visual.proj = visual.proj, None  # open_clip's own forward, without `@ proj`
            try:
                return visual(pixels(image))[0]
            finally:
                visual.proj = projection
        references["pre_projection"] = Reference("open_clip model.visual(x) with visual.proj = None", unprojected)
    elif isinstance(visual, TimmModel):
        if dict(visual.head.named_children()):
            references["pre_projection"] = Reference("open_clip model.visual.trunk(x) (the timm trunk, before "
                                                     "the head)", lambda image: visual.trunk(pixels(image))[0])
        else:
            trunk = visual.trunk
            references["pre_projection"] = Reference(
                "timm trunk.forward_head(trunk.forward_features(x), pre_logits=True) of model.visual",
                lambda image: trunk.forward_head(trunk.forward_features(pixels(image)), pre_logits=True)[0])
    return references


def _tag_case(ctx: CaseContext, model_id: str, seed: int) -> BuiltCase:
    """A pretrained-tag entry: the checkpoint goes where the tag's hf_hub points, the entry stays as is."""
    entry = catalog_entry(model_id)
    architecture, tag = entry["architecture"], entry["weights"]["ref"]
    model_cfg = open_clip.get_model_config(architecture)
    vision, note = _vision(ctx, model_cfg["vision_cfg"])
    hf_hub = open_clip.get_pretrained_cfg(architecture, tag)["hf_hub"]
    repo_id, filename = hf_hub.rstrip("/"), "open_clip_model.safetensors"
    with offline_hub(ctx.hub_cache):
        torch.manual_seed(seed)
        _save(open_clip.create_model(architecture, vision_cfg=vision, text_cfg=TINY_TEXT),
              plant(ctx.hub_cache, repo_id, filename, entry["weights"].get("revision")))
        model, _, preprocess = open_clip.create_model_and_transforms(
            architecture, pretrained=tag, cache_dir=str(ctx.hub_cache), vision_cfg=vision, text_cfg=TINY_TEXT)
    entry["options"] = {**entry.get("options", {}), "model_cfg": {**model_cfg, "vision_cfg": vision}}
    return BuiltCase(entry, _references(model, preprocess, f"create_model_and_transforms({architecture!r}, "
                                                           f"pretrained={tag!r})"), note)


@parity_case("vit-b-16-random", "open_clip")
def vit_b_16_file(ctx: CaseContext) -> BuiltCase:
    entry = catalog_entry("vit-b-16-random")
    model_cfg = open_clip.get_model_config(entry["architecture"])
    vision, note = _vision(ctx, model_cfg["vision_cfg"])
    ctx.work.mkdir(parents=True, exist_ok=True)
    path = ctx.work / "open_clip_model.safetensors"
    torch.manual_seed(10)
    _save(open_clip.create_model(entry["architecture"], vision_cfg=vision, text_cfg=TINY_TEXT), path)
    model, _, preprocess = open_clip.create_model_and_transforms(entry["architecture"], pretrained=str(path),
                                                                 vision_cfg=vision, text_cfg=TINY_TEXT)
    entry["weights"] = {"kind": "local", "ref": str(path)}
    entry["options"] = {"model_cfg": {**model_cfg, "vision_cfg": vision}}
    return BuiltCase(entry, _references(model, preprocess, "create_model_and_transforms('ViT-B-16', pretrained=file)"),
                     note + "; served from a local file (the catalog entry is random-init)")


def _register_tags() -> None:
    for seed, model_id in enumerate(["clip-vit-b-16", "clip-vit-l-14", "clip-vit-g-14", "clip-vit-h-14",
                                     "clip-vit-bigg-14", "eva02-l-14-336"], start=11):
        parity_case(model_id, "open_clip")(lambda ctx, model_id=model_id, seed=seed: _tag_case(ctx, model_id, seed))


_register_tags()


@parity_case("biomedclip", "open_clip")
def biomedclip(ctx: CaseContext) -> BuiltCase:
    """The hub repo's own open_clip_config.json and open_clip_pytorch_model.bin, read by open_clip's hf-hub: path."""
    entry = catalog_entry("biomedclip")
    vision, note = _vision(ctx, BIOMEDCLIP_CONFIG["model_cfg"]["vision_cfg"])
    config = {"model_cfg": {**BIOMEDCLIP_CONFIG["model_cfg"], "vision_cfg": vision, "text_cfg": TINY_TEXT},
              "preprocess_cfg": BIOMEDCLIP_CONFIG["preprocess_cfg"]}
    with offline_hub(ctx.hub_cache):
        config_path = plant_json(ctx.hub_cache, BIOMEDCLIP, "open_clip_config.json", config)
        torch.manual_seed(20)
        source = open_clip.create_model(f"local-dir:{config_path.parent}", load_weights=False)
        _save(source, plant(ctx.hub_cache, BIOMEDCLIP, "open_clip_pytorch_model.bin"))
        model, _, preprocess = open_clip.create_model_and_transforms(f"hf-hub:{BIOMEDCLIP}")
    entry["options"]["model_cfg"]["vision_cfg"] = vision
    return BuiltCase(entry, _references(model, preprocess, f"create_model_and_transforms('hf-hub:{BIOMEDCLIP}')"),
                     note + "; text tower shrunk")
