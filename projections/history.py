"""Case history: every event of a case in order, with who, when, and a one-line summary; and the
index from recording time to version that answers "the case as it stood at instant T".

The summary is for a reader scanning a timeline, so it carries no personal data: participants
who are persons are named by their role, free text (notes, reasons) is left out. The full event
is always in the log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypedDict
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable, Composed, Identifier

from domain.case import SipCase
from domain.clock import STOCKHOLM
from domain.ledger import SipLedger
from domain.rules.correction import PERSONAL_CORRECTABLE

from .events import CaseEvent, unwrap
from .read_model import Folds, ReadModel
from .rows import typed_rows
from .storage import qualified


def _occurred_at(e: CaseEvent) -> str | None:
    """When it happened in the world, as an instant. A caller's naive time means Swedish local
    time (domain/clock.py), not whatever time zone the database session has."""
    value = e.occurred_at
    if value is None:
        return None
    instant = datetime.fromisoformat(value)
    return value if instant.tzinfo else instant.replace(tzinfo=STOCKHOLM).isoformat()


def _deadline_due(e: CaseEvent, kind: str) -> str | None:
    for value in e.data.get("deadlines", ()):
        d = unwrap(value)
        if d["kind"] == kind:
            due: str = d["due"]
            return due
    return None


def _proposed(e: CaseEvent) -> str:
    d = e.data
    text = f"SIP proposed ({d['plan_type']}, by {d['proposed_by'].replace('_', ' ')})"
    if d.get("discharge"):
        text += " at discharge from inpatient care"
    if due := _deadline_due(e, "start"):
        text += f"; start due {due}"
    return text


def _consent(e: CaseEvent) -> str:
    c = unwrap(e.data["consent"])
    givers = ", ".join(sorted({g["role"] for g in c["givers"]}))
    return (
        f"Consent {c['number']} recorded ({c['form']}, given by {givers}), valid "
        f"{c['valid_from']} to {c['valid_until']} for {len(c['organisation_ids'])} organisations"
    )


def _meeting(e: CaseEvent) -> str:
    m = unwrap(e.data["meeting"])
    # In Swedish local time, as the meeting's day is (a naive time already is local).
    at = datetime.fromisoformat(m["at"])
    local = at.astimezone(STOCKHOLM) if at.tzinfo else at
    return (
        f"Meeting {m['number']} convened for {local:%Y-%m-%d %H:%M}, "
        f"{len(m['invitations'])} invited"
    )


def _reply(e: CaseEvent) -> str:
    key = e.data["participant_key"]
    role = e.data.get("participant_role")  # ReplyRecorded v2: a person's key is sealed
    if role:
        who = str(role)
    else:
        who = key.split(":", 1)[0] if ":" in key else key  # a person by role, an org by id
    return f"Reply from {who}: {e.data['reply']}"


def _plan(e: CaseEvent, verb: str) -> str:
    r = unwrap(e.data["revision"])
    content = r["content"]
    return (
        f"Plan {verb} (revision {r['revision']}, decided {r['decided_on']}): "
        f"{len(content['needs'])} needs, {len(content['goals'])} goals, "
        f"{len(content['interventions'])} interventions; follow-up by {content['follow_up_date']}"
    )


def _follow_up(e: CaseEvent) -> str:
    f = unwrap(e.data["follow_up"])
    return f"Follow-up held {f['held_on']}; next follow-up by {f['next_follow_up_date']}"


def _closure(e: CaseEvent) -> str:
    c = unwrap(e.data["closure"])
    return f"Closure documented by {c['organisation_id']} ({c['reason'].replace('_', ' ')})"


def _local_instant(value: str) -> str:
    # In Swedish local time, as the meeting's summary shows it (a naive time already is local).
    at = datetime.fromisoformat(value)
    return f"{at.astimezone(STOCKHOLM) if at.tzinfo else at:%Y-%m-%d %H:%M}"


def _corrected_value(field: str, value: Any) -> str:
    return _local_instant(value) if field == "meeting_at" else str(value)


def _correction(e: CaseEvent) -> str:
    """R32: which entry, and each corrected field with both values — but a personal field's
    (PERSONAL_CORRECTABLE: the meeting's place) by its name only; the deadlines recomputed."""
    c = unwrap(e.data["correction"])
    entry = f"Entry {c['corrects_version']}"
    if c.get("corrected_type"):
        entry += f" ({c['corrected_type']})"
    parts = []
    for change in c.get("changes") or ():
        field = change["field"]
        if field in PERSONAL_CORRECTABLE:
            parts.append(f"{field} corrected")
        else:
            old, new = change["old_value"], change["new_value"]
            was = "none" if old is None else _corrected_value(field, old)
            parts.append(f"{field} {was} → {_corrected_value(field, new)}")
    for value in e.data.get("deadlines") or ():
        d = unwrap(value)
        parts.append(f"deadline {d['key']} now due {d['due']}")
    if not parts:
        return f"{entry} corrected in words"
    return f"{entry} corrected: " + "; ".join(parts)


def _erasure(e: CaseEvent) -> str:
    """R34: the decided act, by its decision and policy; no personal data (the subjects by
    count)."""
    d = e.data
    text = (f"Personal data erased under decision {d['decision']} (policy {d['policy_id']} "
            f"version {d['policy_version']}, {len(d.get('subjects') or ())} data subjects)")
    if d.get("override_reason") is not None:
        text += "; before it was due, with a recorded reason"
    return text


SUMMARIES: dict[str, Callable[[CaseEvent], str]] = {
    "SipProposed": _proposed,
    "SipDeclined": lambda e: f"SIP declined by the {e.data['declined_by']}",
    "ConsentRecorded": _consent,
    "ConsentWithdrawn": lambda e: (
        f"Consent withdrawn by the {e.data['withdrawn_by']}; planning closes"
    ),
    "WishesRecorded": lambda e: "The individual's wishes for the plan recorded",
    "MeetingConvened": _meeting,
    "ReplyRecorded": _reply,
    "PlanEstablished": lambda e: _plan(e, "established"),
    "PlanCopyIssued": lambda e: (
        f"Copy of plan revision {e.data['revision']} issued to the {e.data['recipient_role']}"
    ),
    "FollowUpRecorded": _follow_up,
    "PlanRevised": lambda e: _plan(e, "revised"),
    "ClosureRecorded": _closure,
    "SipClosed": lambda e: "SIP closed: every principal has documented closure",
    "EntryCorrected": _correction,
    "LegalHoldPlaced": lambda e: (
        "Legal hold placed (R34)"
        + (f", reference {e.data['reference']}" if e.data.get("reference") else "")
    ),
    "LegalHoldLifted": lambda e: "Legal hold lifted (R34)",
    "PersonalDataErased": _erasure,
}


def summarise(e: CaseEvent) -> str:
    summary = SUMMARIES.get(e.type)
    return summary(e) if summary else e.type


class CaseHistory(ReadModel):
    name = "history"
    # 2: a correction's summary names the corrected fields and values (R32).
    schema_version = 2
    tables = ("rm_case_history",)
    columns = (
        "case_id", "version", "notification_id", "event_type", "recorded_at", "occurred_at",
        "on_day", "actor_person_id", "actor_organisation_id", "actor_organisation_kind",
        "actor_unit", "actor_role", "command_id", "summary",
    )

    def create_statements(self) -> list[SQL | Composed]:
        t = self.table("rm_case_history")
        return [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "case_id uuid NOT NULL, version int NOT NULL, notification_id bigint NOT NULL, "
                "event_type text NOT NULL, recorded_at timestamptz NOT NULL, "
                "occurred_at timestamptz, on_day date NOT NULL, actor_person_id text NOT NULL, "
                "actor_organisation_id text NOT NULL, actor_organisation_kind text NOT NULL, "
                "actor_unit text NOT NULL, actor_role text NOT NULL, command_id uuid NOT NULL, "
                # The key carries the recording time: the index from recording time to
                # version that finds the case as of an instant, read without the table.
                "summary text NOT NULL, PRIMARY KEY (case_id, version) INCLUDE (recorded_at))"
            ).format(t),
        ]

    def apply(self, curs: Cursor[Any], events: Sequence[CaseEvent], folds: Folds) -> None:
        columns = SQL(", ").join(Identifier(c) for c in self.columns)
        with curs.copy(
            SQL("COPY {} ({}) FROM STDIN").format(self.table("rm_case_history"), columns)
        ) as copy:
            for e in events:
                actor = e.actor
                org = actor["organisation"]
                copy.write_row((
                    e.case_id, e.version, e.notification_id, e.type, e.recorded_at,
                    _occurred_at(e), e.on, actor["person_id"], org["id"], org["kind"],
                    actor["unit"], actor["role"], unwrap(e.data["command_id"]), summarise(e),
                ))


# ------------------------------------------------------------------------ queries


def _table(schema: str) -> Composable:
    return qualified(schema, "rm_case_history")


class HistoryRow(TypedDict):
    """One event of a case as the history keeps it (``GET /cases/{id}/history``)."""

    version: int
    notification_id: int
    event_type: str
    recorded_at: datetime
    occurred_at: datetime | None
    on_day: date
    actor_person_id: str | None  # None once a restricted view has left it out
    actor_organisation_id: str
    actor_organisation_kind: str
    actor_unit: str
    actor_role: str
    command_id: UUID
    summary: str


def case_history(curs: Cursor[Any], schema: str, case_id: UUID) -> list[HistoryRow]:
    """Every event of the case in order (by version)."""
    return typed_rows(
        curs, HistoryRow,
        SQL(
            "SELECT version, notification_id, event_type, recorded_at, occurred_at, on_day, "
            "actor_person_id, actor_organisation_id, actor_organisation_kind, actor_unit, "
            "actor_role, command_id, summary FROM {} WHERE case_id = %s ORDER BY version"
        ).format(_table(schema)),
        (case_id,),
    )


def version_at(curs: Cursor[Any], schema: str, case_id: UUID, instant: datetime) -> int | None:
    """The case's version as recorded at ``instant`` (None: the case did not exist yet)."""
    curs.execute(
        SQL("SELECT max(version) AS version FROM {} WHERE case_id = %s AND recorded_at <= %s")
        .format(_table(schema)),
        (case_id, instant),
    )
    row = curs.fetchone()
    return row["version"] if row else None


def case_as_of(
    ledger: SipLedger, curs: Cursor[Any], schema: str, case_id: UUID, instant: datetime
) -> SipCase | None:
    """The case as it stood at ``instant``: the history's index gives the version recorded by
    then, the library's repository replays the case's events up to it. None if the case did not
    exist yet."""
    version = version_at(curs, schema, case_id, instant)
    if version is None:
        return None
    return ledger.get_case(case_id, version=version)
