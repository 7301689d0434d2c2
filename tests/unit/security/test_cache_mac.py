"""The cache value seal (cache/mac.py): the tag is RFC 2104 HMAC-SHA256 over the documented
message, checked here with the `cryptography` package's own HMAC, and every part of (key,
identity, payload) is bound; rotation accepts the previous secret only during its grace period."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from medembed_encoder.cache.mac import DOMAIN, HEADER_BYTES, MAGIC, CacheSealer, Verdict, key_id

SECRET = b"0123456789abcdef0123456789abcdef-current"
PREVIOUS = b"0123456789abcdef0123456789abcdef-previous"
KEY = "medembed:v1:tiny-timm:3f2a9c:default:" + "ab" * 32
IDENTITY = "3f2a9c"


def reference_tag(secret: bytes, key: str, identity: str, payload: bytes) -> bytes:
    mac = crypto_hmac.HMAC(secret, hashes.SHA256())
    mac.update(DOMAIN + struct.pack(">I", len(key.encode())) + key.encode() +
               struct.pack(">I", len(identity.encode())) + identity.encode() + payload)
    return mac.finalize()


@pytest.mark.parametrize("floats", [0, 1, 1280, 3 * 1280])  # any number of float32s: one vector or k
def test_a_sealed_value_is_the_documented_layout_and_opens_to_its_payload(floats):
    payload = np.random.default_rng(floats).standard_normal(floats).astype("<f4").tobytes()
    sealed = CacheSealer(SECRET).seal(KEY, IDENTITY, payload)
    assert sealed == MAGIC + key_id(SECRET) + reference_tag(SECRET, KEY, IDENTITY, payload) + payload
    assert len(sealed) == HEADER_BYTES + len(payload)
    opened = CacheSealer(SECRET).open(KEY, IDENTITY, sealed)
    assert opened.verdict is Verdict.CURRENT and opened.payload == payload


def test_every_part_is_bound():
    payload = np.arange(16, dtype="<f4").tobytes()
    sealer = CacheSealer(SECRET)
    sealed = sealer.seal(KEY, IDENTITY, payload)
    assert sealer.open(KEY[:-1] + "c", IDENTITY, sealed).verdict is Verdict.BAD_TAG  # another image
    assert sealer.open(KEY, "other-identity", sealed).verdict is Verdict.BAD_TAG  # replay under another identity
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    assert sealer.open(KEY, IDENTITY, bytes(flipped)).verdict is Verdict.BAD_TAG
    assert sealer.open(KEY, IDENTITY, sealed[:-4]).verdict is Verdict.BAD_TAG  # truncated payload
    assert sealer.open(KEY, IDENTITY, payload).verdict is Verdict.UNSEALED
    assert sealer.open(KEY, IDENTITY, CacheSealer(b"x" * 40).seal(KEY, IDENTITY, payload)).verdict \
        is Verdict.UNKNOWN_KEY


def test_the_previous_secret_opens_only_within_its_grace_period():
    payload = np.ones(8, dtype="<f4").tobytes()
    old_value = CacheSealer(PREVIOUS).seal(KEY, IDENTITY, payload)
    in_grace = CacheSealer(SECRET, PREVIOUS, previous_until=float("inf"))
    opened = in_grace.open(KEY, IDENTITY, old_value)
    assert opened.verdict is Verdict.PREVIOUS and opened.payload == payload
    assert in_grace.seal(KEY, IDENTITY, payload)[len(MAGIC):len(MAGIC) + 4] == key_id(SECRET)  # seals with the new
    over = CacheSealer(SECRET, PREVIOUS, previous_until=0.0)
    assert over.open(KEY, IDENTITY, old_value).verdict is Verdict.UNKNOWN_KEY


def test_without_a_secret_values_are_raw_and_sealed_ones_are_not_trusted():
    payload = np.ones(8, dtype="<f4").tobytes()
    plain = CacheSealer(None)
    assert not plain.authenticated
    assert plain.seal(KEY, IDENTITY, payload) == payload
    assert plain.open(KEY, IDENTITY, payload).payload == payload
    assert plain.open(KEY, IDENTITY, CacheSealer(SECRET).seal(KEY, IDENTITY, payload)).verdict is Verdict.UNKNOWN_KEY


def test_short_secrets_are_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        CacheSealer(b"too short")
    with pytest.raises(ValueError, match="needs a current one"):
        CacheSealer(None, PREVIOUS)


def test_the_secret_settings_are_checked_at_start_naming_the_setting(tmp_path):
    from medembed_encoder import config
    from medembed_encoder.cache import cache_sealer

    def settings(**env: str) -> config.Settings:
        return config.from_sources(environ={"MEDEMBED_MODELS": "tiny", **env})

    short = tmp_path / "short"
    short.write_text("only-20-characters!!\n")
    with pytest.raises(config.ConfigError, match=r"--cache-mac-key-file .*fewer than 32"):
        cache_sealer(settings(MEDEMBED_CACHE_MAC_KEY_FILE=str(short)))
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(config.ConfigError, match=r"--cache-mac-key-file .* is empty"):
        cache_sealer(settings(MEDEMBED_CACHE_MAC_KEY_FILE=str(empty)))
    with pytest.raises(config.ConfigError, match=r"MEDEMBED_CACHE_MAC_KEY: .*fewer than 32"):
        cache_sealer(settings(MEDEMBED_CACHE_MAC_KEY="short"))
    with pytest.raises(config.ConfigError, match=r"is for a rotation"):
        settings(MEDEMBED_CACHE_MAC_PREVIOUS_KEY=PREVIOUS.decode())
    good = tmp_path / "good"
    good.write_text(SECRET.decode() + "\nignored second line\n")
    sealer = cache_sealer(settings(MEDEMBED_CACHE_MAC_KEY_FILE=str(good), MEDEMBED_CACHE_MAC_KEY="x" * 40))
    assert sealer.seal(KEY, IDENTITY, b"") == CacheSealer(SECRET).seal(KEY, IDENTITY, b"")  # the file wins
    assert not cache_sealer(settings()).authenticated
