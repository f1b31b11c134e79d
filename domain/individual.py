"""Which SIP cases are open for an individual (R09).

One small aggregate per individual, saved in the same transaction as the case it concerns, so two
simultaneous proposals for the same person conflict on its version and the second one sees the
first. Its id is derived from a keyed hash of the personal identity number, never the number.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:sip-ledger:individual")


class IndividualCases(Aggregate):
    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(_NAMESPACE, key)

    @event("Registered")
    def __init__(self, key: str, first_case_id: UUID) -> None:
        # Registered together with the individual's first case: one event, not two. The case
        # ids are stored sealed under the individual's key of that case (domain/transcodings.py
        # SealingMapper): once that case is erased they read as its marker and link nothing.
        self.open_case_ids: list[UUID] = (
            [first_case_id] if isinstance(first_case_id, UUID) else []
        )

    @event("CaseOpened")
    def case_opened(self, case_id: UUID) -> None:
        if isinstance(case_id, UUID):
            self.open_case_ids.append(case_id)

    @event("CaseEnded")
    def case_ended(self, case_id: UUID) -> None:
        if case_id in self.open_case_ids:
            self.open_case_ids.remove(case_id)
