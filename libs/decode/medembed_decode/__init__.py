"""medembed's decode rules: image bytes to an 8-bit PIL image (mode L or RGB) as a viewer shows it.

One module set for the encoder and the evaluator's raw-pixels baseline, so the two never disagree.
"""

from .decoder import (
    DECODE_RULES_VERSION,
    DecodeError,
    DecodeErrorKind,
    DecodeLimits,
    decode_image,
    rules_identity,
    sniff_format,
)

__all__ = ["DECODE_RULES_VERSION", "DecodeError", "DecodeErrorKind", "DecodeLimits", "decode_image",
           "rules_identity", "sniff_format"]
