"""The chain's encoding and hash, as an outside party would re-implement them."""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from adapters.audit.chain import (
    GENESIS,
    canonical_bytes,
    chain_hash,
    chain_hashes,
    chain_over,
)

CASE = UUID("12345678-1234-5678-1234-567812345678")


def test_the_encoding_is_the_documented_byte_layout() -> None:
    encoded = canonical_bytes(CASE, 3, "domain.case:SipCase.Proposed", b'{"a":1}')
    assert encoded == (
        CASE.bytes
        + struct.pack(">q", 3)
        + struct.pack(">I", 28) + b"domain.case:SipCase.Proposed"
        + struct.pack(">I", 7) + b'{"a":1}'
    )
    assert GENESIS == bytes(32)
    assert chain_hash(GENESIS, encoded) == hashlib.sha256(bytes(32) + encoded).digest()


def test_a_known_answer_pins_the_chain() -> None:
    """So a re-implementation elsewhere can check itself against this value."""
    first = chain_hash(GENESIS, canonical_bytes(CASE, 1, "t", b"s"))
    second = chain_hash(first, canonical_bytes(CASE, 2, "t\u00e5", b""))
    assert first.hex() == hashlib.sha256(
        bytes(32) + bytes.fromhex("12345678123456781234567812345678")
        + bytes.fromhex("0000000000000001") + bytes.fromhex("00000001") + b"t"
        + bytes.fromhex("00000001") + b"s").hexdigest()
    assert second == hashlib.sha256(
        first + CASE.bytes + (2).to_bytes(8, "big") + (3).to_bytes(4, "big") + "tå".encode()
        + (0).to_bytes(4, "big")).digest()


@given(
    st.tuples(st.uuids(), st.integers(1, 2**40), st.text(max_size=20), st.binary(max_size=40)),
    st.tuples(st.uuids(), st.integers(1, 2**40), st.text(max_size=20), st.binary(max_size=40)),
)
def test_different_events_never_encode_alike(a, b) -> None:
    if a != b:
        assert canonical_bytes(*a) != canonical_bytes(*b)


@given(st.lists(st.tuples(st.uuids(), st.integers(1, 2**40), st.text(max_size=20),
                          st.binary(max_size=40)), max_size=8))
def test_the_fast_path_hashes_as_the_reference_does(events) -> None:
    wire = [(u.bytes, v, t.encode("utf-8"), s) for u, v, t, s in events]
    assert chain_over(GENESIS, wire) == chain_hashes(GENESIS, events)
