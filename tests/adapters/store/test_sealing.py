"""Personal data sealed per data subject (issue 12, R34/R35): what is stored, what a read gives,
what an erasure leaves, and a key-encryption key that is wrong, rotated or missing."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from adapters.store.keys import FileKek, KeyStore, KeyStoreError, keys_conninfo
from domain.commands import Invitation, Participant, RecordReply, Reply
from domain.errors import RuleViolation
from domain.ledger import SipLedger
from domain.personal import DataKeyUnreadable, MissingDataKey, is_erased
from tests.support import builders as b

SECRET = b"test-individual-key"
NAME, GUARDIAN = "Kim Karlsson", "Gustav Gran"


def _kek(byte: int) -> FileKek:
    return FileKek(bytes([byte]) * 32)


@pytest.fixture
def sealed_store(database_url: str) -> Iterator[Store]:
    store = Store(conninfo=database_url, schema=f"test_seal_{uuid.uuid4().hex[:10]}",
                  kek=_kek(1))
    yield store
    for url in (database_url, keys_conninfo(database_url)):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(store.schema)))


@pytest.fixture
def ledger(sealed_store: Store) -> Iterator[SipLedger]:
    ledger = sealed_store.ledger(individual_secret=SECRET, cache_size=0)
    yield ledger
    ledger.close()


def _stored(store: Store) -> bytes:
    """Every stored event and snapshot state of the schema, as one byte string."""
    with store.connect() as conn:
        rows = conn.execute(SQL(
            "SELECT state FROM {0}.sipledger_events UNION ALL "
            "SELECT state FROM {0}.sipledger_snapshots").format(Identifier(store.schema))
        ).fetchall()
    return b"".join(bytes(r[0]) for r in rows)


def _a_case_with_a_guardian(ledger: SipLedger) -> tuple[uuid.UUID, str]:
    cmd = b.propose(age=10, guardians=(GUARDIAN,))
    case_id = ledger.propose(cmd, b.actor()).case_id
    ledger.record_consent(b.consent(case_id, givers=(("guardian", GUARDIAN),)), b.actor())
    return case_id, cmd.individual.personal_identity_number


def test_personal_data_is_stored_sealed_and_read_in_clear(
    ledger: SipLedger, sealed_store: Store
) -> None:
    case_id, pin = _a_case_with_a_guardian(ledger)
    stored = _stored(sealed_store)
    for secret in (NAME, GUARDIAN, pin, pin.replace("-", "")):
        assert secret.encode() not in stored
    assert b'"_type_":"sealed"' in stored
    # Process facts stay in clear: the dashboards and the public feed need no keys.
    assert b"kommun-boras" in stored and b"consent_expiry" in stored
    case = ledger.get_case(case_id)
    assert case.individual.name == NAME and case.individual.personal_identity_number == pin
    assert case.individual.guardians[0].name == GUARDIAN
    assert case.consents[0].givers[0].name == GUARDIAN
    # The individual and the guardian are subjects of their own, with keys of their own.
    subjects = ledger.keys.live_subjects(case_id)
    assert "individual" in subjects and len(subjects) == 2
    assert any(s.startswith("person:") and GUARDIAN not in s for s in subjects)


def test_a_reply_finds_its_invitation_and_keeps_the_role_in_clear(
    ledger: SipLedger, sealed_store: Store
) -> None:
    cmd = b.propose(age=10, guardians=(GUARDIAN,))
    case_id = ledger.propose(cmd, b.actor()).case_id
    ledger.record_consent(b.consent(case_id, givers=(("guardian", GUARDIAN),),
                                    approved_persons=("Rut Relativ",)), b.actor())
    relative = Invitation(participant=Participant(role="relative", name="Rut Relativ"),
                          reason="Stöd", expectation="Vara med")
    ledger.convene(b.convene(case_id, in_days=10, invitations=(b.invitation(), relative)),
                   b.actor())
    key = relative.participant.key
    ledger.record_reply(RecordReply(case_id=case_id, participant_key=key,
                                    reply=Reply.ACCEPTED), b.actor())
    assert ledger.get_case(case_id).invitations[key].reply is Reply.ACCEPTED
    assert relative.participant.name.encode() not in _stored(sealed_store)
    with sealed_store.connect() as conn:
        state = conn.execute(SQL(
            "SELECT state FROM {}.sipledger_events WHERE topic LIKE '%%ReplyRecorded'"
        ).format(Identifier(sealed_store.schema))).fetchone()[0]
    assert b'"participant_role":"relative"' in bytes(state) and b'"class_version":2' in bytes(state)


def test_after_the_keys_are_destroyed_every_value_reads_as_the_marker(ledger: SipLedger) -> None:
    case_id, _ = _a_case_with_a_guardian(ledger)
    assert ledger.keys.destroy_case(case_id, date(2031, 5, 2), "KS 2031/12") == 2
    assert ledger.keys.destroy_case(case_id, date(2031, 5, 2), "KS 2031/12") == 0  # idempotent
    case = ledger.get_case(case_id)
    marker = "uppgifter gallrade 2031-05-02, beslut KS 2031/12"
    for value in (case.individual.name, case.individual.personal_identity_number,
                  case.individual.guardians[0].name, case.consents[0].givers[0].name):
        assert value == marker and is_erased(value)
    # Also as the case stood before the erasure: the key is gone for every version.
    assert ledger.get_case(case_id, version=1).individual.name == marker
    # Process facts are untouched.
    assert case.consents[0].valid_until > case.consents[0].valid_from
    assert not ledger.keys.has_live_keys(case_id)


def test_the_register_no_longer_links_an_erased_case(
    ledger: SipLedger, sealed_store: Store
) -> None:
    cmd = b.propose(age=40)
    case_id = ledger.propose(cmd, b.actor()).case_id
    pin = cmd.individual.personal_identity_number
    register = ledger._register(pin, fresh=True)
    assert register is not None and register.open_case_ids == [case_id]
    ledger.keys.destroy_case(case_id, date(2031, 5, 2), "KS 2031/12")
    assert ledger._register(pin, fresh=True).open_case_ids == []
    # Nor does the command log: its rows name the case's own events only, never the register
    # (whose id is derived from the personal identity number).
    with sealed_store.connect() as conn:
        rows = conn.execute(SQL("SELECT case_id, originator_ids FROM {}.sipledger_commands")
                            .format(Identifier(sealed_store.schema))).fetchall()
    assert rows and all(set(ids) == {case} for case, ids in rows)
    assert register.id not in {i for _, ids in rows for i in ids}


def test_a_key_missing_without_an_erasure_is_named_by_subject_and_rule(
    ledger: SipLedger, sealed_store: Store
) -> None:
    case_id, pin = _a_case_with_a_guardian(ledger)
    with psycopg.connect(keys_conninfo(sealed_store.conninfo), autocommit=True) as conn:
        conn.execute(SQL("DELETE FROM {}.sip_data_keys WHERE case_id = %s AND subject = %s")
                     .format(Identifier(sealed_store.schema)), (case_id, "individual"))
    fresh = sealed_store.ledger(individual_secret=SECRET, cache_size=0)
    try:
        with pytest.raises(MissingDataKey) as raised:
            fresh.get_case(case_id)
    finally:
        fresh.close()
    assert raised.value.rule == "R34" and raised.value.subject == "individual"
    assert NAME not in str(raised.value) and pin not in str(raised.value)


def test_a_wrong_key_encryption_key_is_refused_before_anything_is_written(
    ledger: SipLedger, sealed_store: Store
) -> None:
    _a_case_with_a_guardian(ledger)
    with pytest.raises(KeyStoreError, match="SIP_KEK_FILE: the key-encryption key does not open"):
        replace(sealed_store, kek=_kek(2)).ledger(individual_secret=SECRET)


def test_rotating_the_kek_rewraps_the_keys_and_touches_no_event(
    ledger: SipLedger, sealed_store: Store
) -> None:
    case_id, _ = _a_case_with_a_guardian(ledger)
    before = _stored(sealed_store)
    keys = sealed_store.key_store()
    try:
        assert keys.rotate(_kek(3)) == 2
    finally:
        keys.close()
    assert _stored(sealed_store) == before
    with pytest.raises(KeyStoreError):
        sealed_store.key_store()  # the old KEK opens nothing now
    rotated = replace(sealed_store, kek=_kek(3)).ledger(individual_secret=SECRET, cache_size=0)
    try:
        assert rotated.get_case(case_id).individual.name == NAME
    finally:
        rotated.close()


def test_a_kek_file_must_hold_a_key(tmp_path: Path) -> None:
    empty = tmp_path / "kek"
    empty.write_text("not a key\n")
    with pytest.raises(KeyStoreError, match="SIP_KEK_FILE: .* holds no key"):
        FileKek.from_file(empty)
    with pytest.raises(KeyStoreError, match="SIP_KEK_FILE: cannot read"):
        FileKek.from_file(tmp_path / "missing")
    good = tmp_path / "good"
    good.write_bytes(base64.b64encode(bytes(range(32))))
    assert FileKek.from_file(good).key_id == FileKek(bytes(range(32))).key_id


def test_snapshots_hold_no_personal_data(sealed_store: Store) -> None:
    ledger = sealed_store.ledger(individual_secret=SECRET, cache_size=0)
    try:
        case_id, _ = _a_case_with_a_guardian(ledger)
        for _ in range(110):  # past the snapshot interval (100)
            ledger.record_wishes(_wishes(case_id), b.actor())
        with sealed_store.connect() as conn:
            count = conn.execute(SQL("SELECT count(*) FROM {}.sipledger_snapshots")
                                 .format(Identifier(sealed_store.schema))).fetchone()[0]
        assert count >= 1
        assert NAME.encode() not in _stored(sealed_store)
        assert b"Lugn och ro" not in _stored(sealed_store)
        assert ledger.get_case(case_id).wishes.environment == "Lugn och ro"
        ledger.keys.destroy_case(case_id, date(2031, 5, 2), "KS 2031/12")
        erased = ledger.get_case(case_id)  # the snapshot cannot be opened: replayed instead
        assert erased.individual.name.startswith("uppgifter gallrade")
    finally:
        ledger.close()


def _wishes(case_id: uuid.UUID):
    from domain.commands import RecordWishes, Wishes
    return RecordWishes(case_id=case_id, wishes=Wishes(environment="Lugn och ro"))


def test_the_key_store_is_a_database_of_its_own_by_default(sealed_store: Store) -> None:
    keys = sealed_store.key_store()
    try:
        assert isinstance(keys, KeyStore)
        with keys.pool.connection() as conn:
            dbname = conn.info.dbname
    finally:
        keys.close()
    with sealed_store.connect() as conn:
        assert dbname == f"{conn.info.dbname}_keys"


def test_a_process_still_on_the_old_kek_after_a_rotation_writes_no_key(
    ledger: SipLedger, sealed_store: Store
) -> None:
    """`keys rotate` in another process: this one (old KEK) must not wrap a new data key the
    new KEK cannot open; it is told to restart, by subject and case, and writes nothing."""
    _a_case_with_a_guardian(ledger)
    rotating = sealed_store.key_store()
    try:
        rotating.rotate(_kek(3))
    finally:
        rotating.close()
    with pytest.raises(DataKeyUnreadable, match="restart it with the current SIP_KEK_FILE"):
        ledger.propose(b.propose(age=40), b.actor())
    with psycopg.connect(keys_conninfo(sealed_store.conninfo)) as conn:
        kek_ids = {r[0] for r in conn.execute(SQL(
            "SELECT DISTINCT kek_id FROM {}.sip_data_keys").format(
            Identifier(sealed_store.schema))).fetchall()}
    assert kek_ids == {_kek(3).key_id}


def test_an_erased_case_gets_no_live_key_again(ledger: SipLedger) -> None:
    case_id, _ = _a_case_with_a_guardian(ledger)
    ledger.keys.destroy_case(case_id, date(2031, 5, 2), "KS 2031/12")
    with pytest.raises(RuleViolation) as refused:
        ledger.keys.subject_key(case_id, "person:0123456789abcdef")
    assert refused.value.rule == "R34"
    assert not ledger.keys.has_live_keys(case_id)
