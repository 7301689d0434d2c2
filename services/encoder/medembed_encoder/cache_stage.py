"""The pipeline's two cache stages: look up (before any work) and store (after compute)."""

from __future__ import annotations

import numpy as np

from medembed_proto.v1 import encoder_pb2 as pb

from .cache import CacheFront
from .items import ByDigest, Records
from .request import EmbedCall
from .slices import SliceVectors, stored_value


class CacheStage:
    """Reads and writes one request's vectors through the cache front (a no-op when it is disabled)."""

    def __init__(self, cache: CacheFront) -> None:
        self._cache = cache

    @property
    def enabled(self) -> bool:
        """False when caching is off (`--cache-url none`): lookups miss, stores are dropped."""
        return self._cache.enabled

    async def look_up(self, call: EmbedCall, records: Records) -> Records:
        """One MGET for the request's distinct unsettled digests (none with skip_cache); hits settle.
        A digest-only item that misses settles as not_cached: the client sends its bytes next."""
        hits: dict[str, np.ndarray] | dict[str, SliceVectors] = {}
        if not call.skip_cache:
            digests = list(dict.fromkeys(r.sha256 for r in records if not r.settled))
            hits = await self._cache.lookup(call.scope, digests, call.dim, volume=call.sliced)
        settled = []
        for record in records:
            if record.settled:
                settled.append(record)
            elif record.sha256 in hits:
                settled.append(record.succeeded(hits[record.sha256], cache_hit=True))
            elif record.digest_only:
                settled.append(record.failed(pb.ITEM_CODE_NOT_CACHED, "not in the cache; send the image bytes"))
            else:
                settled.append(record)
        return settled

    def store(self, call: EmbedCall, computed: ByDigest) -> None:
        """Fresh vectors to the cache, in the background (never delays the response)."""
        fresh = {digest: stored_value(r.vector) for digest, r in computed.items() if r.vector is not None}
        self._cache.store(call.scope, fresh)
