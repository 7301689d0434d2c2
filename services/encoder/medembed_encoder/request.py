"""The door: an EmbedRequest converted once into typed, immutable values, and the EmbedResponse
built back from them: the only two places the pipeline meets the wire message (as TEI's
`Batch.from_pb` does).

admission.admit checks a request, then makes it an `EmbedCall` (`EmbedCall.from_pb`); every stage
after reads only that. `to_response` turns the settled item records back into the wire answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from medembed_decode.volume import SliceOptions
from medembed_proto import Provenance, volume_identity
from medembed_proto.v1 import encoder_pb2 as pb

from . import __version__
from .cache import KeyScope
from .items import ItemInput, ItemRecord
from .runtime import ModelRuntime


def item_inputs(items: Sequence[pb.Item]) -> tuple[ItemInput, ...]:
    """The wire items as ItemInputs, in request order (each item's bytes are read once, here)."""
    return tuple(ItemInput(index, item.client_id, item.data, item.content_sha256.lower())
                 for index, item in enumerate(items))


@dataclass(frozen=True)
class EmbedCall:
    """An admitted Embed request, as every stage after the door reads it.

    `runtime` and `spec` (resolved: never empty): the model and vectors it asks for; `scope`: its
    cache-key scope, whose vector identity includes the volume options; `volume`: its volume options
    (default when the request sets none); `items`: its items in request order; `bulk`: sent with
    PRIORITY_BULK; `skip_cache`: the cache is not read (fresh vectors are still stored);
    `deadline`: event-loop time when the caller stops waiting (None: no deadline).
    """

    runtime: ModelRuntime
    spec: str
    scope: KeyScope
    volume: SliceOptions
    items: tuple[ItemInput, ...]
    request_id: str
    bulk: bool
    skip_cache: bool
    deadline: float | None

    @classmethod
    def from_pb(cls, request: pb.EmbedRequest, items: tuple[ItemInput, ...], runtime: ModelRuntime, spec: str,
                volume: SliceOptions, deadline: float | None) -> "EmbedCall":
        """The admitted request (`items`: item_inputs(request.items), read once by admission)."""
        identity = volume_identity(runtime.vector_identities[spec], volume.identity())
        return cls(runtime, spec, KeyScope(runtime.model_id, identity, spec), volume, items, request.request_id,
                   request.priority == pb.PRIORITY_BULK, request.skip_cache, deadline)

    @property
    def sliced(self) -> bool:
        """True when the request set volume options: results carry slice rows and indices."""
        return not self.volume.is_default()

    @property
    def dim(self) -> int:
        """Length of this spec's vectors."""
        return self.runtime.encoder.spec_dims[self.spec]

    @property
    def payload_bytes(self) -> int:
        """Bytes of encoded images the items carry, all together."""
        return sum(len(item.data) for item in self.items)


def to_response(call: EmbedCall, records: Sequence[ItemRecord]) -> pb.EmbedResponse:
    """The wire answer: results in request order with the provenance of every vector."""
    runtime, encoder = call.runtime, call.runtime.encoder
    response = pb.EmbedResponse(
        model=runtime.model_id, dim=call.dim, request_id=call.request_id,
        provenance=Provenance(
            model_id=runtime.model_id, weights_digest=encoder.weights_digest,
            preprocess_digest=encoder.preprocess_digest, embedding_spec=call.spec,
            dtype=runtime.dtype_name, server_version=__version__, random_weights=encoder.random_weights,
            vector_identity=call.scope.vector_identity, volume=call.volume.identity()).to_proto(),
    )
    for record in records:  # results.add: a third of the time of building each ItemResult apart
        record.add_to(response.results)
    return response
