"""LLaVA models against their upstreams: transformers' LlavaNextModel for LLaVA-1.6, and the stages of
LLaVA-Med's / MedTrinity's own code (helpers/llava_upstream.py, checked once against those repositories'
code). Each stands in a tiny checkpoint (2-layer, width-32 CLIP tower at the real 336 px / patch 14, the
real grid pinpoints and S² scales) written in the release layout its upstream reads."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image

from helpers.llava_upstream import tiny_checkpoint_like

from .registry import BuiltCase, CaseContext, Reference, catalog_entry, parity_case

REFERENCES = {  # upstream -> spec -> the reference, in the upstream's API words
    "llava_next_hf": {
        "default": "transformers LlavaNextModel.get_image_features(...).pooler_output[0].mean(0)",
        "base_view": "get_image_features(...).pooler_output[0][:576].mean(0) (the base view's tokens)",
        "pre_projection": "LlavaNextModel.vision_tower(base view).pooler_output",
        "layer:-2:patch_mean": "pack_image_features(hidden_states[-2][:, 1:], image_newline=None).mean(0)",
    },
    "llava_med": {
        "default": "LLaVA-Med encode_images(process_images(...)).mean(1): CLIPImageProcessor + CLIPVisionModel "
                   "hidden_states[-2][:, 1:] + mm_projector",
        "pre_projection": "CLIPVisionModel(process_images(...)).pooler_output",
        "layer:-2:patch_mean": "CLIPVisionTower.feature_select(...).mean(1)",
    },
    "medtrinity": {
        "default": "MedTrinity encode_images(process_images(...)).mean(1): CLIPVisionTowerS2 (s2wrapper.forward "
                   "at 336/672/1008) + mm_projector",
        "pre_projection": "CLIPVisionModel(bicubic 336 of the 1008 input).pooler_output",
        "layer:-2:patch_mean": "s2wrapper.forward(feature_select, ...).mean(1) (3 scales concatenated)",
    },
}


def _case(model_id: str) -> Callable[[CaseContext], BuiltCase]:
    def build(ctx: CaseContext) -> BuiltCase:
        entry = catalog_entry(model_id)
        upstream = entry["options"]["upstream"]
        s2 = bool(entry["options"]["config"].get("s2"))
        options, reference = tiny_checkpoint_like(upstream, s2, ctx.work)
        folder = "llava-next" if upstream == "llava_next_hf" else "llava"
        entry.update(weights={"kind": "local", "ref": str(ctx.work / folder)}, options=options)
        entry.pop("dim", None)  # the tiny checkpoint's language model is narrower than the release's
        # One upstream run per image gives every spec; the references read from it.
        by_image = cache(lambda key: reference(key.image))

        def spec_reference(spec: str) -> Reference:
            def embed(image: Image.Image) -> np.ndarray:
                return np.asarray(by_image(_Key(image))[spec])
            return Reference(REFERENCES[upstream][spec], embed)

        return BuiltCase(entry, {spec: spec_reference(spec) for spec in REFERENCES[upstream]},
                         f"tiny checkpoint (2-layer width-32 tower){', S2' if s2 else ''}")
    return build


class _Key:
    """A decoded image as a cache key (PIL images are not hashable by content)."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self._key = (image.mode, image.size, image.tobytes())

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self._key == other._key


for _model_id in ("llava-med-v1.5-mistral-7b", "llava-med-pp", "llava-v1.6-mistral-7b", "llava-v1.6-vicuna-13b"):
    parity_case(_model_id, "llava")(_case(_model_id))
