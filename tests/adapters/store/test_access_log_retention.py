"""The access log's own retention (R33, R34): rows older than the period are culled through the
owner's one function, never younger than five years, never by a plain DELETE, and never by a
role the owner has not granted the function to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from adapters.store.access_log import CULL_FUNCTION, CULL_SETTING, TABLE, AccessLog
from domain.errors import RuleViolation
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.store


@pytest.fixture
def access_log(fresh_store: Store) -> Iterator[AccessLog]:
    datastore = fresh_store.datastore()
    log = AccessLog(datastore, individual_secret=TEST_SECRET)
    log.setup()
    yield log
    datastore.close()


def _table(store: Store) -> SQL:
    return SQL("{}.{}").format(Identifier(store.schema), Identifier(TABLE))


def _rows_aged(store: Store, *ages: timedelta) -> None:
    """Rows read ``age`` ago (written as the test server's superuser: the log's own ``record``
    always writes now)."""
    with store.connect(autocommit=True) as conn:
        for age in ages:
            conn.execute(
                SQL("INSERT INTO {} (at, person_id, organisation_id, organisation_kind, role, "
                    "action, outcome) VALUES (now() - %s, 'hsa-1', 'kommun-boras', 'kommun', "
                    "'coordinator', 'read_plan', 'granted')").format(_table(store)),
                (age,),
            )


def _count(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(SQL("SELECT count(*) FROM {}").format(_table(store))).fetchone()[0]


YEAR = timedelta(days=365)


def test_rows_past_the_period_are_culled_and_younger_ones_kept(
    access_log: AccessLog, fresh_store: Store
) -> None:
    _rows_aged(fresh_store, 7 * YEAR, 6 * YEAR, 5 * YEAR + timedelta(days=10),
               4 * YEAR, timedelta(0))
    cutoff = datetime.now(tz=UTC) - 5 * YEAR - timedelta(days=5)
    assert access_log.count_before(cutoff) == 3
    assert access_log.cull(cutoff) == 3
    assert _count(fresh_store) == 2
    assert access_log.count_before(cutoff) == 0
    assert access_log.cull(cutoff) == 0  # a rerun finds nothing left


def test_the_floor_is_five_years_whatever_the_cutoff(
    access_log: AccessLog, fresh_store: Store
) -> None:
    _rows_aged(fresh_store, 6 * YEAR, 2 * YEAR)
    with pytest.raises(RuleViolation, match="kept at least 5 years") as refused:
        access_log.cull(datetime.now(tz=UTC) - YEAR)
    assert (refused.value.rule, refused.value.field) == ("R33", "before")
    assert _count(fresh_store) == 2
    floor = access_log.cull_floor()
    assert abs((datetime.now(tz=UTC) - floor) - 5 * YEAR) < timedelta(days=3)
    assert access_log.cull(floor) == 1


def test_a_plain_delete_is_refused_even_with_the_setting_forged(
    access_log: AccessLog, fresh_store: Store
) -> None:
    _rows_aged(fresh_store, 6 * YEAR, YEAR)
    with fresh_store.connect() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(SQL("DELETE FROM {}").format(_table(fresh_store)))
        conn.rollback()
        # The setting names an instant only a year ago: the guard holds the floor itself.
        conn.execute("SELECT set_config(%s, (now() - interval '1 year')::text, true)",
                     (CULL_SETTING,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(SQL("DELETE FROM {}").format(_table(fresh_store)))
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(SQL("TRUNCATE {}").format(_table(fresh_store)))
    assert _count(fresh_store) == 2


def test_a_role_without_execute_cannot_cull(
    access_log: AccessLog, fresh_store: Store, database_url: str
) -> None:
    _rows_aged(fresh_store, 6 * YEAR)
    role = f"sip_reader_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE ROLE {} NOLOGIN").format(Identifier(role)))
        try:
            conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                Identifier(fresh_store.schema), Identifier(role)))
            conn.execute(SQL("GRANT SELECT, INSERT ON {} TO {}").format(
                _table(fresh_store), Identifier(role)))
            with conn.transaction():
                conn.execute(SQL("SET LOCAL ROLE {}").format(Identifier(role)))
                with pytest.raises(psycopg.errors.InsufficientPrivilege,
                                   match="permission denied"):
                    conn.execute(SQL("SELECT {}.{}(now() - interval '6 years')").format(
                        Identifier(fresh_store.schema), Identifier(CULL_FUNCTION)))
        finally:
            conn.execute(SQL("DROP OWNED BY {}").format(Identifier(role)))
            conn.execute(SQL("DROP ROLE {}").format(Identifier(role)))
    assert _count(fresh_store) == 1


def test_a_log_set_up_by_the_previous_release_is_brought_up_to_date(
    fresh_store: Store,
) -> None:
    datastore = fresh_store.datastore()
    try:
        log = AccessLog(datastore, individual_secret=TEST_SECRET)
        log.setup()
        # What the previous release's set-up left: one trigger refusing UPDATE and DELETE.
        with fresh_store.connect(autocommit=True) as conn:
            conn.execute(SQL("DROP TRIGGER {} ON {}").format(
                Identifier(f"{TABLE}_cull_only"), _table(fresh_store)))
            conn.execute(SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE UPDATE OR DELETE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION {}.sip_refuse_change()").format(
                Identifier(f"{TABLE}_append_only"), _table(fresh_store),
                Identifier(fresh_store.schema)))
        _rows_aged(fresh_store, 6 * YEAR)
        with pytest.raises(RuleViolation):
            log.cull(datetime.now(tz=UTC) - 5 * YEAR - timedelta(days=5))
        log.setup()
        assert log.cull(datetime.now(tz=UTC) - 5 * YEAR - timedelta(days=5)) == 1
        _rows_aged(fresh_store, timedelta(0))  # UPDATE stays refused (a row for it to refuse)
        with fresh_store.connect() as conn, pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(SQL("UPDATE {} SET unit = 'x'").format(_table(fresh_store)))
    finally:
        datastore.close()
