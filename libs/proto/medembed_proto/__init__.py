"""medembed's wire contract in Python and what every side of it shares: the client, the encoder and
the evaluator import it; it imports none of them.

- `medembed_proto.v1`: the stubs generated from protos/medembed/v1/encoder.proto by `make proto`
  (committed; never edited by hand). The proto package on the wire stays `medembed.v1`.
- `codes`: the names of the per-item status codes (`decode_error`, `too_large`, ...).
- `provenance`: `Provenance`, what determines a vector, as a typed value; `volume_identity`, the
  identity of vectors made under volume options.
- `security`: how a client reaches an encoder (`ChannelSecurity`: TLS, mutual TLS, bearer token),
  its command-line flags and env vars, and the channels built from it.
- `health`: `check_health`, the gRPC health check (the CLI, the container HEALTHCHECK, the local
  encoder launcher).
- `redact`: secrets out of every message and log line; `shorten` bounds quoted user input.
- `helpformat`: the one `--help` style of the project's command lines.
"""

from .codes import ITEM_ERROR_NAMES, item_code, item_code_name
from .provenance import Provenance, volume_identity

__all__ = ["ITEM_ERROR_NAMES", "Provenance", "item_code", "item_code_name", "volume_identity"]
