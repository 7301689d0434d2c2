"""Preprocessing with a model's own Hugging Face image processor, and LLaVA's steps around it.

The catalog records the processor config of the model's repo (its preprocessor_config.json) as
`image_processor: {type, config}`. The processor's PIL backend (`<type>Pil`) is used, as the models
were trained with it: transformers 5 picks its torchvision backend by default, which differs from
the PIL one by up to 0.015 per pixel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import transformers
from PIL import Image

from ...catalog import CatalogEntry
from ...load_errors import ModelLoadError
from ..base import Preprocessing
from .llava_anyres import AnyresImage


def pil_image_processor(spec: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Any:
    """The PIL backend of the transformers image processor `spec["type"]`, built from `spec["config"]`."""
    processor_class = getattr(transformers, f"{spec['type']}Pil", None)
    if processor_class is None:
        raise ModelLoadError(f"transformers {transformers.__version__} has no PIL image processor {spec['type']!r}")
    return processor_class(**{**dict(spec.get("config", {})), **dict(overrides or {})})


class HFImagePreprocess:
    """PIL image -> [3, H, W]: the processor's pixel_values for one image."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    @property
    def input_size(self) -> int:
        """The side of the square the processor gives: its crop when it crops, else its shortest edge."""
        crop, size = self.processor.crop_size, self.processor.size
        return int(crop["height"] if self.processor.do_center_crop else size["shortest_edge"])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.processor.to_json_string()})"


def expand2square(image: Image.Image, fill: int | tuple[int, ...]) -> Image.Image:
    """LLaVA's mm_utils.expand2square: the image on a square canvas of `fill`, centred along its short side.

    LLaVA-Med's copy draws the offset at random from {d // 2, d // 2 + 1} (d = long - short side);
    this takes d // 2, one of its two outcomes and the offset of LLaVA's and MedTrinity's copies.
    """
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new(image.mode, (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


class LlavaPadPreprocess(HFImagePreprocess):
    """`process_images` with image_aspect_ratio pad: expand2square, then the CLIP processor.

    The fill is the processor's mean colour, `tuple(int(x * 255) for x in image_mean)`; for a mode-L
    image LLaVA-Med pads in gray with `int(255 * mean(image_mean))` (114 for CLIP's mean) before its
    processor converts to RGB (`gray_fill_of_mean`); other upstreams get RGB images (convert first).
    """

    def __init__(self, processor: Any, gray_fill_of_mean: bool) -> None:
        super().__init__(processor)
        mean = processor.image_mean
        self.fill = tuple(int(value * 255) for value in mean)
        self.gray_fill = int(255 * sum(mean) / len(mean)) if gray_fill_of_mean else None

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if image.mode == "L" and self.gray_fill is None:
            raise ValueError("a gray image reached a LLaVA preprocessing that pads RGB images only")
        return super().__call__(expand2square(image, self.gray_fill if image.mode == "L" else self.fill))

    def __repr__(self) -> str:
        return f"LlavaPadPreprocess(fill={self.fill}, gray_fill={self.gray_fill}, {self.processor.to_json_string()})"


class AnyresPreprocess(HFImagePreprocess):
    """LlavaNextImageProcessor: PIL image (L or RGB; it converts) -> AnyresImage (base view + tiles)."""

    def __call__(self, image: Image.Image) -> AnyresImage:  # type: ignore[override]
        output = self.processor(images=image, return_tensors="pt")
        height, width = (int(v) for v in output["image_sizes"][0])
        return AnyresImage(output["pixel_values"][0], (height, width))


def hf_preprocessing(entry: CatalogEntry) -> Preprocessing:
    """options.image_processor as it is (CLIP-style towers: LLM2CLIP)."""
    spec = entry.options.get("image_processor")
    if not spec:
        raise ModelLoadError(f"model {entry.id!r}: options.image_processor (type, config) is required")
    transform = HFImagePreprocess(pil_image_processor(spec))
    return Preprocessing(transform, transform.input_size)
