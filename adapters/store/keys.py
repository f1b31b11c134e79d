"""The key store: one data key per data subject of a case, wrapped by a key-encryption key.

Personal data is sealed in the events under its subject's data key (domain/personal.py says what
and whose); erasing a case (R34) destroys its data keys, and every copy of the data — the events,
their backups, the read models, the snapshots — becomes unreadable at once, while the events and
the hash chain over them stay exactly as they were (crypto-shredding).

- **Data keys**: 256-bit AES-GCM keys from ``cryptography``, one per (case, subject), created on
  first use. A sealed value's envelope is ``{"k": key id, "s": subject, "n": base64(nonce ||
  ciphertext)}``; the key id and subject are bound into the ciphertext as associated data, so an
  envelope moved to another key or subject fails to open.
- **Key-encryption key (KEK)**: data keys are stored only wrapped (AES-GCM) by the KEK, which comes
  from the settings (``SIP_KEK_FILE``), or from any provider with the ``KeyEncryptionKey``
  interface (a KMS or an HSM would wrap and unwrap remotely and never hand out the key). A check
  value in the store tells a wrong KEK at start, before anything is written with it. Rotating the
  KEK re-wraps every data key in one transaction and touches no event.
- **Apart from the event store**: by default its own database on the same server
  (``<database>_keys``), so a backup of the event store carries no keys (README: how to back up
  each; the key store's backups must be kept no longer than the shortest retention, or an
  erasure lives on in them).
- **Erasure**: a destroyed key's row keeps only the day and the decision (a tombstone), so a read
  shows "uppgifter gallrade <day>, beslut <ref>" in place of the value — at any instant, also
  before the erasure — and a key missing *without* a tombstone is reported as such
  (``MissingDataKey``, by case and subject id).

Why by hand: ``cryptography`` does the cryptography; what is left — a table of wrapped keys with
tombstones — is small, and no well-kept library keeps per-subject keys with erasure in
PostgreSQL (the eventsourcing library's ``AESCipher`` encrypts whole events under one key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from domain.errors import RuleViolation
from domain.personal import INDIVIDUAL, DataKeyUnreadable, Envelope, Erasure, MissingDataKey

NONCE_BYTES = 12
# What the check value holds: the KEK that wraps this store's keys opens it to exactly this.
_CHECK = b"sip-ledger key store"
# How long a process keeps an unwrapped data key for reading: an erasure made by another process
# reaches this one's reads within this time (one made here, at once).
KEY_CACHE_S = 2.0
KEY_CACHE_SIZE = 100_000


class KeyStoreError(Exception):
    """The key store cannot be used as configured: one line naming the setting to fix."""


class KeyEncryptionKey(Protocol):
    """What wraps data keys. A file's key here; a KMS provider implements the same three."""

    key_id: str

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class FileKek:
    """A 256-bit KEK read from a file (base64 of 32 bytes, or the 32 raw bytes)."""

    def __init__(self, key: bytes, *, source: str = "SIP_KEK_FILE", development: bool = False):
        if len(key) != 32:
            raise KeyStoreError(f"{source}: a key-encryption key is 32 bytes (base64 of 32 bytes)")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"sip-kek:" + key).hexdigest()[:16]
        self.development = development

    @classmethod
    def from_file(cls, path: Path, *, development: bool = False) -> FileKek:
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise KeyStoreError(
                f"SIP_KEK_FILE: cannot read the key-encryption key {path}: {error.strerror}"
            ) from None
        text = raw if len(raw) == 32 else raw.strip()  # 32 raw bytes may start with a space
        if len(text) != 32:
            try:
                text = base64.b64decode(text, validate=True)
            except ValueError:
                raise KeyStoreError(
                    f"SIP_KEK_FILE: {path} holds no key (base64 of 32 bytes expected)"
                ) from None
        return cls(text, development=development)

    @classmethod
    def development_key(cls, data_dir: Path) -> FileKek:
        """The development KEK, generated once into the data directory (never for production:
        `serve` without --demo refuses it)."""
        path = data_dir / "dev-kek.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64encode(AESGCM.generate_key(bit_length=256)) + b"\n")
        return cls.from_file(path, development=True)

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)


def keys_conninfo(conninfo: str) -> str:
    """The key store's default database: ``<database>_keys`` on the event store's server."""
    params = conninfo_to_dict(conninfo)
    params["dbname"] = f"{params.get('dbname') or 'postgres'}_keys"
    return make_conninfo("", **params)


def _normalised(name: str) -> bytes:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split()).encode()


class KeyStore:
    """Data keys per (case, subject) in PostgreSQL, wrapped by ``kek`` (module docstring)."""

    def __init__(self, conninfo: str, kek: KeyEncryptionKey, *, schema: str = "public",
                 create: bool = True, pool_size: int = 4) -> None:
        self.kek = kek
        self.schema = schema
        if create:
            _ensure_database(conninfo)
        self.pool: ConnectionPool[Any] = ConnectionPool(
            conninfo, min_size=1, max_size=pool_size, open=True, timeout=5.0,
            kwargs={"autocommit": True},
        )
        table = SQL("{}.{}").format(Identifier(schema), Identifier("sip_data_keys"))
        check = SQL("{}.{}").format(Identifier(schema), Identifier("sip_key_store"))
        self._table, self._check = table, check
        self._cache: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        try:
            if create:
                self._create(schema)
            self._check_kek()
        except BaseException:
            self.pool.close()
            raise

    # ------------------------------------------------------------------ set-up

    def _create(self, schema: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
            conn.execute(SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "key_id uuid PRIMARY KEY, case_id uuid NOT NULL, subject text NOT NULL, "
                "wrapped bytea, kek_id text, created_at timestamptz NOT NULL DEFAULT now(), "
                "erased_on date, decision text, UNIQUE (case_id, subject))"
            ).format(self._table))
            conn.execute(SQL(
                "CREATE TABLE IF NOT EXISTS {} (one int PRIMARY KEY CHECK (one = 1), "
                "kek_id text NOT NULL, check_value bytea NOT NULL)"
            ).format(self._check))

    def _check_kek(self) -> None:
        """Refuse a KEK that did not wrap this store's keys, before anything is written."""
        with self.pool.connection() as conn:
            row = conn.execute(SQL("SELECT kek_id, check_value FROM {}").format(self._check)
                               ).fetchone()
            if row is None:
                conn.execute(
                    SQL("INSERT INTO {} VALUES (1, %s, %s) ON CONFLICT DO NOTHING")
                    .format(self._check),
                    (self.kek.key_id, self.kek.wrap(_CHECK, b"check")),
                )
                return
        try:
            opened = self.kek.unwrap(bytes(row[1]), b"check")
        except InvalidTag:
            opened = None
        if opened != _CHECK:
            raise KeyStoreError(
                "SIP_KEK_FILE: the key-encryption key does not open this key store (its keys "
                f"are wrapped by KEK {row[0]}, this one is {self.kek.key_id})"
            )

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------------ the cache

    def _cached(self, key: Any) -> Any:
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            expires, value = hit
            # Only what a read opens expires (an erasure elsewhere reaches reads within
            # KEY_CACHE_S). A key for sealing, by (case, subject), is kept: a command on a case
            # erased elsewhere is refused by the case, or loses its race with the erasure's
            # event, before anything sealed under it is stored.
            sealing = isinstance(key, tuple)
            if expires < time.monotonic() and not sealing and not isinstance(value, Erasure):
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return value

    def _remember(self, key: Any, value: Any) -> None:
        with self._lock:
            self._cache[key] = (time.monotonic() + KEY_CACHE_S, value)
            if len(self._cache) > KEY_CACHE_SIZE:
                self._cache.popitem(last=False)

    def _forget_case(self, case_id: UUID, key_ids: Iterable[UUID] = ()) -> None:
        """Drop the case's keys from the cache: those it sealed with (by case and subject) and
        ``key_ids``, which a process that only opened the case's values has cached by id alone."""
        with self._lock:
            for key in [k for k in self._cache if isinstance(k, tuple) and k[0] == case_id]:
                key_id = self._cache.pop(key)[1][0]
                self._cache.pop(key_id, None)
            for key_id in key_ids:
                self._cache.pop(key_id, None)

    # ------------------------------------------------------------------ data keys

    def _context(self, key_id: UUID, case_id: UUID, subject: str) -> bytes:
        return key_id.bytes + case_id.bytes + subject.encode()

    def subject_key(self, case_id: UUID, subject: str) -> tuple[UUID, bytes]:
        """The subject's data key (created on first use), and its id. A new key takes two round
        trips, the look-up and an insert that returns the row, not a third to read it back (a
        proposal pays them: bench figure ``sealed_over_clear_commands_ratio``); the key is
        generated and wrapped (by a KMS, remotely) only when none is stored, so the common
        look-up of a stored key stays one round trip and no wrap."""
        cached = self._cached((case_id, subject))
        if cached is not None:
            return cached
        created: bytes | None = None
        with self.pool.connection() as conn:
            row = self._select(conn, case_id, subject)
            if row is None:
                key_id, key = uuid4(), AESGCM.generate_key(bit_length=256)
                wrapped = self.kek.wrap(key, self._context(key_id, case_id, subject))
                # Only while the case has no erasure (a stale copy elsewhere must not give an
                # erased case a live key again) and only under the store's current KEK (a
                # process started before a rotation must not wrap keys the new KEK cannot open).
                row = conn.execute(
                    SQL("INSERT INTO {table} (key_id, case_id, subject, wrapped, kek_id) "
                        "SELECT %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM {table} "
                        "WHERE case_id = %s AND erased_on IS NOT NULL) AND EXISTS (SELECT 1 "
                        "FROM {check} WHERE kek_id = %s) "
                        "ON CONFLICT (case_id, subject) DO NOTHING "
                        "RETURNING key_id, wrapped, erased_on")
                    .format(table=self._table, check=self._check),
                    (key_id, case_id, subject, wrapped, self.kek.key_id, case_id,
                     self.kek.key_id),
                ).fetchone()
                if row is None:
                    row = self._select(conn, case_id, subject)  # a racing writer's
                    if row is None:
                        row = self._refused_insert(conn, case_id, subject)
                else:
                    created = key
        assert row is not None
        key_id, wrapped, erased_on = row[0], row[1], row[2]
        if wrapped is None:
            raise RuleViolation(
                f"the personal data of case {case_id} was culled on {erased_on}; nothing more "
                "is recorded about its subjects",
                field="case_id", rule="R34",
            )
        if created is None:
            created = self._unwrap(bytes(wrapped), key_id, case_id, subject)
        result = (key_id, created)
        self._remember((case_id, subject), result)
        self._remember(key_id, result[1])
        return result

    def _unwrap(self, wrapped: bytes, key_id: UUID, case_id: UUID, subject: str) -> bytes:
        try:
            return self.kek.unwrap(wrapped, self._context(key_id, case_id, subject))
        except InvalidTag:
            raise DataKeyUnreadable(case_id, subject) from None

    def _refused_insert(self, conn: psycopg.Connection[Any], case_id: UUID, subject: str) -> Any:
        """Why no key was created: the case is erased (a refusal, R34), or the KEK rotated."""
        erased = conn.execute(
            SQL("SELECT key_id, wrapped, erased_on FROM {} WHERE case_id = %s "
                "AND erased_on IS NOT NULL LIMIT 1").format(self._table), (case_id,),
        ).fetchone()
        if erased is not None:
            return erased
        raise DataKeyUnreadable(case_id, subject)

    def _select(self, conn: psycopg.Connection[Any], case_id: UUID, subject: str) -> Any:
        return conn.execute(
            SQL("SELECT key_id, wrapped, erased_on FROM {} WHERE case_id = %s AND subject = %s")
            .format(self._table), (case_id, subject),
        ).fetchone()

    def _key_by_id(self, key_id: UUID, subject: str) -> bytes | Erasure:
        cached = self._cached(key_id)
        if cached is not None:
            return cached
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL("SELECT case_id, subject, wrapped, erased_on, decision FROM {} "
                    "WHERE key_id = %s").format(self._table), (key_id,),
            ).fetchone()
        if row is None:
            raise MissingDataKey(None, subject)
        case_id, stored_subject, wrapped, erased_on, decision = row
        value: bytes | Erasure
        if wrapped is None:
            if erased_on is None:
                raise MissingDataKey(case_id, stored_subject)
            value = Erasure(on=erased_on, decision=decision or "")
        else:
            value = self._unwrap(bytes(wrapped), key_id, case_id, stored_subject)
        self._remember(key_id, value)
        return value

    # ------------------------------------------------------------------ domain.personal.Sealer

    def seal(self, case_id: UUID, subject: str, plaintext: bytes) -> Envelope:
        key_id, key = self.subject_key(case_id, subject)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext, key_id.bytes + subject.encode())
        return {"k": key_id.hex, "s": subject, "n": base64.b64encode(nonce + sealed).decode()}

    def open(self, envelope: Envelope) -> bytes | Erasure:
        subject = envelope.get("s", "?")
        try:
            key_id = UUID(hex=envelope["k"])
            blob = base64.b64decode(envelope["n"])
        except (KeyError, ValueError):
            raise MissingDataKey(None, subject) from None
        key = self._key_by_id(key_id, subject)
        if isinstance(key, Erasure):
            return key
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                       key_id.bytes + subject.encode())
        except InvalidTag:
            # The envelope was altered, or moved to another key or subject: as unreadable as a
            # missing key, and reported the same way (by subject, never by content).
            raise MissingDataKey(None, subject) from None

    def person_subject(self, case_id: UUID, name: str) -> str:
        """A named person's subject id: a keyed hash of the name under the individual's data key
        of the case, so it is the same in every event and means nothing once that key is gone."""
        _, key = self.subject_key(case_id, INDIVIDUAL)
        return "person:" + hmac.new(key, _normalised(name), hashlib.sha256).hexdigest()[:16]

    def live_subjects(self, case_id: UUID) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                SQL("SELECT subject FROM {} WHERE case_id = %s AND wrapped IS NOT NULL "
                    "ORDER BY subject").format(self._table), (case_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def has_live_keys(self, case_id: UUID) -> bool:
        return bool(self.live_subjects(case_id))

    def erasure_of(self, case_id: UUID) -> Erasure | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL("SELECT erased_on, decision FROM {} WHERE case_id = %s "
                    "AND erased_on IS NOT NULL LIMIT 1").format(self._table), (case_id,),
            ).fetchone()
        return None if row is None else Erasure(on=row[0], decision=row[1] or "")

    def destroy_case(self, case_id: UUID, erased_on: date, decision: str) -> int:
        """Destroy every data key of the case, keeping a tombstone (day, decision) in its place;
        idempotent. The rows' old versions are vacuumed away at once (``vacuum``) by the
        erasing commands."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                SQL("UPDATE {} SET wrapped = NULL, kek_id = NULL, erased_on = %s, decision = %s "
                    "WHERE case_id = %s AND wrapped IS NOT NULL RETURNING key_id")
                .format(self._table),
                (erased_on, decision, case_id),
            )
            destroyed = [row[0] for row in cur.fetchall()]
        self._forget_case(case_id, destroyed)  # an erasure made here is read here at once
        return len(destroyed)

    def vacuum(self) -> None:
        """Reclaim the destroyed keys' old row versions (an UPDATE leaves them on disk until
        VACUUM; they are wrapped, but need not wait for autovacuum)."""
        with self.pool.connection() as conn:
            try:
                conn.execute(SQL("VACUUM {}").format(self._table))
            except psycopg.errors.InsufficientPrivilege:
                pass  # the application role may not; autovacuum will, and the owner's set-up

    # ------------------------------------------------------------------ the KEK

    def rotate(self, new: KeyEncryptionKey) -> int:
        """Re-wrap every live data key under ``new`` in one transaction (no event is touched);
        from then on only ``new`` opens this store."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self._table))
            rows = conn.execute(
                SQL("SELECT key_id, case_id, subject, wrapped FROM {} WHERE wrapped IS NOT NULL")
                .format(self._table)
            ).fetchall()
            for key_id, case_id, subject, wrapped in rows:
                context = self._context(key_id, case_id, subject)
                key = self.kek.unwrap(bytes(wrapped), context)
                conn.execute(
                    SQL("UPDATE {} SET wrapped = %s, kek_id = %s WHERE key_id = %s")
                    .format(self._table), (new.wrap(key, context), new.key_id, key_id),
                )
            conn.execute(
                SQL("UPDATE {} SET kek_id = %s, check_value = %s").format(self._check),
                (new.key_id, new.wrap(_CHECK, b"check")),
            )
        self.kek = new
        return len(rows)


def _ensure_database(conninfo: str) -> None:
    """Create the key store's database when it is missing (first run, embedded server)."""
    params = conninfo_to_dict(conninfo)
    dbname = str(params.get("dbname") or "postgres")
    try:
        psycopg.connect(conninfo, connect_timeout=5).close()
        return
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            raise
    params["dbname"] = "postgres"
    with psycopg.connect(make_conninfo("", **params), autocommit=True) as conn:
        try:
            conn.execute(SQL("CREATE DATABASE {}").format(Identifier(dbname)))
        except psycopg.errors.DuplicateDatabase:
            pass
