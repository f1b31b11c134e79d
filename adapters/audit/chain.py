"""The audit hash chain over the global event log: the encoding and the hash, as pure functions.

An outside party can re-implement the chain from this description alone (and check it against
``tests/adapters/audit/test_chain.py``, which pins a known answer):

* The chain runs over **every** row of the event table (``sipledger_events``: SIP cases and the
  individuals' registers alike), in ascending ``notification_id`` order. Gaps in the notification
  ids are normal (a rolled-back insert consumes ids) and are not part of the hash: the chain links
  each stored event to the one stored before it.
* Each event is encoded from the four columns as stored, nothing decoded or re-serialised::

      canonical = originator_id        16 bytes: the UUID in RFC 4122 (network) byte order;
                                                 PostgreSQL's uuid_send(), Python's UUID.bytes
               || originator_version    8 bytes: signed, big-endian (int8send)
               || len(topic)            4 bytes: unsigned, big-endian, the byte length of ...
               || topic                          ... the topic column in UTF-8
               || len(state)            4 bytes: unsigned, big-endian, the byte length of ...
               || state                          ... the state column (bytea) exactly as stored

  The fixed-size fields come first and each variable-size field is preceded by its length, so
  two different rows never encode to the same bytes.
* ``hash(0) = GENESIS`` (32 zero bytes); the n-th event's hash is
  ``hash(n) = SHA-256(hash(n-1) || canonical(n))``, 32 bytes.
* The table ``sipledger_chain (notification_id bigint PRIMARY KEY, hash bytea NOT NULL)`` keeps
  each event's hash under its notification id, written by the recorder in the same transaction
  as the event (see ``adapters/store/recorder.py``).

Signed checkpoints (``checkpoints.py``) anchor the hash at a position, so that rewriting the
events *and* the chain after a checkpoint is detected too.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from uuid import UUID

from projections.storage import CHAIN_TABLE, CHECKPOINTS_TABLE, EVENTS_TABLE  # noqa: F401

GENESIS = bytes(32)
HASH_SIZE = 32

# The tables, in the ledger's schema (the one list: projections/storage.py).

_VERSION_AND_TOPIC_LENGTH = struct.Struct(">qI")
_LENGTH = struct.Struct(">I")


def canonical_bytes(
    originator_id: UUID, originator_version: int, topic: str, state: bytes
) -> bytes:
    """The bytes an event contributes to the chain: originator_id as 16 bytes (RFC 4122 byte
    order, UUID.bytes), originator_version as 8 bytes signed big-endian, the topic's UTF-8
    length as 4 bytes unsigned big-endian then the topic's UTF-8 bytes, the state's length as
    4 bytes unsigned big-endian then the state column's bytes exactly as stored. The chain:
    hash(n) = SHA-256(hash(n-1) || canonical_bytes(event n)) in notification-id order over
    every event of the log, hash(0) = 32 zero bytes."""
    topic_bytes = topic.encode("utf-8")
    return b"".join((
        originator_id.bytes,
        _VERSION_AND_TOPIC_LENGTH.pack(originator_version, len(topic_bytes)),
        topic_bytes,
        _LENGTH.pack(len(state)),
        bytes(state),
    ))


def chain_hash(previous: bytes, canonical: bytes) -> bytes:
    """SHA-256 over the previous hash followed by the event's canonical bytes."""
    return hashlib.sha256(previous + canonical).digest()


def chain_hashes(
    previous: bytes, events: Iterable[tuple[UUID, int, str, bytes]]
) -> list[bytes]:
    """The hashes of consecutive events (id, version, topic, state) after ``previous``."""
    hashes = []
    for originator_id, originator_version, topic, state in events:
        previous = chain_hash(
            previous, canonical_bytes(originator_id, originator_version, topic, state)
        )
        hashes.append(previous)
    return hashes


def chain_over(previous: bytes, rows: Sequence[tuple[bytes, int, bytes, bytes]]) -> list[bytes]:
    """As ``chain_hashes``, for rows already in wire form: (16 uuid bytes, version, topic's UTF-8
    bytes, state). The fast path of the backfill and the verifier; the same encoding."""
    sha256 = hashlib.sha256
    pack = _VERSION_AND_TOPIC_LENGTH.pack
    pack_length = _LENGTH.pack
    hashes: list[bytes] = []
    append = hashes.append
    for uuid_bytes, version, topic, state in rows:
        previous = sha256(
            previous + uuid_bytes + pack(version, len(topic)) + topic + pack_length(len(state))
            + state
        ).digest()
        append(previous)
    return hashes
