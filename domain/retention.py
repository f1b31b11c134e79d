"""Retention (R34): how long each record class is kept, as versioned policy data, and whether a
case's personal data falls due for culling (gallring).

A policy is data like the deadline policies (domain/deadlines.py): the period, what starts it,
the exemptions, and the legal reference of each, all written as text in the policy. The law
changes (socialtjänstlagen 2001:453 gave way to 2025:400 on 2025-07-01); a change in the law or
in a municipality's decision is a new *version* of the policy, never an edit of a published one,
because every erasure records the policy id and version it was decided under (R34) and must
still say what that version said.

Periods count in calendar years as Swedish law counts them (lag 1930:173 om beräkning av
lagstadgad tid): a time of N years ends on the day with the same number N years later, or on the
last day of that month when it has no such day (29 February). The data is kept through that day
and falls due the day after: a case closed exactly five years ago is not due, five years and a
day is.

The hold and erasure states of a case (``LegalHold``, ``ErasureState``) live here too: they are
stored, by class name, in snapshots (domain/transcodings.py).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from .errors import InvalidInput
from .identity import birth_date
from .parties import Actor, Frozen


class RetentionStart(StrEnum):
    """What starts a retention period: the day of the case's last entry, or its closure."""

    LAST_ENTRY = "last_entry"
    CLOSURE = "closure"


class RecordClass(StrEnum):
    """The kinds of record a policy is written for."""

    SOCIAL_SERVICES_FILE = "social_services_file"  # personakt i socialtjänsten
    HEALTH_RECORD = "health_record"  # patientjournal
    ACCESS_LOG = "access_log"  # the log of reads of personal data (R33)


class ExemptionKind(StrEnum):
    """Why a case's personal data is kept past its period; the codes ``RetentionStatus`` lists
    (``already_erased`` is no exemption a policy grants: there is nothing left to cull)."""

    BORN_ON_RESEARCH_DAY = "born_on_research_day"
    MUNICIPALITY = "municipality"
    LEGAL_HOLD = "legal_hold"
    ALREADY_ERASED = "already_erased"


class Exemption(Frozen):
    """One exemption a policy grants, with what it applies to and the law that grants it."""

    kind: ExemptionKind
    legal_reference: str
    description: str
    # BORN_ON_RESEARCH_DAY: the days of the month of birth whose records are kept.
    birth_days: tuple[int, ...] = ()
    # MUNICIPALITY: the municipalities (organisation ids) whose records are kept.
    municipality_ids: tuple[str, ...] = ()


class RetentionPolicy(Frozen):
    id: str
    version: int
    name: str
    record_class: RecordClass
    period_years: int
    starts_at: RetentionStart
    # The law the period comes from, as text: data, like every other part of the policy.
    legal_reference: str
    exemptions: tuple[Exemption, ...] = ()

    def exemption(self, kind: ExemptionKind) -> Exemption | None:
        return next((e for e in self.exemptions if e.kind is kind), None)

    def keep_until(self, starts_on: date) -> date:
        """The last day the data is kept."""
        return add_years(starts_on, self.period_years)

    def due_on(self, starts_on: date) -> date:
        """The first day the data may be culled: the day after the period ends."""
        return self.keep_until(starts_on) + timedelta(days=1)

    def latest_due_start(self, as_of: date) -> date:
        """The latest start day whose data is due on ``as_of``: a record that started on this
        day or before falls due (for records culled in bulk, such as the access log's rows)."""
        day = add_years(as_of, -self.period_years)
        while self.due_on(day + timedelta(days=1)) <= as_of:
            day += timedelta(days=1)
        while self.due_on(day) > as_of:
            day -= timedelta(days=1)
        return day


def add_years(day: date, years: int) -> date:
    """``day`` moved by whole years; 29 February becomes the 28th in a year without one (lag
    1930:173: the period ends on the last day of the month when the month has no such day)."""
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


# A legal hold keeps any case, under any policy: processing needed for legal claims or a review
# is not covered by the duty to erase.
_LEGAL_HOLD = Exemption(
    kind=ExemptionKind.LEGAL_HOLD,
    legal_reference="GDPR art. 17.3 e; arkivlagen (1990:782) 10 §",
    description="A case under legal hold (a review, a complaint, a court case) is kept until "
    "the hold is lifted.",
)

DEFAULT_RETENTION_POLICY = "socialtjanst"

# The references are data: when the law changes, add a new version below with the new text and
# leave the old one as it is (recorded erasures name it).
_POLICIES: dict[tuple[str, int], RetentionPolicy] = {
    (p.id, p.version): p
    for p in (
        RetentionPolicy(
            id="socialtjanst",
            version=1,
            name="Socialtjänstens personakter: gallras fem år efter sista anteckningen",
            record_class=RecordClass.SOCIAL_SERVICES_FILE,
            period_years=5,
            starts_at=RetentionStart.LAST_ENTRY,
            legal_reference="socialtjänstlagen (2001:453) 12 kap. 2 §; från 2025-07-01 "
            "socialtjänstlagen (2025:400)",
            exemptions=(
                Exemption(
                    kind=ExemptionKind.BORN_ON_RESEARCH_DAY,
                    legal_reference="socialtjänstförordningen (2001:937) 7 kap. 1 §",
                    description="Kept for research: the records of people born on the 5th, "
                    "15th and 25th of a month.",
                    birth_days=(5, 15, 25),
                ),
                Exemption(
                    kind=ExemptionKind.MUNICIPALITY,
                    legal_reference="socialtjänstförordningen (2001:937) 7 kap. 2 §",
                    description="Kept for research: every record of the municipalities named "
                    "(none in this version).",
                    municipality_ids=(),
                ),
                _LEGAL_HOLD,
            ),
        ),
        RetentionPolicy(
            id="halso-och-sjukvard",
            version=1,
            name="Patientjournaler: bevaras minst tio år efter sista anteckningen",
            record_class=RecordClass.HEALTH_RECORD,
            period_years=10,
            starts_at=RetentionStart.LAST_ENTRY,
            legal_reference="patientdatalagen (2008:355) 3 kap. 17 §",
            exemptions=(_LEGAL_HOLD,),
        ),
        RetentionPolicy(
            # Each row of the access log is a record of its own whose only entry is the read.
            id="atkomstlogg",
            version=1,
            name="Åtkomstloggen: sparas fem år efter läsningen",
            record_class=RecordClass.ACCESS_LOG,
            period_years=5,
            starts_at=RetentionStart.LAST_ENTRY,
            legal_reference="HSLF-FS 2016:40 4 kap. 9 §; för socialtjänsten Socialstyrelsens "
            "föreskrifter (SOSFS) om dokumentation",
        ),
    )
}


def retention_policy(policy_id: str, version: int | None = None) -> RetentionPolicy:
    """A policy by id, at ``version`` or its latest; an unknown one is refused naming
    ``policy_id``."""
    versions = [p for (pid, _), p in _POLICIES.items() if pid == policy_id]
    chosen = (
        max(versions, key=lambda p: p.version)
        if version is None and versions
        else next((p for p in versions if p.version == version), None)
    )
    if chosen is None:
        known = ", ".join(sorted({pid for pid, _ in _POLICIES}))
        what = f"{policy_id!r}" if version is None else f"{policy_id!r} version {version}"
        raise InvalidInput(
            f"unknown retention policy {what}; known policies: {known}",
            field="policy_id",
            rule="R34",
        )
    return chosen


def known_retention_policies() -> list[RetentionPolicy]:
    return sorted(_POLICIES.values(), key=lambda p: (p.id, p.version))


# ---------------------------------------------------------------------- the states of a case


class LegalHold(Frozen):
    """An active legal hold on a case (R34): the case is never erased while it holds."""

    reason: str
    reference: str
    placed_on: date
    placed_by: Actor


class ErasureState(Frozen):
    """A case's recorded erasure: its personal data was culled (R34). What happened, and who
    decided it, outlives the data."""

    on: date
    decision: str
    policy_id: str
    policy_version: int
    subjects: tuple[str, ...]
    override_reason: str | None
    erased_by: Actor


# ---------------------------------------------------------------------- the status of a case


class RetentionStatus(Frozen):
    """Whether a case's personal data falls due for culling on ``as_of`` under a policy, and
    why. ``starts_on`` and ``due_on`` are None while the case is open (nothing starts before it
    has ended); ``due_on`` is the first day the data may be culled, exemptions aside."""

    case_id: UUID
    due: bool
    due_on: date | None
    starts_on: date | None
    start_kind: RetentionStart
    policy_id: str
    policy_version: int
    exemptions: tuple[ExemptionKind, ...]
    reason: str


class _Individual(Protocol):
    @property
    def personal_identity_number(self) -> str: ...


class _Organisation(Protocol):
    @property
    def id(self) -> str: ...


class RetainedCase(Protocol):
    """What retention reads of a case (domain.case.SipCase, which imports this module)."""

    @property
    def id(self) -> UUID: ...

    @property
    def individual(self) -> _Individual: ...

    @property
    def municipality(self) -> _Organisation: ...

    @property
    def is_ended(self) -> bool: ...

    @property
    def ended_on(self) -> date | None: ...

    @property
    def last_entry_on(self) -> date: ...

    @property
    def legal_hold(self) -> LegalHold | None: ...

    @property
    def erasure(self) -> ErasureState | None: ...


# After erasure the number is a marker string (domain/personal.py); only a number has a birth day.
_PIN = re.compile(r"^\d{8}-\d{4}$")


def birth_day_of_month(personal_identity_number: str) -> int | None:
    """The day of the month of birth (a coordination number's day less 60), or None when the
    value is no personal identity number (an erased one is a marker)."""
    if not _PIN.match(personal_identity_number):
        return None
    try:
        return birth_date(personal_identity_number).day
    except ValueError:
        return None


def _exemptions(case: RetainedCase, policy: RetentionPolicy) -> tuple[ExemptionKind, ...]:
    found: list[ExemptionKind] = []
    research = policy.exemption(ExemptionKind.BORN_ON_RESEARCH_DAY)
    day = birth_day_of_month(case.individual.personal_identity_number)
    if research is not None and day is not None and day in research.birth_days:
        found.append(ExemptionKind.BORN_ON_RESEARCH_DAY)
    municipality = policy.exemption(ExemptionKind.MUNICIPALITY)
    if municipality is not None and case.municipality.id in municipality.municipality_ids:
        found.append(ExemptionKind.MUNICIPALITY)
    # A hold keeps the case under every policy, whether the policy lists it or not.
    if case.legal_hold is not None:
        found.append(ExemptionKind.LEGAL_HOLD)
    return tuple(found)


_EXEMPTION_WORDS = {
    ExemptionKind.BORN_ON_RESEARCH_DAY: "the individual was born on a research day (a day of "
    "the month whose records are kept for research)",
    ExemptionKind.MUNICIPALITY: "the municipality's records are kept for research",
    ExemptionKind.LEGAL_HOLD: "the case is under legal hold",
}


def retention_status(case: RetainedCase, policy: RetentionPolicy, as_of: date) -> RetentionStatus:
    """Whether ``case``'s personal data falls due on ``as_of`` under ``policy``.

    Due only when the case has ended (closed or declined), the period has passed since what
    starts it (``as_of`` after ``keep_until``), no exemption applies and nothing has been erased
    yet. Reads the case's state only: the same answer on any day for the same ``as_of``.
    """
    def status(due_on: date | None, starts_on: date | None,
               exemptions: tuple[ExemptionKind, ...], reason: str) -> RetentionStatus:
        return RetentionStatus(
            case_id=case.id,
            due=due_on is not None and not exemptions and as_of >= due_on,
            due_on=due_on, starts_on=starts_on, start_kind=policy.starts_at,
            policy_id=policy.id, policy_version=policy.version,
            exemptions=exemptions, reason=reason,
        )

    erasure = case.erasure
    if erasure is not None:
        return status(None, None, (ExemptionKind.ALREADY_ERASED,),
                      f"the personal data was erased on {erasure.on.isoformat()} "
                      f"(decision {erasure.decision})")
    exemptions = _exemptions(case, policy)
    kept_because = "; ".join(_EXEMPTION_WORDS[e] for e in exemptions)
    starts_on = retention_start(case, policy)
    if starts_on is None:
        reason = "the case is open: its retention starts once it is closed or declined"
        if kept_because:
            reason += f"; exempt even then: {kept_because}"
        return status(None, None, exemptions, reason)
    due_on = policy.due_on(starts_on)
    start_words = "last entry" if policy.starts_at is RetentionStart.LAST_ENTRY else "closure"
    period = (f"{policy.period_years} years after the {start_words} on "
              f"{starts_on.isoformat()} ({policy.legal_reference})")
    if exemptions:
        reason = f"exempt: {kept_because}"
        if as_of >= due_on:
            reason += f"; otherwise due since {due_on.isoformat()}, {period}"
    elif as_of >= due_on:
        reason = f"due since {due_on.isoformat()}: {period}"
    else:
        reason = f"kept until {policy.keep_until(starts_on).isoformat()}: {period}"
    return status(due_on, starts_on, exemptions, reason)


def retention_start(case: RetainedCase, policy: RetentionPolicy) -> date | None:
    """The day the case's retention period starts under ``policy``; None while it is open."""
    if not case.is_ended:
        return None
    if policy.starts_at is RetentionStart.CLOSURE:
        return case.ended_on
    return case.last_entry_on
