"""Signed checkpoints over the audit chain: the signing key, writing, reading, exporting.

A checkpoint says "at notification id ``position`` the chain's hash was ``chain_hash``", at
``recorded_at``, signed with an Ed25519 key that is kept outside the database. Whoever rewrites
the events and recomputes the chain after a checkpoint is caught by it; whoever also deletes the
checkpoints from the database is caught by a copy kept elsewhere (``export_checkpoints``, and
``sip-ledger audit verify --checkpoints FILE``).

The signed message (version 1), ASCII, each line ending in ``\\n``::

    sip-ledger checkpoint v1
    position=<notification id, decimal>
    chain_hash=<the 32-byte chain hash, 64 lowercase hex digits>
    recorded_at=<UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ>

The signature is Ed25519 (RFC 8032) over exactly those bytes. ``key_id`` is the first 16 hex
digits of SHA-256 over the raw 32-byte public key. The schema's name is not signed: the chain
hash already identifies the log's contents, and a restored copy may live in another schema.

The key: ``SIP_AUDIT_SIGNING_KEY_FILE`` (a PEM file), else ``SIP_AUDIT_SIGNING_KEY`` (PEM text,
or the raw 32-byte private key in base64), else a development key generated into
``$SIP_DATA_DIR/audit-signing-key.pem``. A verifier needs only the public key
(``SIP_AUDIT_PUBLIC_KEY_FILE``, ``--public-key``, or the one in an export).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NotRequired, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed

from adapters.settings import Settings
from projections.storage import CHAIN_TABLE, CHECKPOINTS_TABLE, qualified

MESSAGE_HEADER = b"sip-ledger checkpoint v1\n"
DEV_KEY_FILE_NAME = "audit-signing-key.pem"
EXPORT_FORMAT = "sip-ledger-checkpoint-v1"
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z ]+)-----\s.*?-----END \1-----", re.DOTALL
)


class AuditKeyError(ValueError):
    """A signing or public key that cannot be used; names the setting or file it came from."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


# ---------------------------------------------------------------------- the message


def format_recorded_at(recorded_at: datetime) -> str:
    return recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_message(position: int, chain_hash: bytes, recorded_at: datetime) -> bytes:
    """The exact bytes a checkpoint's signature covers (see the module's description)."""
    return MESSAGE_HEADER + (
        f"position={int(position)}\n"
        f"chain_hash={chain_hash.hex()}\n"
        f"recorded_at={format_recorded_at(recorded_at)}\n"
    ).encode("ascii")


class CheckpointJSON(TypedDict):
    """A checkpoint in its export form (``Checkpoint.to_json``; ``from_json`` reads it back)."""

    format: str  # EXPORT_FORMAT
    position: int
    chain_hash: str  # hex
    recorded_at: str
    key_id: str
    algorithm: str  # "Ed25519"
    signature: str  # base64
    # base64 of the raw key, when it is known; None where an audit copy says it is not
    public_key: NotRequired[str | None]


@dataclass(frozen=True)
class Checkpoint:
    position: int
    chain_hash: bytes
    recorded_at: datetime
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.position, self.chain_hash, self.recorded_at)

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_json(self, public_key: Ed25519PublicKey | None = None) -> CheckpointJSON:
        entry: CheckpointJSON = {
            "format": EXPORT_FORMAT,
            "position": self.position,
            "chain_hash": self.chain_hash.hex(),
            "recorded_at": format_recorded_at(self.recorded_at),
            "key_id": self.key_id,
            "algorithm": "Ed25519",
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }
        if public_key is not None:
            entry["public_key"] = base64.b64encode(raw_public_key(public_key)).decode("ascii")
        return entry

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Checkpoint:
        return cls(
            position=int(entry["position"]),
            chain_hash=bytes.fromhex(entry["chain_hash"]),
            recorded_at=datetime.fromisoformat(entry["recorded_at"].replace("Z", "+00:00")),
            key_id=str(entry["key_id"]),
            signature=base64.b64decode(entry["signature"], validate=True),
        )


# ---------------------------------------------------------------------- keys


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    source: str  # the setting or file it came from, for messages (never the key itself)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    @property
    def development(self) -> bool:
        return self.source.endswith(DEV_KEY_FILE_NAME)

    def sign(self, position: int, chain_hash: bytes, recorded_at: datetime) -> Checkpoint:
        recorded_at = recorded_at.astimezone(UTC)
        signature = self.private_key.sign(checkpoint_message(position, chain_hash, recorded_at))
        return Checkpoint(position, chain_hash, recorded_at, self.key_id, signature)


def parse_private_key(data: bytes, source: str) -> Ed25519PrivateKey:
    """A PEM private key (PKCS#8, unencrypted), or the raw 32 bytes in base64."""
    data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            raw = base64.b64decode(data, validate=True)
            if len(raw) != 32:
                raise AuditKeyError(source, f"a raw Ed25519 key is 32 bytes, not {len(raw)}")
            key = Ed25519PrivateKey.from_private_bytes(raw)
    except AuditKeyError:
        raise
    except (ValueError, TypeError, binascii.Error) as error:
        raise AuditKeyError(source, f"not an Ed25519 private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(source, f"an Ed25519 key is needed, not {type(key).__name__}")
    return key


def parse_public_keys(data: bytes, source: str) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in ``data``: PEM blocks (a private key's block gives its public
    key), or lines of raw 32-byte public keys in base64."""
    keys: list[Ed25519PublicKey] = []
    try:
        blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
        if blocks:
            for block in blocks:
                if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
                    key: Any = parse_private_key(block, source).public_key()
                else:
                    key = serialization.load_pem_public_key(block)
                if not isinstance(key, Ed25519PublicKey):
                    raise AuditKeyError(source, f"not an Ed25519 key: {type(key).__name__}")
                keys.append(key)
        else:
            for line in data.split():
                raw = base64.b64decode(line, validate=True)
                keys.append(Ed25519PublicKey.from_public_bytes(raw))
    except AuditKeyError:
        raise
    except (ValueError, TypeError, binascii.Error) as error:
        raise AuditKeyError(source, f"not an Ed25519 public key ({error})") from None
    if not keys:
        raise AuditKeyError(source, "holds no public key")
    return keys


def development_key_file(settings: Settings) -> Path:
    return settings.data_dir / DEV_KEY_FILE_NAME


def _create_development_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def signing_key(settings: Settings, *, create: bool = True) -> SigningKey | None:
    """The key checkpoints are signed with: from the settings, else the development key (made
    when missing if ``create``; None when it is missing and not to be made)."""
    if settings.audit_signing_key_file is not None:
        path = settings.audit_signing_key_file
        source = f"SIP_AUDIT_SIGNING_KEY_FILE ({path})"
        try:
            data = path.read_bytes()
        except OSError as error:
            raise AuditKeyError(source, error.strerror or str(error)) from None
        return SigningKey(parse_private_key(data, source), source)
    text = settings.audit_signing_key.get_secret_value() if settings.audit_signing_key else ""
    if text.strip():  # set and not empty
        source = "SIP_AUDIT_SIGNING_KEY"
        return SigningKey(parse_private_key(text.encode("ascii", "replace"), source), source)
    path = development_key_file(settings)
    if not path.exists():
        if not create:
            return None
        _create_development_key(path)
    return SigningKey(parse_private_key(path.read_bytes(), str(path)), str(path))


def trusted_public_keys(
    settings: Settings, files: Iterable[Path] = ()
) -> dict[str, Ed25519PublicKey]:
    """The public keys a verifier trusts, by key id: ``files`` if any were named, else
    ``SIP_AUDIT_PUBLIC_KEY_FILE``, else the signing key's own (never created here)."""
    files = list(files)
    if not files and settings.audit_public_key_file is not None:
        files = [settings.audit_public_key_file]
    keys: list[Ed25519PublicKey] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise AuditKeyError(str(path), error.strerror or str(error)) from None
        keys.extend(parse_public_keys(data, str(path)))
    if not files:
        own = signing_key(settings, create=False)
        if own is not None:
            keys.append(own.public_key)
    return {key_id_of(k): k for k in keys}


def public_key_for(key_id: str, settings: Settings | None = None) -> Ed25519PublicKey | None:
    """The trusted public key with this id (``trusted_public_keys``), or None."""
    return trusted_public_keys(settings or Settings()).get(key_id)


# ---------------------------------------------------------------------- the store


def _tables(datastore: PostgresDatastore) -> tuple[Composed, Composed]:
    return (
        qualified(datastore.schema, CHAIN_TABLE),
        qualified(datastore.schema, CHECKPOINTS_TABLE),
    )


def read_checkpoints(datastore: PostgresDatastore) -> list[Checkpoint]:
    """Every checkpoint in the store, by position."""
    _, checkpoints = _tables(datastore)
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(SQL(
            "SELECT position, chain_hash, recorded_at, key_id, signature FROM {} "
            "ORDER BY position").format(checkpoints))
        return [Checkpoint(int(p), bytes(h), t, k, bytes(s)) for p, h, t, k, s in curs]


def write_checkpoint(
    datastore: PostgresDatastore,
    key: SigningKey,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
) -> Checkpoint | None:
    """Sign the chain's current head and record it; None when there is nothing new to sign (no
    events, or the last checkpoint is at the head already, or another process just did)."""
    chain, checkpoints = _tables(datastore)
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        # Chain rows commit in notification order (the recorder's table lock), so the highest
        # one visible is a head every earlier row of which is committed too.
        head = curs.execute(SQL(
            "SELECT notification_id, hash FROM {} ORDER BY notification_id DESC LIMIT 1"
        ).format(chain)).fetchone()
        if head is None:
            return None
        last = curs.execute(SQL("SELECT max(position) FROM {}").format(checkpoints)).fetchone()
        if last is not None and last[0] is not None and last[0] >= head[0]:
            return None
        # timestamptz keeps microseconds: sign what the table will give back.
        checkpoint = key.sign(int(head[0]), bytes(head[1]), now().astimezone(UTC))
        curs.execute(
            SQL("INSERT INTO {} (position, chain_hash, recorded_at, key_id, signature) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING").format(
                checkpoints),
            (checkpoint.position, checkpoint.chain_hash, checkpoint.recorded_at,
             checkpoint.key_id, checkpoint.signature),
        )
        return checkpoint if curs.rowcount == 1 else None


def export_checkpoints(
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    out: IO[str],
) -> int:
    """Write the checkpoints as JSON lines, each with its public key when known; the count."""
    count = 0
    for checkpoint in checkpoints:
        entry = checkpoint.to_json(public_keys.get(checkpoint.key_id))
        out.write(json.dumps(entry, sort_keys=True) + "\n")
        count += 1
    return count


def read_exported(path: Path) -> tuple[list[Checkpoint], dict[str, Ed25519PublicKey]]:
    """The checkpoints of an export, and the public keys it carries (by key id; a key whose id
    does not match the entry's is left out)."""
    checkpoints: list[Checkpoint] = []
    keys: dict[str, Ed25519PublicKey] = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                checkpoints.append(Checkpoint.from_json(entry))
                if "public_key" in entry:
                    key = Ed25519PublicKey.from_public_bytes(
                        base64.b64decode(entry["public_key"], validate=True))
                    if key_id_of(key) == entry["key_id"]:
                        keys[entry["key_id"]] = key
            except (ValueError, KeyError, TypeError, binascii.Error) as error:
                raise AuditKeyError(f"{path}:{number}", f"not a checkpoint ({error})") from None
    return checkpoints, keys


# ---------------------------------------------------------------------- in the service


class Checkpointer:
    """Writes a checkpoint once ``every_events`` events have come since the last one, or when
    any have and the last is ``every_s`` seconds old (or there is none yet); runs in a thread of
    the HTTP service (``start``/``stop``) and writes a last one when stopped."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        key: SigningKey,
        *,
        every_events: int = 1000,
        every_s: float = 300.0,
        poll_s: float | None = None,
        log: Callable[..., None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        self.datastore = datastore
        self.key = key
        self.every_events = every_events
        self.every_s = every_s
        self.poll_s = poll_s if poll_s is not None else min(2.0, every_s)
        self.log = log or (lambda event, **fields: None)
        self.now = now
        self.stopping = threading.Event()
        self.written = 0
        self._thread: threading.Thread | None = None
        chain, checkpoints = _tables(datastore)
        # Events since the last checkpoint (counted up to every_events, walking the primary key
        # in order: never a scan of the whole chain), and when the last checkpoint was made.
        self._due = SQL(
            "WITH last AS (SELECT position, recorded_at FROM {checkpoints} "
            "ORDER BY position DESC LIMIT 1) "
            "SELECT (SELECT count(*) FROM (SELECT notification_id FROM {chain} "
            "WHERE notification_id > coalesce((SELECT position FROM last), 0) "
            "ORDER BY notification_id LIMIT %s) AS pending), "
            "(SELECT recorded_at FROM last)"
        ).format(chain=chain, checkpoints=checkpoints)

    @classmethod
    def from_settings(
        cls, settings: Settings, datastore: PostgresDatastore, **kwargs: Any
    ) -> Checkpointer:
        key = signing_key(settings)
        assert key is not None
        return cls(
            datastore,
            key,
            every_events=settings.audit_checkpoint_every_events,
            every_s=settings.audit_checkpoint_every_s,
            **kwargs,
        )

    def pending(self) -> tuple[int, datetime | None]:
        """Events since the last checkpoint (up to ``every_events``), and when that was made."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            row = c.execute(self._due, (self.every_events,), prepare=True).fetchone()
        assert row is not None
        return int(row[0]), row[1]

    def run_once(self, *, force: bool = False) -> Checkpoint | None:
        """Write a checkpoint if one is due (or ``force``, and any event is not yet covered)."""
        pending, last_at = self.pending()
        due = pending >= self.every_events or pending > 0 and (
            force or last_at is None
            or (self.now() - last_at).total_seconds() >= self.every_s
        )
        if not due:
            return None
        checkpoint = write_checkpoint(self.datastore, self.key, now=self.now)
        if checkpoint is not None:
            self.written += 1
            self.log("audit checkpoint written", position=checkpoint.position,
                     key_id=checkpoint.key_id)
        return checkpoint

    def run(self) -> None:
        while not self.stopping.wait(self.poll_s):
            try:
                self.run_once()
            except Exception as error:  # noqa: BLE001 - a lost connection: try again next time
                self.log("audit checkpoint failed", error=f"{type(error).__name__}: {error}")
        try:
            self.run_once(force=True)
        except Exception as error:  # noqa: BLE001 - shutting down; the next start catches up
            self.log("audit checkpoint failed", error=f"{type(error).__name__}: {error}")

    def start(self) -> Checkpointer:
        self._thread = threading.Thread(target=self.run, name="audit-checkpointer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
