"""Authenticated cache values: an HMAC-SHA256 tag over (key, vector identity, value) under a secret
the replicas share, so whoever can write to the cache can delete vectors, never change one.

Stored value (sealed): `MAGIC (4 bytes) | key id (4 bytes) | tag (32 bytes) | payload`, where the
payload is the raw little-endian float32 bytes (any number of them: one vector or k), and

    tag = HMAC-SHA256(secret, DOMAIN | len(key) | key | len(identity) | identity | payload)

(RFC 2104 HMAC via Python's `hmac`; lengths are 4-byte big-endian, so no two different
(key, identity, payload) triples share one message). The key id — 4 bytes of the secret's sha256
under its own domain — only says which configured secret to verify with; it reveals nothing
usable about the secret. The cache key already names the vector identity; the identity is also
bound on its own so a value cannot be replayed under another identity whatever the key scheme.

Rotation: a current secret seals and verifies; a previous one, while its grace period lasts,
verifies only (values it verified are sealed again under the current secret by the caller).
Without any secret, values are stored raw and served unauthenticated (the server says so at start).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from dataclasses import dataclass
from enum import Enum

MAGIC = b"\x93mv1"
DOMAIN = b"medembed cache value v1\x00"
KEY_ID_BYTES = 4
TAG_BYTES = 32
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + TAG_BYTES
MIN_SECRET_BYTES = 32


class Verdict(Enum):
    """How a stored value fared: served (`CURRENT`, `PREVIOUS`: which secret vouched for it) or a miss."""

    CURRENT = "current"
    PREVIOUS = "previous"  # good under the previous secret, within its grace period: seal again
    UNSEALED = "unsealed"  # no header: raw bytes someone wrote where sealed values belong
    UNKNOWN_KEY = "unknown_key"  # sealed under a secret this server does not hold (or no longer accepts)
    BAD_TAG = "bad_tag"  # the tag does not match the key, identity and payload: forged or tampered

    @property
    def served(self) -> bool:
        """True when the value may be served."""
        return self in (Verdict.CURRENT, Verdict.PREVIOUS)


def key_id(secret: bytes) -> bytes:
    """The 4-byte id of a secret stored with every value it seals: sha256(domain | secret)[:4]."""
    return hashlib.sha256(b"medembed cache key id\x00" + secret).digest()[:KEY_ID_BYTES]


def _tag(secret: bytes, key: str, identity: str, payload: bytes | memoryview) -> bytes:
    key_bytes, identity_bytes = key.encode(), identity.encode()
    mac = hmac.new(secret, DOMAIN, hashlib.sha256)
    mac.update(struct.pack(">I", len(key_bytes)) + key_bytes + struct.pack(">I", len(identity_bytes)) +
               identity_bytes)
    mac.update(payload)
    return mac.digest()


@dataclass(frozen=True)
class Opened:
    """A stored value after `CacheSealer.open`: its verdict and, when served, the payload bytes."""

    verdict: Verdict
    payload: bytes | None


class CacheSealer:
    """Seals values before they are stored and opens them after they are read.

    `secret` (None: values are not authenticated) seals; `previous` (optional) also verifies until
    `previous_until` (a `time.monotonic()` instant; None = as long as it is configured). Secrets
    are at least MIN_SECRET_BYTES bytes (ValueError otherwise)."""

    def __init__(self, secret: bytes | None, previous: bytes | None = None,
                 previous_until: float | None = None) -> None:
        for name, value in (("secret", secret), ("previous secret", previous)):
            if value is not None and len(value) < MIN_SECRET_BYTES:
                raise ValueError(f"the cache MAC {name} must be at least {MIN_SECRET_BYTES} bytes, got {len(value)}")
        if previous is not None and secret is None:
            raise ValueError("a previous cache MAC secret needs a current one")
        self._secret = secret
        self._previous = previous if previous != secret else None
        self._previous_until = previous_until
        self._id = key_id(secret) if secret is not None else b""
        self._previous_id = key_id(previous) if previous is not None else b""

    @property
    def authenticated(self) -> bool:
        """True when values are sealed and checked (a secret is configured)."""
        return self._secret is not None

    def previous_active(self, now: float | None = None) -> bool:
        """True while a previous secret is configured and its grace period lasts."""
        if self._previous is None:
            return False
        return self._previous_until is None or (time.monotonic() if now is None else now) < self._previous_until

    def seal(self, key: str, identity: str, payload: bytes) -> bytes:
        """The value to store for `payload` at `key`: sealed under the current secret, or `payload` itself
        when no secret is configured."""
        if self._secret is None:
            return payload
        return MAGIC + self._id + _tag(self._secret, key, identity, payload) + payload

    def open(self, key: str, identity: str, stored: bytes) -> Opened:
        """The payload of a stored value when a configured secret vouches for it for this key and identity.
        Without a secret, every value is its own payload (CURRENT, unauthenticated) except a sealed
        one, which this server cannot check (UNKNOWN_KEY)."""
        sealed = stored[:len(MAGIC)] == MAGIC and len(stored) >= HEADER_BYTES
        if self._secret is None:
            return Opened(Verdict.UNKNOWN_KEY, None) if sealed else Opened(Verdict.CURRENT, stored)
        if not sealed:
            return Opened(Verdict.UNSEALED, None)
        stored_id = stored[len(MAGIC):len(MAGIC) + KEY_ID_BYTES]
        if stored_id == self._id:
            secret, verdict = self._secret, Verdict.CURRENT
        elif self._previous is not None and stored_id == self._previous_id and self.previous_active():
            secret, verdict = self._previous, Verdict.PREVIOUS
        else:
            return Opened(Verdict.UNKNOWN_KEY, None)
        view = memoryview(stored)
        payload = view[HEADER_BYTES:]
        tag = view[len(MAGIC) + KEY_ID_BYTES:HEADER_BYTES]
        if not hmac.compare_digest(_tag(secret, key, identity, payload), tag):
            return Opened(Verdict.BAD_TAG, None)
        return Opened(verdict, bytes(payload))
