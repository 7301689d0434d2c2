"""Every catalog id builds its real architecture and preprocesses images the way its model does.

Architectures are built with random weights on the meta device (shapes only, no memory), so even
ViT-bigG is checked: parameter count within 1 % of the published count, and the output dim of
every embedding spec (torch runs forward passes on meta tensors, shapes only).
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from PIL import Image

from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import family_for

from .support import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    META,
    OPENAI_MEAN,
    OPENAI_STD,
    as_random,
    load,
    noise_image,
)

CATALOG = load_catalog()


def _torchvision_params(architecture: str) -> int:
    """torchvision's published count (weights meta) less the 1000-class Linear the embedding drops."""
    head_inputs = {"vgg16": 4096, "resnet50": 2048, "vit_l_16": 1024, "vit_b_16": 768}[architecture]
    meta = torchvision.models.get_model_weights(architecture)["IMAGENET1K_V1"].meta
    return meta["num_params"] - (head_inputs * 1000 + 1000)


def _llava_params(text_hidden_size: int, projector_in: int = 1024, newline: bool = False) -> int:
    """The CLIP ViT-L/14-336 image tower less CLIP's own 1024x768 projection, plus LLaVA's mlp2x projector
    (input 1024, or 3 x 1024 for S2's three scales) and LLaVA-NeXT's image_newline vector."""
    projector = (projector_in + 1) * text_hidden_size + (text_hidden_size + 1) * text_hidden_size
    return CLIP_L_336 - 1024 * 768 + projector + (text_hidden_size if newline else 0)


# Published image-encoder sizes: open_clip's docs/model_profile.csv (image_mparams), model papers and
# cards, torchvision weight metadata. Where an encoder is a published backbone plus a head, the
# head's size follows from the published widths.
CLIP_L_336 = 304_290_000  # open_clip ViT-L-14-336 (the OpenAI tower LLaVA uses)
VIT_GIANT_DINOV2 = 1_136_480_000  # timm's results table, vit_giant_patch14_dinov2.lvd142m (at 518 px)
SO400M = 428_230_000  # open_clip ViT-SO400M-14-SigLIP-384 image tower (docs/model_profile.csv)
PUBLISHED_PARAMS = {
    "vit-b-16-random": 86_190_000,  # open_clip ViT-B-16
    "efficientnet-lite0-imagenet": 4_652_008 - (1280 * 1000 + 1000),  # EfficientNet-Lite0 less classifier
    "efficientnet-lite0-random": 4_652_008 - (1280 * 1000 + 1000),
    "biomedclip": 86_190_000,  # ViT-B/16 + 768x512 projection, as open_clip ViT-B-16
    "clip-vit-b-16": 86_190_000,
    "clip-vit-l-14": 303_970_000,
    "clip-vit-g-14": 1_012_650_000,
    "clip-vit-h-14": 632_080_000,
    "clip-vit-bigg-14": 1_844_910_000,
    "eva02-l-14-336": 304_430_000,
    "conch": 90_000_000,  # CONCH paper: ViT-B/16 image encoder, ~90M parameters
    "uni": _torchvision_params("vit_l_16"),  # ViT-L/16 (UNI adds only LayerScale)
    "llava-med-v1.5-mistral-7b": _llava_params(4096),  # Mistral-7B width
    "llava-med-pp": _llava_params(4096, projector_in=3072),  # Llama-3-8B width, S2 (MedTrinity-25M)
    "llava-v1.6-mistral-7b": _llava_params(4096, newline=True),
    "llava-v1.6-vicuna-13b": _llava_params(5120, newline=True),  # Vicuna-13B width
    "llm2clip-openai-l-14-336": CLIP_L_336 - 1024 * 768 + 1024 * 1280,  # its projection is 1024x1280
    "cxr-clip-swint": 28_288_354 - (768 * 1000 + 1000) + (768 * 512 + 512),  # Swin-T less head, plus projection
    "flair": 25_557_032 - (2048 * 1000 + 1000) + 2048 * 512,  # ResNet50 less fc, plus 2048x512 projection
    "vgg16": _torchvision_params("vgg16"),
    "resnet50": _torchvision_params("resnet50"),
    "vit-l-16": _torchvision_params("vit_l_16"),
    "uni2-h": 681_000_000,  # MahmoodLab/UNI2-h card: ViT-H/14-reg8, 681M parameters
    "virchow2": 632_000_000,  # Virchow2 paper (arXiv 2408.00738): ViT-H/14, 632M
    "virchow": 632_000_000,  # Virchow paper: ViT-H/14, 632M
    "h-optimus-0": VIT_GIANT_DINOV2,  # ViT-g/14 with 4 registers (card: 1.1B)
    "h-optimus-1": VIT_GIANT_DINOV2,
    "prov-gigapath": VIT_GIANT_DINOV2,  # ViT-g at patch 16 (paper: 1.13B)
    "phikon": _torchvision_params("vit_b_16"),  # ViT-B/16
    "phikon-v2": _torchvision_params("vit_l_16"),  # ViT-L/16
    "rad-dino": _torchvision_params("vit_b_16"),  # ViT-B/14 (86.6M: the 518 px position table)
    "dinov2-vit-l-14": _torchvision_params("vit_l_16"),  # ViT-L/14 (DINOv2 README: 300M)
    "dinov2-vit-b-14": _torchvision_params("vit_b_16"),  # ViT-B/14 (DINOv2 README: 86M)
    "medsiglip-448": SO400M,  # MedSigLIP: the SigLIP-400M tower (448 px position table)
    "siglip2-so400m-14-384": SO400M,
    "hibou-l": _torchvision_params("vit_l_16"),  # ViT-L (SwiGLU at mlp_ratio 4 has 2/3 the MLP width: same size)
    # a ViT-L/16 at 224 plus CONCH's pooler (query 768, to_q 768x768, to_kv 1024x1536, to_out 768x768, 3 LayerNorms)
    "conch-v1.5": _torchvision_params("vit_l_16") + 768 + 768 * 768 + 1024 * 1536 + 768 * 768 + 2 * (1024 + 768 + 768),
}

LLAVA_SPECS = {"default": 4096, "pre_projection": 1024, "layer:-2:patch_mean": 1024}
LLAVA_NEXT_SPECS = {**LLAVA_SPECS, "base_view": 4096}
SPEC_DIMS = {
    "vit-b-16-random": {"default": 512, "pre_projection": 768},
    "efficientnet-lite0-imagenet": {"default": 1280},
    "efficientnet-lite0-random": {"default": 1280},
    "biomedclip": {"default": 512, "pre_projection": 768},
    "clip-vit-b-16": {"default": 512, "pre_projection": 768},
    "clip-vit-l-14": {"default": 768, "pre_projection": 1024},
    "clip-vit-g-14": {"default": 1024, "pre_projection": 1408},
    "clip-vit-h-14": {"default": 1024, "pre_projection": 1280},
    "clip-vit-bigg-14": {"default": 1280, "pre_projection": 1664},
    "eva02-l-14-336": {"default": 768, "pre_projection": 1024},
    "conch": {"default": 512, "pre_projection": 512},
    "uni": {"default": 1024},
    "llava-med-v1.5-mistral-7b": LLAVA_SPECS,
    "llava-med-pp": {**LLAVA_SPECS, "layer:-2:patch_mean": 3072},  # the three S2 scales concatenated
    "llava-v1.6-mistral-7b": LLAVA_NEXT_SPECS,
    "llava-v1.6-vicuna-13b": {**LLAVA_NEXT_SPECS, "default": 5120, "base_view": 5120},
    "llm2clip-openai-l-14-336": {"default": 1280, "pre_projection": 1024},
    "cxr-clip-swint": {"default": 512, "pre_projection": 768},
    "flair": {"default": 512, "pre_projection": 2048},
    "vgg16": {"default": 4096},
    "resnet50": {"default": 2048},
    "vit-l-16": {"default": 1024},
    "uni2-h": {"default": 1536},
    "virchow2": {"default": 2560, "cls": 1280},
    "virchow": {"default": 2560, "cls": 1280},
    "h-optimus-0": {"default": 1536},
    "h-optimus-1": {"default": 1536},
    "prov-gigapath": {"default": 1536},
    "phikon": {"default": 768},
    "phikon-v2": {"default": 1024},
    "rad-dino": {"default": 768},
    "dinov2-vit-l-14": {"default": 2048, "cls": 1024},
    "dinov2-vit-b-14": {"default": 1536, "cls": 768},
    "medsiglip-448": {"default": 1152},
    "siglip2-so400m-14-384": {"default": 1152},
    "hibou-l": {"default": 1024},
    "conch-v1.5": {"default": 768},
}

NO_NORMALIZATION = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3  # EfficientNet-Lite's (x - 127) / 128
HOPTIMUS_MEAN, HOPTIMUS_STD = (0.707223, 0.578729, 0.703617), (0.211883, 0.230117, 0.177517)  # bioptimus cards
# (input size, mean, std) of each model's own preprocessing
OFFICIAL_PREPROCESSING = {
    "vit-b-16-random": (224, OPENAI_MEAN, OPENAI_STD),
    "efficientnet-lite0-imagenet": (224, LITE_MEAN, LITE_STD),
    "efficientnet-lite0-random": (224, LITE_MEAN, LITE_STD),
    "biomedclip": (224, OPENAI_MEAN, OPENAI_STD),
    "clip-vit-b-16": (224, OPENAI_MEAN, OPENAI_STD),
    "clip-vit-l-14": (224, INCEPTION_MEAN, INCEPTION_STD),  # open_clip's laion2b_s32b_b82k config
    "clip-vit-g-14": (224, OPENAI_MEAN, OPENAI_STD),
    "clip-vit-h-14": (224, OPENAI_MEAN, OPENAI_STD),
    "clip-vit-bigg-14": (224, OPENAI_MEAN, OPENAI_STD),
    "eva02-l-14-336": (336, OPENAI_MEAN, OPENAI_STD),
    "conch": (448, OPENAI_MEAN, OPENAI_STD),
    "uni": (224, IMAGENET_MEAN, IMAGENET_STD),
    "llava-med-v1.5-mistral-7b": (336, OPENAI_MEAN, OPENAI_STD),
    "llava-med-pp": (1008, OPENAI_MEAN, OPENAI_STD),  # S2: the CLIP processor at the largest scale
    "llava-v1.6-mistral-7b": (336, OPENAI_MEAN, OPENAI_STD),
    "llava-v1.6-vicuna-13b": (336, OPENAI_MEAN, OPENAI_STD),
    "llm2clip-openai-l-14-336": (336, OPENAI_MEAN, OPENAI_STD),
    "cxr-clip-swint": (224, INCEPTION_MEAN, INCEPTION_STD),  # CXR-CLIP's "huggingface" normalization
    "flair": (512, *NO_NORMALIZATION),
    "vgg16": (224, IMAGENET_MEAN, IMAGENET_STD),
    "resnet50": (224, IMAGENET_MEAN, IMAGENET_STD),
    "vit-l-16": (224, IMAGENET_MEAN, IMAGENET_STD),
    "uni2-h": (224, IMAGENET_MEAN, IMAGENET_STD),
    "virchow2": (224, IMAGENET_MEAN, IMAGENET_STD),
    "virchow": (224, IMAGENET_MEAN, IMAGENET_STD),
    "h-optimus-0": (224, HOPTIMUS_MEAN, HOPTIMUS_STD),
    "h-optimus-1": (224, HOPTIMUS_MEAN, HOPTIMUS_STD),
    "prov-gigapath": (224, IMAGENET_MEAN, IMAGENET_STD),
    "phikon": (224, IMAGENET_MEAN, IMAGENET_STD),
    "phikon-v2": (224, IMAGENET_MEAN, IMAGENET_STD),
    "rad-dino": (518, (0.5307,) * 3, (0.2583,) * 3),  # microsoft/rad-dino preprocessor_config.json
    "dinov2-vit-l-14": (224, IMAGENET_MEAN, IMAGENET_STD),
    "dinov2-vit-b-14": (224, IMAGENET_MEAN, IMAGENET_STD),
    "medsiglip-448": (448, INCEPTION_MEAN, INCEPTION_STD),  # SigLIP's (x - 0.5) / 0.5
    "siglip2-so400m-14-384": (384, INCEPTION_MEAN, INCEPTION_STD),
    "hibou-l": (224, (0.7068, 0.5755, 0.722), (0.195, 0.2316, 0.1816)),  # TRIDENT HIBOU_MEAN / HIBOU_STD
    "conch-v1.5": (448, IMAGENET_MEAN, IMAGENET_STD),  # TRIDENT conchv1_5 create_model_from_pretrained
}


def test_the_tables_cover_the_whole_catalog():
    for name, table in (("PUBLISHED_PARAMS", PUBLISHED_PARAMS), ("SPEC_DIMS", SPEC_DIMS),
                        ("OFFICIAL_PREPROCESSING", OFFICIAL_PREPROCESSING)):
        missing, stale = sorted(set(CATALOG) - set(table)), sorted(set(table) - set(CATALOG))
        assert not missing, (f"catalog entries {missing} have no row in {name} of {__file__}: add the published "
                             "parameter count, every spec's dim and the model's own (input size, mean, std)")
        assert not stale, f"{name} of {__file__} has rows for ids not in the catalog: {stale}"


@pytest.mark.parametrize("model_id", sorted(CATALOG))
def test_architecture_has_the_published_size_and_every_spec_dim(model_id):
    entry = CATALOG[model_id]
    encoder = load(as_random(entry), META)
    parameters = sum(parameter.numel() for parameter in encoder.module.parameters())
    assert parameters == pytest.approx(PUBLISHED_PARAMS[model_id], rel=0.01)
    assert encoder.spec_dims == SPEC_DIMS[model_id]
    assert encoder.spec_dims[entry.default_spec] == entry.dim
    assert encoder.input_size == OFFICIAL_PREPROCESSING[model_id][0]


def _base_view(pixels) -> torch.Tensor:
    """LLaVA-1.6 items are AnyresImage (base view, then tiles); other models give the [3, H, W] tensor itself."""
    return pixels.pixel_values[0] if hasattr(pixels, "pixel_values") else pixels


@pytest.mark.parametrize("model_id", sorted(CATALOG))
def test_preprocessing_is_the_models_own(model_id):
    entry = CATALOG[model_id]
    preprocessing = family_for(entry).preprocessing(entry)
    size, mean, std = OFFICIAL_PREPROCESSING[model_id]
    assert preprocessing.input_size == size
    assert _base_view(preprocessing.transform(noise_image(500, 300))).shape == (3, size, size)
    colour = (200, 100, 50)
    centre = _base_view(preprocessing.transform(Image.new("RGB", (400, 400), colour)))[:, size // 2, size // 2]
    expected = (torch.tensor(colour) / 255 - torch.tensor(mean)) / torch.tensor(std)
    torch.testing.assert_close(centre, expected.float(), atol=0.02, rtol=0)


def _top_left(model_id: str, image: Image.Image) -> torch.Tensor:
    entry = CATALOG[model_id]
    return _base_view(family_for(entry).preprocessing(entry).transform(image))[:, 0, 0]


def test_llava_med_pads_to_a_mean_coloured_square_and_llava_next_base_view_is_the_whole_image():
    wide_red = Image.new("RGB", (600, 300), (255, 0, 0))
    red = (torch.tensor([1.0, 0.0, 0.0]) - torch.tensor(OPENAI_MEAN)) / torch.tensor(OPENAI_STD)
    padding = _top_left("llava-med-v1.5-mistral-7b", wide_red)
    assert padding.abs().max() < 0.02  # the mean colour normalizes to ~0
    torch.testing.assert_close(_top_left("llava-v1.6-mistral-7b", wide_red), red.float(), atol=0.02, rtol=0)


def test_flair_keeps_the_aspect_ratio_on_a_zero_padded_canvas():
    entry = CATALOG["flair"]
    pixels = family_for(entry).preprocessing(entry).transform(Image.new("RGB", (1000, 500), (255, 255, 255)))
    torch.testing.assert_close(pixels[:, :256], torch.ones(3, 256, 512))  # 1000x500 -> 512x256, no mean/std
    assert torch.all(pixels[:, 256:] == 0.0)
