"""Personal data on the read side: kept sealed in the read models, opened when it is answered.

The events hold personal values as sealed envelopes (domain/personal.py) and the read models copy
them as they are, so no read model ever holds personal data in clear: an erasure (R34) that
destroys a case's data keys leaves nothing readable behind in them, and a rebuild gives the same
rows as before it. A read that answers with personal data opens the envelopes it answers with
(``unseal``), through the same key store as the ledger; a destroyed key gives the marker
"uppgifter gallrade <day>, beslut <ref>" in place of the value, at any instant, also before the
erasure.

One consequence for the fold: an invitee's key (``role:name``) cannot be formed from a sealed
name, so the record keys a sealed private person's invitation by ``role:`` and their subject id,
which the reply's sealed key and its role in clear (ReplyRecorded v2) give too; ``unseal`` gives
the invitations back their ``role:name`` keys.
"""

from __future__ import annotations

from typing import Any

import orjson

from domain.personal import SEALED, Erased, Erasure, Sealer

from .events import unwrap


def is_sealed(value: Any) -> bool:
    return type(value) is dict and value.get("_type_") == SEALED


def sealed_subject(value: Any) -> str | None:
    """The subject id of a sealed value, or None for a value in clear."""
    if is_sealed(value):
        subject: str = value["_data_"]["s"]
        return subject
    return None


def unseal(value: Any, keys: Sealer | None) -> Any:
    """``value`` (decoded JSON) with every sealed envelope opened: its plaintext, or the
    ``Erased`` marker of its subject's erasure. Raises ``MissingDataKey`` (R34) for a key that is
    gone without a recorded erasure. With no key store (a benchmark's baseline) nothing is
    sealed, and the value is returned as it is."""
    if keys is None:
        return value
    return _open(value, keys)


def _open(value: Any, keys: Sealer) -> Any:
    kind = type(value)
    if kind is dict:
        if value.get("_type_") == SEALED:
            opened = keys.open(value["_data_"])
            if isinstance(opened, Erasure):
                return Erased(opened.marker)
            return unwrap(orjson.loads(opened))
        opened_dict = {k: _open(v, keys) for k, v in value.items()}
        if "invitations" in opened_dict and type(opened_dict["invitations"]) is dict:
            opened_dict["invitations"] = _rekeyed(opened_dict["invitations"])
        return opened_dict
    if kind is list:
        return [_open(v, keys) for v in value]
    return value


def _rekeyed(invitations: dict[str, Any]) -> dict[str, Any]:
    """Invitations by their participant key again (domain.commands.Participant.key): the
    organisation's id, or ``role:name``. An erased person keeps the stored key (``role:`` and
    their subject id), so two erased invitees never fold into one."""
    result: dict[str, Any] = {}
    for key, invitation in invitations.items():
        if type(invitation) is not dict or invitation.get("organisation_id"):
            result[key] = invitation
            continue
        name = invitation.get("name")
        if name is None or isinstance(name, Erased) or type(name) is not str:
            result[key] = invitation
        else:
            result[f"{invitation['role']}:{name}"] = invitation
    return result
