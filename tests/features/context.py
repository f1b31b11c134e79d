"""What one scenario remembers between its steps, and the one way it runs a command.

Every command runs through the real application service (``SipLedger``) on PostgreSQL. A "När"
step records the outcome: a refusal is kept for the "Så avvisas det" step to check, together with
the position of the event log and the case version before the command, so that step can prove
that nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any
from uuid import UUID

from domain.case import SipCase
from domain.clock import local_date
from domain.commands import (
    ConsentForm,
    ConsentGiver,
    ConsentGiverRole,
    ConveneMeeting,
    Individual,
    Invitation,
    Participant,
    ProposerKind,
    ProposeSip,
    RecordConsent,
    Trigger,
)
from domain.errors import SipError
from domain.ledger import CommandResult, SipLedger
from domain.parties import Actor, OrganisationKind, Person
from tests.conftest import Clock
from tests.support.builders import KOMMUN, REGION

from .vocabulary import Who, local

DEFAULT_REASON = "Har insatser eller kunskap som behövs i planeringen"
DEFAULT_EXPECTATION = "Berätta om pågående insatser och vad ni kan bidra med"


@dataclass
class Scenario:
    ledger: SipLedger
    clock: Clock
    individual: Individual | None = None
    proposal: dict[str, Any] = field(default_factory=dict)
    case_id: UUID | None = None
    consent_draft: dict[str, Any] | None = None
    invitation_edits: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan_edits: list[Callable[[dict[str, Any], date], None]] = field(default_factory=list)
    follow_up: dict[str, Any] = field(default_factory=dict)
    events_before: list[Any] = field(default_factory=list)
    # the outcome of the last "När" step
    result: CommandResult | None = None
    error: SipError | None = None
    error_checked: bool = True
    notification_before: int | None = None
    version_before: int | None = None

    # ---------------------------------------------------------------- time and state

    @property
    def today(self) -> date:
        return local_date(self.clock())

    def set_today(self, day: date) -> None:
        self.clock.set(local(day))

    def case(self) -> SipCase:
        assert self.case_id is not None, "the scenario has no case yet"
        return self.ledger.get_case(self.case_id)

    def events(self) -> list[Any]:
        return list(self.ledger.events.get(self.case_id))

    def open_cases(self) -> list[UUID]:
        assert self.individual is not None
        return self.ledger.open_cases_for(self.individual.personal_identity_number)

    # ---------------------------------------------------------------- running commands

    def attempt(self, run: Callable[[], CommandResult]) -> None:
        """A "När" step: run the command and keep its outcome for the "Så" steps."""
        assert self.error_checked, f"an earlier refusal was never checked: {self.error}"
        self.notification_before = self.ledger.recorder.max_notification_id()
        self.version_before = self.case().version if self.case_id else None
        self.result, self.error = None, None
        try:
            self.result = run()
        except SipError as error:
            self.error, self.error_checked = error, False

    @staticmethod
    def must(run: Callable[[], CommandResult]) -> CommandResult:
        """A "Givet" step: the command is the premise of the scenario, so it must succeed."""
        try:
            return run()
        except SipError as error:  # pragma: no cover - a broken premise
            raise AssertionError(f"the premise of the scenario was refused: {error}") from error

    # ---------------------------------------------------------------- the individual

    def new_individual(self, pin: str, name: str, guardians: tuple[str, ...] = ()) -> None:
        self.individual = Individual(
            personal_identity_number=pin,
            name=name,
            guardians=tuple(Person(name=g) for g in guardians),
        )
        self.proposal = {}
        self.case_id = None

    # ---------------------------------------------------------------- proposal (R01–R09)

    def propose(self, actor: Actor, proposed_by: ProposerKind | None = None) -> CommandResult:
        assert self.individual is not None, "say who the SIP is for first"
        if proposed_by is None:
            proposed_by = (
                ProposerKind.FORSAKRINGSKASSAN
                if actor.organisation.kind is OrganisationKind.FORSAKRINGSKASSAN
                else ProposerKind.STAFF
            )
        fields: dict[str, Any] = dict(
            individual=self.individual,
            proposed_by=proposed_by,
            municipality=KOMMUN,
            region=REGION,
            triggers=(Trigger.COORDINATION_REQUESTED,),
        )
        fields.update(self.proposal)
        result = self.ledger.propose(ProposeSip(**fields), actor)
        self.case_id = result.case_id
        return result

    # ---------------------------------------------------------------- consent (R10–R14)

    def givers(self, spec) -> tuple[ConsentGiver, ...]:
        assert self.individual is not None
        return tuple(
            ConsentGiver(role=role, name=name or self.individual.name) for role, name in spec
        )

    def guardian_givers(self) -> tuple[tuple[ConsentGiverRole, str], ...]:
        assert self.individual is not None and self.individual.guardians
        return tuple((ConsentGiverRole.GUARDIAN, g.name) for g in self.individual.guardians)

    def draft_consent(self, spec, form: ConsentForm) -> None:
        self.consent_draft = dict(
            givers=self.givers(spec),
            form=form,
            valid_from=self.today,
            valid_until=self.today + timedelta(days=365),
            organisation_ids=(KOMMUN.id, REGION.id),
        )

    def record_consent(self, actor: Actor) -> CommandResult:
        assert self.consent_draft is not None, "describe the consent first"
        cmd = RecordConsent(case_id=self.case_id, **self.consent_draft)
        return self.ledger.record_consent(cmd, actor)

    # ---------------------------------------------------------------- invitations (R14, R21–R24)

    def participant(self, who: Who) -> Participant:
        assert self.individual is not None
        edits = self.invitation_edits.get(who.label.casefold(), {})
        return Participant(
            role=who.role,
            name=who.name or self.individual.name,
            organisation=edits.get("organisation", who.organisation),
        )

    def participant_key(self, who: Who) -> str:
        return self.participant(who).key

    def invitation(self, who: Who) -> Invitation:
        edits = self.invitation_edits.get(who.label.casefold(), {})
        return Invitation(
            participant=self.participant(who),
            reason=edits.get("reason", DEFAULT_REASON),
            expectation=edits.get("expectation", DEFAULT_EXPECTATION),
        )

    def convene(self, actor: Actor, meeting_on: date, whos: tuple[Who, ...]) -> CommandResult:
        cmd = ConveneMeeting(
            case_id=self.case_id,
            meeting_at=local(meeting_on, time(13)),
            place="Stadshuset, rum 3",
            invitations=tuple(self.invitation(w) for w in whos),
        )
        return self.ledger.convene(cmd, actor)

    # ---------------------------------------------------------------- the plan (R25–R27)

    def meeting_on(self) -> date:
        meeting = self.case().current_meeting
        return local_date(meeting.at) if meeting else self.today
