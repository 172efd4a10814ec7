"""Keyed hashes of the confidential identifiers."""

from __future__ import annotations

import hashlib
import hmac

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
