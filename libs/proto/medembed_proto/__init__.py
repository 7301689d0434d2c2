"""medembed's wire contract in Python, shared by the client and the encoder.

- `medembed_proto.v1`: the stubs generated from protos/medembed/v1/encoder.proto by `make proto`
  (committed; never edited by hand). The proto package on the wire stays `medembed.v1`.
- `codes`: the names of the per-item status codes (`decode_error`, `too_large`, ...).
- `provenance`: `Provenance`, what determines a vector, as a typed value; `volume_identity`, the
  identity of vectors made under volume options.
"""

from .codes import ITEM_ERROR_NAMES, item_code, item_code_name
from .provenance import Provenance, volume_identity

__all__ = ["ITEM_ERROR_NAMES", "Provenance", "item_code", "item_code_name", "volume_identity"]
