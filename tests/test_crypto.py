"""Secrets at rest: hashes that verify only the right secret, and sealing that detects tampering."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag

from kymaprov.crypto import Sealer, hash_secret, random_token, verify_secret


@pytest.mark.parametrize("generated", [False, True])
def test_hashes_verify_only_the_secret(generated: bool) -> None:
    secret = random_token(24)
    stored = hash_secret(secret, generated=generated)
    assert secret not in stored
    assert stored.startswith("sha256$" if generated else "scrypt$")
    assert verify_secret(secret, stored)
    assert not verify_secret(secret + "x", stored)
    assert hash_secret(secret, generated=generated) != stored  # salted


@pytest.mark.parametrize("stored", ["", "plain", "md5$AAAA$AAAA", "sha256$not-base64$x"])
def test_unknown_or_broken_hashes_never_verify(stored: str) -> None:
    assert not verify_secret("anything", stored)


def test_sealer_round_trip_and_tamper() -> None:
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal("kubeconfig token")
    assert "kubeconfig token" not in sealed
    assert sealer.open_str(sealed) == "kubeconfig token"
    with pytest.raises(InvalidTag):
        Sealer(os.urandom(32)).open_str(sealed)
