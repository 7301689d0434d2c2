"""The single-flight stage over item records: each distinct digest in flight, in this request or a
concurrent one, is computed by one request (its leader) and adopted by the others (its followers).

`ItemFlights` pairs records with cache.SingleFlight's flights (keyed by the request's cache key);
`settle` hands outcomes to the records waiting for them.
"""

from __future__ import annotations

import asyncio

from .cache import FlightAbandoned, FlightOutcome, KeyScope, SingleFlight
from .items import ByDigest, Records

Following = dict[str, "asyncio.Future[FlightOutcome]"]  # digest -> the flight another request leads


class ItemFlights:
    """The flights of one server (one event loop), by cache key."""

    def __init__(self) -> None:
        self._flights = SingleFlight()

    def join(self, scope: KeyScope, pending: ByDigest) -> tuple[ByDigest, Following]:
        """The pending records this request leads (computes), and the flights it follows for the others."""
        leading: ByDigest = {}
        following: Following = {}
        for digest, record in pending.items():
            flight = self._flights.join(scope.key(digest))
            if flight is None:
                leading[digest] = record
            else:
                following[digest] = flight
        return leading, following

    def land(self, scope: KeyScope, leading: ByDigest, computed: ByDigest) -> None:
        """Publish each led digest's outcome to its followers: the computed record's shareable outcome,
        or nothing (FlightAbandoned: they compute it themselves) when it has none or was not computed."""
        for digest in leading:
            outcome = computed.get(digest)
            self._flights.land(scope.key(digest), outcome.shareable() if outcome else None)

    @staticmethod
    async def follow(following: Following) -> dict[str, FlightOutcome]:
        """The outcomes of the followed flights, by digest; a flight whose leader gave up is left out
        (this request computes it next round). Shielded: a cancelled follower never cancels the flight."""
        outcomes = {}
        for digest, flight in following.items():
            try:
                outcomes[digest] = await asyncio.shield(flight)
            except FlightAbandoned:
                continue
        return outcomes


def unsettled_by_digest(records: Records) -> ByDigest:
    """The first unsettled record of each distinct digest, in request order."""
    pending: ByDigest = {}
    for record in records:
        if not record.settled:
            pending.setdefault(record.sha256, record)
    return pending


def settle(records: Records, outcomes: dict[str, FlightOutcome]) -> tuple[Records, int]:
    """Unsettled records whose digest has an outcome take it; returns the records and how many took one."""
    taken = 0
    settled = []
    for record in records:
        outcome = None if record.settled else outcomes.get(record.sha256)
        if outcome is None:
            settled.append(record)
        else:
            settled.append(record.adopting(outcome))
            taken += 1
    return settled, taken
