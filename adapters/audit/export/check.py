"""Checking an audit copy on its own (``verify_export``): checks 1-3 of ``proof.py``.

``verify_export`` is a reference implementation of checks 1-3 on the JSON alone, with the pure
functions of ``chain.py`` and ``checkpoints.py``; ``chain.method`` in the copy states the byte
layout and the signed message, so an outside party can redo it with SHA-256 and Ed25519 alone.
If the chain or a checkpoint does not yet cover the case's events (checkpoints are made from
time to time), the copy says so and the checks that need them are skipped.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.audit.chain import canonical_bytes, chain_hash
from adapters.audit.checkpoints import Checkpoint, key_id_of

from .document import CopyToCheck


def verify_export(
    export: CopyToCheck, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> list[str]:
    """The checks an outside party makes on the copy alone (the module's docstring, 1-3);
    returns what failed (empty: every check the copy allows passed). ``trusted_keys`` (by key
    id): the organisation's published keys; without them the key in the copy is used, which
    shows the copy is consistent but not whose key signed it. Checks the chain needs are
    skipped when the copy says the chain or a checkpoint does not cover it."""
    problems: list[str] = []
    chain = export.get("chain") or {}
    events = export.get("events") or []
    if not chain.get("available"):
        return problems
    case_id = UUID(export["case_id"])
    by_id = {}
    for e in events:
        if e.get("hash") is None:
            continue
        state = base64.b64decode(e["state_b64"], validate=True)
        canonical = canonical_bytes(case_id, e["version"], e["topic"], state)
        if chain_hash(bytes.fromhex(e["previous_hash"]), canonical).hex() != e["hash"]:
            problems.append(f"event v{e['version']}: its hash does not follow from its bytes "
                            "and the previous hash")
        by_id[e["notification_id"]] = e
    for e in events:
        prev = by_id.get(e.get("previous_notification_id"))
        if prev is not None and e.get("previous_hash") != prev["hash"]:
            problems.append(f"event v{e['version']}: its previous hash is not the hash of "
                            f"v{prev['version']}")
    entry = chain.get("checkpoint")
    if entry is None:
        return problems
    problems.extend(_verify_checkpoint(entry, trusted_keys))
    segment = chain.get("segment") or {}
    pairs = [tuple(p) for p in segment.get("hashes") or []]
    positions = [n for n, _ in pairs]
    listed = dict(pairs)
    index = {n: i for i, n in enumerate(positions)}
    if positions != sorted(set(positions)):
        problems.append("segment: positions are not strictly increasing")
    if not pairs or pairs[-1] != (entry["position"], entry["chain_hash"]):
        problems.append("segment: does not end at the checkpoint's position and hash")
    for e in events:
        if e.get("hash") is None:
            continue
        if listed.get(e["notification_id"]) != e["hash"]:
            problems.append(f"segment: v{e['version']}'s hash is not listed at its position")
        prev_id = e.get("previous_notification_id")
        if prev_id is not None and listed.get(prev_id) != e["previous_hash"]:
            problems.append(f"segment: v{e['version']}'s previous hash is not listed")
        if segment.get("complete") and prev_id is not None:
            i = index.get(e["notification_id"], 0)
            if i == 0 or positions[i - 1] != prev_id:
                problems.append(f"segment: v{e['version']}'s predecessor is not the listed "
                                "event before it")
    return problems


def _verify_checkpoint(
    entry: Mapping[str, Any], trusted_keys: Mapping[str, Ed25519PublicKey] | None
) -> list[str]:
    try:
        checkpoint = Checkpoint.from_json(entry)
    except (ValueError, KeyError, TypeError) as error:
        return [f"checkpoint: unreadable ({error})"]
    if entry.get("signed_message") not in (None, checkpoint.message().decode("ascii")):
        return ["checkpoint: the signed message does not state its position, hash and time"]
    if trusted_keys is not None:
        key = trusted_keys.get(checkpoint.key_id)
        if key is None:
            return [f"checkpoint: signed by key {checkpoint.key_id}, not a trusted key"]
    elif entry.get("public_key"):
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
        if key_id_of(key) != checkpoint.key_id:
            return ["checkpoint: the public key in the copy is not the key it names"]
    else:
        return []  # no key to check with: said in the copy (public_key_note)
    if not checkpoint.signed_by(key):
        return ["checkpoint: the signature does not verify"]
    return []
