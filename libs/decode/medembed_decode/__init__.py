"""medembed's decode rules: image bytes to an 8-bit PIL image (mode L or RGB) as a viewer shows it.

One package for the encoder and the evaluator's raw-pixels baseline, so the two never disagree.
"""

from .decoder import DECODE_RULES_VERSION, decode, decode_image, rules_identity
from .limits import DEFAULT_LIMITS, DecodeError, DecodeErrorKind, DecodeLimits
from .pixels import Decoded
from .sniff import sniff_format

__all__ = ["DECODE_RULES_VERSION", "DEFAULT_LIMITS", "DecodeError", "DecodeErrorKind", "DecodeLimits", "Decoded",
           "decode", "decode_image", "rules_identity", "sniff_format"]
from .volume import PRESETS, DecodedSlices, SliceOptions, decode_slices, volume_kind  # noqa: E402, F401  (volumes)
