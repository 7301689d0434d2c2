"""Preprocessing with a model's own Hugging Face image processor.

The catalog records the processor config of the model's repo (its preprocessor_config.json) as
`options.image_processor: {type, config}`; the PIL backend of that processor is used, as the
models were trained with it. `options.image_aspect_ratio: pad` is LLaVA's padding of the image to a
square filled with the processor's mean colour before processing. Processors that tile an image
(LLaVA-NeXT's "anyres") return the whole-image view first; that view is the one embedded.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers
from PIL import Image

from ..catalog import CatalogEntry
from .base import ModelLoadError, Preprocessing


def expand_to_square(image: Image.Image, fill: tuple[int, ...]) -> Image.Image:
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new(image.mode, (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


class HFImagePreprocess:
    def __init__(self, processor_type: str, config: dict[str, Any], pad_to_square: bool) -> None:
        processor_class = getattr(transformers, f"{processor_type}Pil", None)
        if processor_class is None:
            raise ModelLoadError(f"transformers has no PIL image processor {processor_type!r}")
        self.processor = processor_class(**config)
        self.pad_to_square = pad_to_square
        self.fill = tuple(int(mean * 255) for mean in self.processor.image_mean)

    @property
    def input_size(self) -> int:
        crop = self.processor.crop_size
        return int(crop["height"] if self.processor.do_center_crop else self.processor.size["shortest_edge"])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if self.pad_to_square:
            image = expand_to_square(image, self.fill)
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"][0]
        return pixels[0] if pixels.ndim == 4 else pixels

    def __repr__(self) -> str:
        return f"HFImagePreprocess(pad_to_square={self.pad_to_square}, {self.processor.to_json_string()})"


def hf_preprocessing(entry: CatalogEntry) -> Preprocessing:
    spec = entry.options.get("image_processor")
    if not spec:
        raise ModelLoadError(f"model {entry.id!r}: options.image_processor (type, config) is required")
    transform = HFImagePreprocess(spec["type"], dict(spec.get("config", {})),
                                  pad_to_square=entry.options.get("image_aspect_ratio") == "pad")
    return Preprocessing(transform, transform.input_size)
