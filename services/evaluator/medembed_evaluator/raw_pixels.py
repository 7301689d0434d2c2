"""The raw-pixels baseline "model", computed by the evaluator itself.

bytes -> medembed_decode (the encoder's decode rules, so every format the encoder reads) -> gray
(Pillow's L, ITU-R 601-2 luma) -> 32x32 bilinear on [0, 1] floats -> 1024 float32 values. It
answers the question every probe table needs: how much of the score needs no learned features?
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
from PIL import Image

from medembed_decode import DEFAULT_LIMITS, DecodeLimits, rules_identity
from medembed_decode.volume import SliceOptions, decode_slices, volume_rules_identity
from medembed_evaluator.provenance import ModelProvenance

RAW_PIXELS_MODEL_ID = "raw-pixels"
SIDE = 32
DIM = SIDE * SIDE
RESIZE_RULES_VERSION = "2"
_PREPROCESS = (f"raw-pixels:{RESIZE_RULES_VERSION} medembed_decode; gray (PIL L) / 255; "
               f"resize {SIDE}x{SIDE} bilinear; float32")


def raw_pixels_provenance() -> ModelProvenance:
    """Like an encoder model's provenance; the digests change with the decode rules or libraries."""
    identity = f"{rules_identity()} {volume_rules_identity()}\n{_PREPROCESS}"
    return ModelProvenance(
        model_id=RAW_PIXELS_MODEL_ID,
        weights_digest="none",
        preprocess_digest=hashlib.sha256(identity.encode()).hexdigest(),
        embedding_spec="gray32",
        vector_identity="sha256:" + hashlib.sha256(f"{RAW_PIXELS_MODEL_ID}\n{identity}".encode()).hexdigest(),
        dtype="float32",
        computed_here=True,
    )


def raw_pixel_vector(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS,
                     volume: Mapping[str, str] | None = None) -> np.ndarray:
    """[1024] float32 in [0, 1]; raises medembed_decode.DecodeError for an item that does not decode.

    A volume item gives the slice its `volume` options choose (medembed_decode.volume.decode_slices,
    the encoder's rules; a rule must choose one slice), a 2-D item its one image."""
    options = volume or {}
    chosen = SliceOptions.parse(options.get("slices", ""), options.get("axis", ""), options.get("window", ""))
    (image,) = decode_slices(data, chosen, limits).images
    gray = np.asarray(image.image().convert("L"), dtype=np.float32) / 255.0
    resized = Image.fromarray(gray).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32).reshape(DIM), 0.0, 1.0)
