"""Keyed hashes of the confidential identifiers."""

from __future__ import annotations

import hashlib
import hmac
import pickle

import pytest

from directory.secrets import Hasher


def test_hash_is_a_keyed_hmac_deterministic_and_purpose_bound() -> None:
    hasher = Hasher("k" * 40)
    value = hasher.hash("numen", "24E9812345ABC")
    assert value == hasher.hash("numen", "24E9812345ABC")
    assert value == hmac.new(b"k" * 40, b"numen\0" + b"24E9812345ABC", hashlib.sha256).hexdigest()[:32]
    assert value != hasher.hash("birth", "24E9812345ABC")
    assert value != Hasher("other-key" * 5).hash("numen", "24E9812345ABC")
    # Without the key, a plain hash of the value does not give it away.
    assert value not in hashlib.sha256(b"24E9812345ABC").hexdigest()


def test_key_never_shows() -> None:
    assert "k" * 40 not in repr(Hasher("k" * 40))


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Hasher("")


@pytest.mark.parametrize("secret", ["k", "k" * 40, "k" * 64, "k" * 65, "é" * 100, b"\x00\xff" * 3])
def test_hash_is_hmac_sha256_for_every_key_length(secret: str | bytes) -> None:
    # The hasher prepares the HMAC pads itself: keys shorter, as long as and longer than
    # SHA-256's block (hashed first), each purpose, repeated calls on the prepared state.
    key = secret.encode() if isinstance(secret, str) else secret
    hasher = Hasher(secret)
    for purpose, value in [("numen", "24E9812345ABC"), ("birth", "1980-01-02"), ("numen", "é"), ("x", "")]:
        expected = hmac.new(key, purpose.encode() + b"\0" + value.encode(), hashlib.sha256).hexdigest()[:32]
        assert hasher.hash(purpose, value) == expected
        assert hasher.hash(purpose, value) == expected


def test_hashers_with_one_secret_are_equal() -> None:
    # Caches keyed on the hasher are shared by the feed runs of one process.
    assert Hasher("k" * 40) == Hasher(b"k" * 40)
    assert hash(Hasher("k" * 40)) == hash(Hasher("k" * 40))
    assert Hasher("k" * 40) != Hasher("j" * 40)
    assert Hasher("k" * 40) != "k" * 40


def test_a_hasher_survives_pickling() -> None:
    hasher = Hasher("k" * 40)
    copy = pickle.loads(pickle.dumps(hasher))
    assert copy == hasher
    assert copy.hash("numen", "24E9812345ABC") == hasher.hash("numen", "24E9812345ABC")
