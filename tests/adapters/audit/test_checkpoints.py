"""Signed checkpoints: the key from the settings, verification with only the public key, the
export, and the service's checkpointer."""

from __future__ import annotations

import base64
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.audit.checkpoints import (
    AuditKeyError,
    Checkpoint,
    Checkpointer,
    checkpoint_message,
    export_checkpoints,
    key_id_of,
    public_key_for,
    public_key_pem,
    raw_public_key,
    read_checkpoints,
    read_exported,
    signing_key,
    trusted_public_keys,
    write_checkpoint,
)
from adapters.audit.verify import verify
from adapters.settings import Settings
from tests.support.audit import Audited, new_key, write_cases


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# ---------------------------------------------------------------------- keys, no store


def test_the_signed_message_is_the_documented_text() -> None:
    at = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    assert checkpoint_message(42, bytes(range(32)), at) == (
        b"sip-ledger checkpoint v1\n"
        b"position=42\n"
        b"chain_hash=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        b"recorded_at=2025-03-01T12:30:05.123456Z\n"
    )


def test_the_key_comes_from_a_file_or_the_environment_or_a_development_file(
    tmp_path: Path,
) -> None:
    private = Ed25519PrivateKey.generate()
    path = tmp_path / "signing.pem"
    path.write_bytes(_pem(private))
    expected = key_id_of(private.public_key())

    from_file = signing_key(Settings(audit_signing_key_file=path, data_dir=tmp_path / "d"))
    assert from_file.key_id == expected and not from_file.development
    assert len(expected) == 16 and int(expected, 16) >= 0
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    from_env = signing_key(Settings(audit_signing_key=base64.b64encode(raw).decode(),
                                    data_dir=tmp_path / "d"))
    assert from_env.key_id == expected
    from_env_pem = signing_key(Settings(audit_signing_key=_pem(private).decode(),
                                        data_dir=tmp_path / "d"))
    assert from_env_pem.key_id == expected
    assert not (tmp_path / "d").exists()  # no development key made when one is configured

    settings = Settings(data_dir=tmp_path / "dev")
    assert signing_key(settings, create=False) is None
    development = signing_key(settings)
    assert development.development
    made = tmp_path / "dev" / "audit-signing-key.pem"
    assert made.exists() and (made.stat().st_mode & 0o777) == 0o600
    assert signing_key(settings).key_id == development.key_id  # kept, not made again


def test_a_bad_key_names_its_setting(tmp_path: Path) -> None:
    with pytest.raises(AuditKeyError, match="SIP_AUDIT_SIGNING_KEY"):
        signing_key(Settings(audit_signing_key="bm90IGEga2V5"))  # "not a key"
    with pytest.raises(AuditKeyError, match="SIP_AUDIT_SIGNING_KEY_FILE"):
        signing_key(Settings(audit_signing_key_file=tmp_path / "missing.pem"))
    rsa = tmp_path / "rsa.pem"
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    rsa.write_bytes(rsa_keys.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(AuditKeyError, match="Ed25519"):
        signing_key(Settings(audit_signing_key_file=rsa))


def test_public_keys_from_files_several_in_one(tmp_path: Path) -> None:
    a, b = new_key(), new_key()
    path = tmp_path / "keys.pem"
    path.write_text(public_key_pem(a.public_key) + public_key_pem(b.public_key))
    keys = trusted_public_keys(Settings(audit_public_key_file=path, data_dir=tmp_path))
    assert set(keys) == {a.key_id, b.key_id}
    raw = tmp_path / "raw.txt"
    raw.write_text(base64.b64encode(raw_public_key(a.public_key)).decode() + "\n")
    assert set(trusted_public_keys(Settings(data_dir=tmp_path), [raw])) == {a.key_id}
    # No key configured and no development key yet: none trusted, and none made.
    assert trusted_public_keys(Settings(data_dir=tmp_path / "empty")) == {}
    assert not (tmp_path / "empty").exists()


# ---------------------------------------------------------------------- on the store



@pytest.mark.store
def test_a_verifier_with_only_the_public_key_checks_every_signature(
    audited: Audited, tmp_path: Path
) -> None:
    write_cases(audited.ledger, 2)
    first = write_checkpoint(audited.datastore, audited.key)
    assert write_checkpoint(audited.datastore, audited.key) is None  # nothing new
    write_cases(audited.ledger, 1)
    second = write_checkpoint(audited.datastore, audited.key)
    assert (first.position, second.position) == (6, 9)

    stored = read_checkpoints(audited.datastore)
    assert stored == [first, second]  # what was signed is what the table gives back
    public = tmp_path / "audit-public.pem"
    public.write_text(public_key_pem(audited.key.public_key))
    keys = trusted_public_keys(Settings(audit_public_key_file=public, data_dir=tmp_path / "x"))
    assert all(c.signed_by(keys[c.key_id]) for c in stored)

    report = verify(audited.datastore, keys)
    assert report.intact and report.checkpoints_verified == 2

    other = verify(audited.datastore, [new_key().public_key])
    assert [p.kind for p in other.problems] == ["checkpoint key", "checkpoint key"]


@pytest.mark.store
def test_the_export_is_json_lines_with_the_public_key(audited: Audited, tmp_path: Path) -> None:
    write_cases(audited.ledger, 1)
    checkpoint = write_checkpoint(audited.datastore, audited.key)
    out = io.StringIO()
    assert export_checkpoints(read_checkpoints(audited.datastore),
                              {audited.key.key_id: audited.key.public_key}, out) == 1
    line = json.loads(out.getvalue())
    assert line["position"] == checkpoint.position
    assert line["chain_hash"] == checkpoint.chain_hash.hex()
    assert line["key_id"] == audited.key.key_id and line["algorithm"] == "Ed25519"
    assert base64.b64decode(line["public_key"]) == raw_public_key(audited.key.public_key)
    assert Checkpoint.from_json(line) == checkpoint

    path = tmp_path / "checkpoints.jsonl"
    path.write_text(out.getvalue())
    copies, keys = read_exported(path)
    assert copies == [checkpoint] and set(keys) == {audited.key.key_id}
    assert verify(audited.datastore, keys, exported=copies).intact


@pytest.mark.store
def test_the_checkpointer_writes_by_count_and_by_time(audited: Audited) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    checkpointer = Checkpointer(audited.datastore, audited.key, every_events=5, every_s=60,
                                now=lambda: now[0])
    assert checkpointer.run_once() is None  # an empty log
    write_cases(audited.ledger, 1)  # 3 events, no checkpoint yet: the first is due at once
    assert checkpointer.run_once().position == 3
    write_cases(audited.ledger, 1)  # 3 more: fewer than 5, and the last is new
    assert checkpointer.run_once() is None
    now[0] += timedelta(seconds=61)
    assert checkpointer.run_once().position == 6  # by time
    write_cases(audited.ledger, 2)  # 6 more: by count, whatever the time
    assert checkpointer.run_once().position == 12
    assert checkpointer.run_once() is None
    write_cases(audited.ledger, 1)
    assert checkpointer.run_once(force=True).position == 15
    assert checkpointer.written == 4
    assert verify(audited.datastore, [audited.key.public_key]).checkpoints_verified == 4


@pytest.mark.store
def test_the_checkpointer_thread_writes_a_last_checkpoint_when_stopped(
    audited: Audited,
) -> None:
    lines = []
    checkpointer = Checkpointer(audited.datastore, audited.key, every_events=1000, every_s=3600,
                                poll_s=0.05, log=lambda event, **f: lines.append(event)).start()
    write_cases(audited.ledger, 1)
    checkpointer.stop()
    assert [c.position for c in read_checkpoints(audited.datastore)] == [3]
    assert "audit checkpoint written" in lines


@pytest.mark.store
def test_public_key_for_finds_the_configured_key(tmp_path: Path, monkeypatch) -> None:
    key = new_key()
    path = tmp_path / "k.pem"
    path.write_text(public_key_pem(key.public_key))
    monkeypatch.setitem(os.environ, "SIP_AUDIT_PUBLIC_KEY_FILE", str(path))
    assert raw_public_key(public_key_for(key.key_id)) == raw_public_key(key.public_key)
    assert public_key_for("0" * 16) is None
