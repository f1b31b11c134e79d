"""Domain errors: small exception classes that carry the field and the rule id they concern.

Adapters turn them into problem+json (HTTP) or a one-line message (CLI); they never reach a user
as a stack trace.
"""

from __future__ import annotations

from uuid import UUID


class SipError(Exception):
    """Base class for every refusal the ledger gives."""

    rule: str | None = None
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        prefix = f"[{self.rule}] " if self.rule else ""
        where = f" (field: {self.field})" if self.field else ""
        return f"{prefix}{self.message}{where}"


class InvalidInput(SipError):
    """The command itself is malformed: a bad personal identity number, a date out of order."""


class RuleViolation(SipError):
    """The command is well formed but a rule of the SIP rule book forbids it now."""


class NotAuthorised(RuleViolation):
    """The actor may not take this action (e.g. only a principal may convene, R02)."""


class CaseNotFound(SipError):
    def __init__(self, case_id: UUID):
        super().__init__(f"no SIP case with id {case_id}", field="case_id")
        self.case_id = case_id


class CaseClosed(RuleViolation):
    def __init__(self, case_id: UUID, stage: str):
        super().__init__(
            f"case {case_id} is {stage}; no further actions may be recorded on it",
            field="case_id",
            rule="R31" if stage == "closed" else "R15",
        )
        self.case_id = case_id


class OpenSipExists(RuleViolation):
    """R09: an open SIP exists for the same individual; the proposer must have seen it.

    The message names no case: whether the proposer may learn the open cases' ids depends on
    whether it is party to them (R13, R35), which the adapter decides; the ids are kept in
    ``open_case_ids`` for it.
    """

    def __init__(self, open_case_ids: list[UUID]):
        super().__init__(
            "an open SIP already exists for this individual; review it, and to start a second "
            "one anyway list it in acknowledged_open_case_ids",
            field="acknowledged_open_case_ids",
            rule="R09",
        )
        self.open_case_ids = open_case_ids


class VersionConflict(SipError):
    """Optimistic concurrency: the case moved on since the caller read it."""

    def __init__(self, case_id: UUID, expected_version: int | None, current_version: int):
        super().__init__(
            f"case {case_id} is at version {current_version}, "
            f"not the expected version {expected_version}",
            field="expected_version",
        )
        self.case_id = case_id
        self.expected_version = expected_version
        self.current_version = current_version
