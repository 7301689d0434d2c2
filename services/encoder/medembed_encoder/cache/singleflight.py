"""Single-flight: identical items in flight at the same time are computed once.

The first request to need a key leads: it computes and publishes the outcome. Requests that
need the same key meanwhile follow: they wait for that outcome instead of computing it again. A
leader that gives up (deadline, cancellation) publishes nothing, and its followers compute the
item themselves.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from ..slices import SliceVectors


@dataclass(frozen=True)
class FlightOutcome:
    """What a leader publishes to its followers: the item code (pb.ITEM_CODE_*), its message and the
    [dim] vector (SliceVectors under volume options), None when the item has none."""

    code: int
    message: str
    vector: np.ndarray | SliceVectors | None


class FlightAbandoned(Exception):
    """The leader gave up before it had an outcome."""


class SingleFlight:
    """The flights in progress, by cache key, on one event loop: `join` makes the first caller of a key
    its leader, `land` hands its outcome (or FlightAbandoned) to the followers."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[FlightOutcome]] = {}

    def join(self, key: str) -> asyncio.Future[FlightOutcome] | None:
        """The running flight for `key`, or None after registering the caller as its leader."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight
        self._flights[key] = asyncio.get_running_loop().create_future()
        return None

    def land(self, key: str, outcome: FlightOutcome | None) -> None:
        """The leader's result; None when it gave up."""
        flight = self._flights.pop(key, None)
        if flight is None or flight.done():
            return
        if outcome is None:
            flight.set_exception(FlightAbandoned(key))
            flight.exception()  # mark retrieved: no follower is required to exist
        else:
            flight.set_result(outcome)

    @property
    def in_flight(self) -> int:
        """Keys whose leader has not landed yet."""
        return len(self._flights)
