"""The event feed's public JSON: one documented, versioned shape per event type of a SIP case.

The feed gives backend services every recorded event of every case, in log order. What a stored
event holds is the ledger's business (projections/events.py reads it); what the feed says is a
published contract, built here from an explicit whitelist per event type. A field not listed
here never reaches a subscriber, so a new attribute in an event stays private until it is
added, documented and, if its meaning changes, given a new ``schema`` version.

Envelope (every event)::

    id            the notification id: the event's position in the log (also the SSE ``id:``)
    type          the event type, e.g. "ConsentRecorded"
    schema        "sip.<type>.v<N>": the shape of ``data`` and ``personal``; a published version
                  never changes meaning, a changed shape gets a new N
    case_id       the case (UUID)
    version       the event's version within its case (1, 2, ...)
    recorded_at   when the ledger recorded it (UTC instant)
    occurred_at   when it happened in the world, where that differs (instant), else null
    on            the day it happened in the world (Swedish local date)
    command_id    the command that caused it; one command can cause several events
    actor         who recorded it: person_id, organisation_id, organisation_kind, unit, role
    data          the public fields below: process facts, organisations, dates, counts
    personal      the personal fields below; present only for a subscriber whose token has the
                  scope ``feed:personal`` (and the role service or auditor) and whose
                  organisation may read the case in full now (R13, adapters/http/routes/feed.py),
                  else left out

Personal data is the individual's identity (personal identity number, name), guardians and other
private persons (names of consent givers, relatives, plan copy recipients, persons approved for
invitation), the names of staff (``actor_name``, ``received_by``), and free text that may hold
health or social data (notes, reasons, wishes, meeting place, plan content, follow-up text). Health
categories (presumed-need groups, discharge from inpatient care) are personal too. Without the
scope a subscriber sees cases only by their UUID.

Per type (schema version 1 for all but EntryCorrected):

SipProposed
    data: proposed_by, municipality {id, kind, name, region}, region {id, kind, name, region},
      need_assessed_by, triggers, plan_type, policy {id, version}, at_discharge, deadlines
    personal: actor_name, personal_identity_number, name, guardians [{name,
      personal_identity_number}], presumed_need_groups, discharge {ready_for_discharge_at,
      named_care_contact_person_id}
SipDeclined
    data: declined_by
    personal: actor_name, note
ConsentRecorded
    data: number, form, given_by (the givers' roles), received_at, valid_from, valid_until,
      organisation_ids, approved_person_count, deadlines
    personal: actor_name, givers [{role, name}], received_by, approved_persons
ConsentWithdrawn
    data: withdrawn_by, deadlines
    personal: actor_name, note
WishesRecorded
    data: given (which wishes were stated: place, time_of_day, longest_minutes, disturbances,
      environment, support, interpreter_language)
    personal: actor_name, wishes {place, time_of_day, longest_minutes, disturbances, environment,
      support, interpreter_language}
MeetingConvened
    data: number, at, invited_on, invitations [{role, organisation_id, organisation_kind}] (a
      private person by role only, organisation_id null), deadlines
    personal: actor_name, place, invitations [{participant_key, role, name, organisation_id,
      reason, expectation}]
ReplyRecorded
    data: reply, participant_organisation_id (null for a private person),
      participant_person_role (the role of a private person, null for an organisation)
    personal: actor_name, participant_key, comment
PlanEstablished, PlanRevised
    data: revision, decided_on, follow_up_date, overall_responsibility, need_count, goal_count,
      intervention_count, responsible [{kind, organisation_id}] (who carries interventions),
      deadlines (PlanEstablished only; a revision's follow-up deadline is in FollowUpRecorded)
    personal: actor_name, content {needs, goals, interventions, overall_responsibility,
      coordination, follow_up_date}
PlanCopyIssued
    data: recipient_role, revision
    personal: actor_name, recipient_name
FollowUpRecorded
    data: held_on, next_follow_up_date, new_need_count, deadlines
    personal: actor_name, what_happened, what_remains, new_needs
ClosureRecorded
    data: organisation_id, reason, deadlines
    personal: actor_name, note
SipClosed
    data: (none)
    personal: actor_name
EntryCorrected (schema version 2; version 1 had data: corrects_version and personal:
actor_name, reason, correction)
    data: corrects_version, corrected_type (the corrected entry's type, null if not recorded),
      item (the number of the meeting, consent, plan revision or follow-up corrected, null for
      a correction in words), changes [{field, old_value, new_value}] (R32: a personal field —
      the meeting's place — with both values null), deadlines (those it recomputed)
    personal: actor_name, reason, correction, changes [{field, old_value, new_value}] (every
      field with its values)
LegalHoldPlaced
    data: reference (the review's or decision's reference, R34)
    personal: actor_name, reason
LegalHoldLifted
    data: (none)
    personal: actor_name, reason
PersonalDataErased
    data: decision (its reference), policy {id, version}, subjects (the data subjects' ids whose
      keys were destroyed), starts_on, due_on (the retention status as computed: null for an
      open case), exemptions, overridden (erased before due, or despite an exemption)
    personal: actor_name, override_reason

``deadlines`` is a list of {key, kind, due, rule, policy_id, policy_version,
responsible_organisation_id}: what the command set, computed when it ran.

Events of the individuals' registers (R09) are not in the feed: they hold only a keyed hash and
case ids, and no subscriber needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict
from uuid import UUID

from pydantic import BaseModel, Field

from adapters.logging import get_logger
from domain.clock import STOCKHOLM
from domain.personal import MissingDataKey, Sealer
from domain.rules.correction import PERSONAL_CORRECTABLE
from projections.events import CASE_TOPIC_PREFIX, CaseEvent, JSONObject, decode, unwrap
from projections.personal import is_sealed, unseal

# A getter reads one published field out of a stored event's JSON (free-form: its shape depends
# on the event type, projections/events.py), giving the field's JSON value.
Getter = Callable[[JSONObject], Any]

log = get_logger(__name__)


# ---------------------------------------------------------------------- the published shapes
# The documented parts above, as the feed sends them (JSON: days and instants as ISO strings).


class FeedOrganisation(TypedDict):
    id: str
    kind: str
    name: str
    region: str


class FeedDeadline(TypedDict):
    key: str
    kind: str
    due: str
    rule: str
    policy_id: str
    policy_version: int
    responsible_organisation_id: str | None


class PublicInvitation(TypedDict):
    role: str
    organisation_id: str | None  # None for a private person
    organisation_kind: str | None


class PersonalInvitation(TypedDict):
    participant_key: str
    role: str
    name: str
    organisation_id: str | None
    reason: str
    expectation: str


class FeedResponsible(TypedDict):
    kind: str
    organisation_id: str | None


class FeedDischarge(TypedDict):
    ready_for_discharge_at: str
    named_care_contact_person_id: str


class FeedGuardian(TypedDict):
    name: str
    personal_identity_number: str | None


class FeedPlanContent(TypedDict):
    needs: list[str]
    goals: list[JSONObject]  # domain.commands.Goal as JSON
    interventions: list[JSONObject]  # domain.commands.Intervention as JSON
    overall_responsibility: str
    coordination: str
    follow_up_date: str


class FeedActorBody(TypedDict):
    person_id: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str


# ``data`` and ``personal``: keyed by the type's field names (SHAPES below), each value the
# field's JSON; which names a ``schema`` has is the published contract, not a static type.
FeedFields = dict[str, object]


class FeedEventBody(TypedDict):
    """One event as the feed sends it (the envelope in this module's docstring)."""

    id: int
    type: str
    schema: str
    case_id: str
    version: int
    recorded_at: str
    occurred_at: str | None
    on: str
    command_id: str
    actor: FeedActorBody
    data: FeedFields
    personal: NotRequired[FeedFields]  # only for a subscriber allowed to read it


class SchemaEntry(TypedDict):
    """One type's entry in ``GET /events/schemas``."""

    schema: str
    public: list[str]
    personal: list[str]


# ---------------------------------------------------------------------- getters on stored events


def attr(name: str) -> Getter:
    return lambda d: unwrap(d.get(name))


def inner(name: str, *path: str) -> Getter:
    def get(d: JSONObject) -> Any:
        value = unwrap(d.get(name))
        for key in path:
            value = value.get(key) if value is not None else None
        return value

    return get


def count(name: str, *path: str) -> Getter:
    get = inner(name, *path)
    return lambda d: len(get(d) or ())


def _deadlines(d: JSONObject) -> list[FeedDeadline]:
    return [unwrap(x) for x in d.get("deadlines") or ()]


def _organisation(name: str) -> Getter:
    def get(d: JSONObject) -> FeedOrganisation:
        o = unwrap(d[name])
        return {"id": o["id"], "kind": o["kind"], "name": o["name"], "region": o["region"]}

    return get


WISHES = ("place", "time_of_day", "longest_minutes", "disturbances", "environment", "support",
          "interpreter_language")


def _wishes_given(d: JSONObject) -> list[str]:
    w = unwrap(d["wishes"])
    return [name for name in WISHES if w.get(name) not in (None, "", [], ())]


def _public_invitations(d: JSONObject) -> list[PublicInvitation]:
    invitations: list[PublicInvitation] = []
    for i in inner("meeting", "invitations")(d):
        p = i["participant"]
        org = p.get("organisation")
        invitations.append({
            "role": p["role"],
            "organisation_id": org["id"] if org else None,
            "organisation_kind": org["kind"] if org else None,
        })
    return invitations


def _participant_key(p: JSONObject) -> str:
    # As domain.commands.Participant.key: an organisation by its id, a person by role and name.
    return p["organisation"]["id"] if p.get("organisation") else f"{p['role']}:{p['name']}"


def _personal_invitations(d: JSONObject) -> list[PersonalInvitation]:
    return [
        {
            "participant_key": _participant_key(i["participant"]),
            "role": i["participant"]["role"],
            "name": i["participant"]["name"],
            "organisation_id": (i["participant"].get("organisation") or {}).get("id"),
            "reason": i["reason"],
            "expectation": i["expectation"],
        }
        for i in inner("meeting", "invitations")(d)
    ]


def _reply_organisation(d: JSONObject) -> str | None:
    key = d["participant_key"]
    if is_sealed(key):  # a private person's "role:name", sealed as personal data
        return None
    return None if ":" in key else str(key)


def _reply_person_role(d: JSONObject) -> str | None:
    # Recorded in clear since ReplyRecorded v2; a version 1 event has it in its key.
    if "participant_role" in d:
        role: str | None = d["participant_role"]
        return role
    key = d["participant_key"]
    return key.split(":", 1)[0] if ":" in key else None


def _responsible(d: JSONObject) -> list[FeedResponsible]:
    seen: dict[tuple[str, str | None], None] = {}
    for i in inner("revision", "content", "interventions")(d):
        r = i["responsible"]
        seen[(r["kind"], r.get("organisation_id"))] = None
    return [{"kind": kind, "organisation_id": org} for kind, org in seen]


def _discharge(d: JSONObject) -> FeedDischarge | None:
    x = unwrap(d.get("discharge"))
    if not x:
        return None
    return {"ready_for_discharge_at": x["ready_for_discharge_at"],
            "named_care_contact_person_id": x["named_care_contact_person_id"]}


def _guardians(d: JSONObject) -> list[FeedGuardian]:
    return [{"name": g["name"], "personal_identity_number": g.get("personal_identity_number")}
            for g in inner("individual", "guardians")(d) or ()]


def _plan_content(d: JSONObject) -> FeedPlanContent:
    c = inner("revision", "content")(d)
    return {"needs": c["needs"], "goals": c["goals"], "interventions": c["interventions"],
            "overall_responsibility": c["overall_responsibility"],
            "coordination": c["coordination"], "follow_up_date": c["follow_up_date"]}


def _plan(deadlines: bool) -> dict[str, Getter]:
    fields: dict[str, Getter] = {
        "revision": inner("revision", "revision"),
        "decided_on": inner("revision", "decided_on"),
        "follow_up_date": inner("revision", "content", "follow_up_date"),
        "overall_responsibility": inner("revision", "content", "overall_responsibility"),
        "need_count": count("revision", "content", "needs"),
        "goal_count": count("revision", "content", "goals"),
        "intervention_count": count("revision", "content", "interventions"),
        "responsible": _responsible,
    }
    if deadlines:
        fields["deadlines"] = _deadlines
    return fields


class FeedChange(TypedDict):
    field: str
    old_value: str | None
    new_value: str | None


def _changes(personal: bool) -> Getter:
    """R32: a correction's fields and values; without ``personal`` a personal field's values
    are left out (PERSONAL_CORRECTABLE)."""

    def get(d: JSONObject) -> list[FeedChange]:
        changes: list[FeedChange] = []
        for ch in inner("correction", "changes")(d) or ():
            hidden = not personal and ch["field"] in PERSONAL_CORRECTABLE
            changes.append({
                "field": ch["field"],
                "old_value": None if hidden else ch["old_value"],
                "new_value": None if hidden else ch["new_value"],
            })
        return changes

    return get


# ---------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Shape:
    """What the feed publishes of one event type: public fields, personal fields, version."""

    version: int
    public: dict[str, Getter]
    personal: dict[str, Getter]


def _shape(public: dict[str, Getter], personal: dict[str, Getter], version: int = 1) -> Shape:
    return Shape(version=version, public=public, personal=personal)


SHAPES: dict[str, Shape] = {
    "SipProposed": _shape(
        public={
            "proposed_by": attr("proposed_by"),
            "municipality": _organisation("municipality"),
            "region": _organisation("region"),
            "need_assessed_by": attr("need_assessed_by"),
            "triggers": attr("triggers"),
            "plan_type": attr("plan_type"),
            "policy": lambda d: {"id": d["policy_id"], "version": d["policy_version"]},
            "at_discharge": lambda d: bool(unwrap(d.get("discharge"))),
            "deadlines": _deadlines,
        },
        personal={
            "personal_identity_number": inner("individual", "personal_identity_number"),
            "name": inner("individual", "name"),
            "guardians": _guardians,
            "presumed_need_groups": attr("presumed_need_groups"),
            "discharge": _discharge,
        },
    ),
    "SipDeclined": _shape(
        public={"declined_by": attr("declined_by")},
        personal={"note": attr("note")},
    ),
    "ConsentRecorded": _shape(
        public={
            "number": inner("consent", "number"),
            "form": inner("consent", "form"),
            "given_by": lambda d: [g["role"] for g in inner("consent", "givers")(d)],
            "received_at": inner("consent", "received_at"),
            "valid_from": inner("consent", "valid_from"),
            "valid_until": inner("consent", "valid_until"),
            "organisation_ids": inner("consent", "organisation_ids"),
            "approved_person_count": count("consent", "approved_persons"),
            "deadlines": _deadlines,
        },
        personal={
            "givers": lambda d: [{"role": g["role"], "name": g["name"]}
                                 for g in inner("consent", "givers")(d)],
            "received_by": inner("consent", "received_by"),
            "approved_persons": inner("consent", "approved_persons"),
        },
    ),
    "ConsentWithdrawn": _shape(
        public={"withdrawn_by": attr("withdrawn_by"), "deadlines": _deadlines},
        personal={"note": attr("note")},
    ),
    "WishesRecorded": _shape(
        public={"given": _wishes_given},
        personal={"wishes": lambda d: {k: unwrap(d["wishes"]).get(k) for k in WISHES}},
    ),
    "MeetingConvened": _shape(
        public={
            "number": inner("meeting", "number"),
            "at": inner("meeting", "at"),
            "invited_on": inner("meeting", "invited_on"),
            "invitations": _public_invitations,
            "deadlines": _deadlines,
        },
        personal={"place": inner("meeting", "place"), "invitations": _personal_invitations},
    ),
    "ReplyRecorded": _shape(
        public={
            "reply": attr("reply"),
            "participant_organisation_id": _reply_organisation,
            "participant_person_role": _reply_person_role,
        },
        personal={"participant_key": attr("participant_key"), "comment": attr("comment")},
    ),
    "PlanEstablished": _shape(public=_plan(deadlines=True), personal={"content": _plan_content}),
    "PlanRevised": _shape(public=_plan(deadlines=False), personal={"content": _plan_content}),
    "PlanCopyIssued": _shape(
        public={"recipient_role": attr("recipient_role"), "revision": attr("revision")},
        personal={"recipient_name": attr("recipient_name")},
    ),
    "FollowUpRecorded": _shape(
        public={
            "held_on": inner("follow_up", "held_on"),
            "next_follow_up_date": inner("follow_up", "next_follow_up_date"),
            "new_need_count": count("follow_up", "new_needs"),
            "deadlines": _deadlines,
        },
        personal={
            "what_happened": inner("follow_up", "what_happened"),
            "what_remains": inner("follow_up", "what_remains"),
            "new_needs": inner("follow_up", "new_needs"),
        },
    ),
    "ClosureRecorded": _shape(
        public={
            "organisation_id": inner("closure", "organisation_id"),
            "reason": inner("closure", "reason"),
            "deadlines": _deadlines,
        },
        personal={"note": inner("closure", "note")},
    ),
    "SipClosed": _shape(public={}, personal={}),
    "EntryCorrected": _shape(
        public={
            "corrects_version": inner("correction", "corrects_version"),
            "corrected_type": inner("correction", "corrected_type"),
            "item": inner("correction", "item"),
            "changes": _changes(personal=False),
            "deadlines": _deadlines,
        },
        personal={
            "reason": inner("correction", "reason"),
            "correction": inner("correction", "correction"),
            "changes": _changes(personal=True),
        },
        version=2,
    ),
    "LegalHoldPlaced": _shape(
        public={"reference": attr("reference")},
        personal={"reason": attr("reason")},
    ),
    "LegalHoldLifted": _shape(public={}, personal={"reason": attr("reason")}),
    "PersonalDataErased": _shape(
        public={
            "decision": attr("decision"),
            "policy": lambda d: {"id": d["policy_id"], "version": d["policy_version"]},
            "subjects": attr("subjects"),
            "starts_on": attr("starts_on"),
            "due_on": attr("due_on"),
            "exemptions": attr("exemptions"),
            "overridden": lambda d: d.get("override_reason") is not None,
        },
        personal={"override_reason": attr("override_reason")},
    ),
}

EVENT_TYPES: tuple[str, ...] = tuple(SHAPES)
# Every case event type, for the log query ("topic = ANY(...)").
FeedEventType = StrEnum("FeedEventType", {t: t for t in EVENT_TYPES})  # type: ignore[misc]


def topic_of(event_type: str) -> str:
    return CASE_TOPIC_PREFIX + event_type


def schema_of(event_type: str) -> str:
    return f"sip.{event_type}.v{SHAPES[event_type].version}"


def catalogue() -> dict[str, SchemaEntry]:
    """Each type's schema id and field names (``GET /events/schemas``)."""
    return {
        t: {
            "schema": schema_of(t),
            "public": list(s.public),
            "personal": ["actor_name", *s.personal],
        }
        for t, s in SHAPES.items()
    }


# ---------------------------------------------------------------------- building feed events


def _instant(value: str | None) -> str | None:
    """A caller's naive time means Swedish local time (domain/clock.py): say so."""
    if value is None:
        return None
    instant = datetime.fromisoformat(value)
    return value if instant.tzinfo else instant.replace(tzinfo=STOCKHOLM).isoformat()


def feed_event(e: CaseEvent, *, personal: bool, keys: Sealer | None = None
               ) -> FeedEventBody | None:
    """The public JSON of one case event (None for a type the feed does not publish); with
    ``personal``, its personal fields opened with ``keys`` (projections/personal.py)."""
    shape = SHAPES.get(e.type)
    if shape is None:
        return None
    d = e.data
    actor = e.actor
    organisation = actor["organisation"]
    body: FeedEventBody = {
        "id": e.notification_id,
        "type": e.type,
        "schema": f"sip.{e.type}.v{shape.version}",
        "case_id": str(e.case_id),
        "version": e.version,
        "recorded_at": e.recorded_at,
        "occurred_at": _instant(e.occurred_at),
        "on": e.on,
        "command_id": str(UUID(unwrap(d["command_id"]))),
        "actor": {
            "person_id": actor["person_id"],
            "organisation_id": organisation["id"],
            "organisation_kind": organisation["kind"],
            "unit": actor.get("unit", ""),
            "role": actor["role"],
        },
        "data": {name: get(d) for name, get in shape.public.items()},
    }
    if personal:
        try:
            opened = unseal(d, keys)
        except MissingDataKey as error:
            # One unreadable event (a key store restored from too old a backup) must not stop
            # the feed for everyone: it goes out without its personal part, and is logged by id.
            log.warning("personal data of a feed event not readable", rule="R34",
                        notification_id=e.notification_id, case_id=str(e.case_id),
                        subject=error.subject)
            return body
        body["personal"] = {
            "actor_name": actor["name"],
            **{name: get(opened) for name, get in shape.personal.items()},
        }
    return body


def feed_event_from_row(
    notification_id: int, originator_id: UUID, originator_version: int, topic: str,
    state: bytes, *, personal: bool, keys: Sealer | None = None,
) -> FeedEventBody | None:
    """A stored notification row as a feed event, or None (another aggregate's event)."""
    e = decode(notification_id, originator_id, originator_version, topic, state)
    return None if e is None else feed_event(e, personal=personal, keys=keys)


# ---------------------------------------------------------------------- OpenAPI models


class FeedActor(BaseModel):
    """Who recorded the event. The person's name is personal (``personal.actor_name``)."""

    person_id: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str


class FeedEvent(BaseModel):
    """One event of a SIP case, in the feed's published shape (see ``schema``)."""

    id: int = Field(description="Notification id: the position in the log, the SSE id")
    type: str = Field(description="Event type, e.g. ConsentRecorded", examples=["SipProposed"])
    schema_: str = Field(alias="schema", description="Shape and version: sip.<type>.v<N>",
                         examples=["sip.SipProposed.v1"])
    case_id: UUID
    version: int = Field(description="The event's version within its case")
    recorded_at: str = Field(description="When the ledger recorded it (UTC instant, ISO 8601)")
    occurred_at: str | None = Field(
        description="When it happened in the world, where that differs from recorded_at")
    on: str = Field(description="The day it happened in the world (Swedish local date)")
    command_id: UUID
    actor: FeedActor
    # An object keyed by the type's field names rather than a union of per-type models: the
    # shape is chosen by `schema` (sip.<type>.v<N>), whose versions are a published contract
    # that grows per type (this module's docstring); a union would tie every subscriber's
    # generated client to every type's current version.
    data: dict[str, Any] = Field(
        description="The type's public fields: their names for each `schema` are listed by "
        "GET /events/schemas (`public`), their meaning in the feed's documentation "
        "(adapters/feed/events.py); a published `schema` version never changes meaning",
        examples=[{"declined_by": "individual"}])
    personal: dict[str, Any] | None = Field(
        default=None,
        description="The type's personal fields (GET /events/schemas, `personal`): present "
        "only with the token scope feed:personal and a caller's organisation that may read the "
        "case in full now (R13); personal data (R35)",
        examples=[{"actor_name": "Anna Andersson", "note": "Vill inte ha någon plan"}])


class FeedPage(BaseModel):
    """A page of the feed. Ask again with ``after=next_after`` for the next one."""

    events: list[FeedEvent]
    next_after: int = Field(
        description="The position read up to (filtered-out events included): the next after")
    head: int = Field(description="The log's last position when the page was read")


class FeedSchema(BaseModel):
    schema_: str = Field(alias="schema")
    public: list[str]
    personal: list[str]
