"""The single-flight stage over item records: one leader computes a digest, followers adopt its
outcome; an outcome that belongs to one request (a timeout) or a leader that gave up hands the
followers nothing, and they compute the item themselves."""

from __future__ import annotations

import numpy as np

from medembed_encoder.cache import KeyScope
from medembed_encoder.flights import ItemFlights, settle, unsettled_by_digest
from medembed_encoder.items import ItemRecord
from medembed_proto.v1 import encoder_pb2 as pb

SCOPE = KeyScope("m", "identity", "cls")


def records(*digests: str) -> list[ItemRecord]:
    return [ItemRecord(index, f"c{index}", digest, b"bytes") for index, digest in enumerate(digests)]


def test_unsettled_by_digest_keeps_the_first_record_of_each_digest():
    items = records("a", "b", "a")
    items[1] = items[1].failed(pb.ITEM_CODE_DECODE_ERROR, "bad")
    assert {d: r.index for d, r in unsettled_by_digest(items).items()} == {"a": 0}


async def test_a_follower_adopts_the_leaders_shareable_outcome():
    flights = ItemFlights()
    leader, follower = records("a", "b"), records("a")
    leading, following = flights.join(SCOPE, unsettled_by_digest(leader))
    assert set(leading) == {"a", "b"} and not following
    led, followed = flights.join(SCOPE, unsettled_by_digest(follower))
    assert not led and set(followed) == {"a"}
    vector = np.ones(3, dtype=np.float32)
    computed = {"a": leading["a"].succeeded(vector), "b": leading["b"].failed(pb.ITEM_CODE_TIMEOUT, "late")}
    flights.land(SCOPE, leading, computed)
    outcomes = await flights.follow(followed)
    adopted, count = settle(follower, outcomes)
    assert count == 1 and adopted[0].code == pb.ITEM_CODE_OK and adopted[0].vector is vector


async def test_a_timeout_or_a_leader_that_gave_up_leaves_the_follower_to_compute():
    flights = ItemFlights()
    leading, _ = flights.join(SCOPE, unsettled_by_digest(records("late", "gone")))
    _, followed = flights.join(SCOPE, unsettled_by_digest(records("late", "gone")))
    flights.land(SCOPE, leading, {"late": leading["late"].failed(pb.ITEM_CODE_TIMEOUT, "deadline")})
    assert await flights.follow(followed) == {}
    again, _ = flights.join(SCOPE, unsettled_by_digest(records("late", "gone")))
    assert set(again) == {"late", "gone"}  # landed flights are gone: the next request leads


def test_settle_leaves_settled_records_and_counts_what_it_settled():
    items = records("a", "a", "b")
    items[2] = items[2].failed(pb.ITEM_CODE_DECODE_ERROR, "bad")
    vector = np.zeros(2, dtype=np.float32)
    settled, count = settle(items, {"a": items[0].succeeded(vector).outcome(), "b": items[0].outcome()})
    assert count == 2
    assert [r.code for r in settled] == [pb.ITEM_CODE_OK, pb.ITEM_CODE_OK, pb.ITEM_CODE_DECODE_ERROR]
