"""Events as the read side sees them: the stored JSON, decoded once, without the domain classes.

A read model needs a handful of fields from each event, thousands of times a second during a
catch-up. Rebuilding the domain event objects through the library's mapper costs about ten times
what decoding the JSON alone with orjson does (pydantic validation of every nested value; bench
figure ``read_models_catch_up_events_per_s``, tests/benchmarks/README.md). So the projections
read the stored state directly. Its shape is the library's JSON transcoding:
an event's attributes of registered types are wrapped as ``{"_type_": name, "_data_": value}``
(``unwrap`` takes the value out); what is inside a wrapped pydantic value is plain JSON
(``model_dump(mode="json")``, domain/transcodings.py). Dates and instants stay ISO strings, which
is also what PostgreSQL takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

# A stored event's state as decoded JSON: what is in it depends on the event type (domain/case.py
# names the attributes), so the read side reads it by key.
JSONObject = dict[str, Any]

# Topics of the case aggregate's events: "domain.case:SipCase.ConsentRecorded".
CASE_TOPIC_PREFIX = "domain.case:SipCase."


def unwrap(value: Any) -> Any:
    """The value inside a transcoding wrapper, or the value itself."""
    if type(value) is dict and "_type_" in value:
        return value["_data_"]
    return value


@dataclass(slots=True)
class CaseEvent:
    """One recorded event of a SIP case: where it is in the log and what it says."""

    notification_id: int
    case_id: UUID
    version: int
    type: str  # the event's class name: "SipProposed", "ConsentRecorded", ...
    data: JSONObject

    @property
    def recorded_at(self) -> str:
        recorded_at: str = self.data["timestamp"]["_data_"]
        return recorded_at

    @property
    def on(self) -> str:
        on: str = self.data["on"]["_data_"]
        return on

    @property
    def occurred_at(self) -> str | None:
        occurred_at: str | None = unwrap(self.data.get("occurred_at"))
        return occurred_at

    @property
    def actor(self) -> JSONObject:
        actor: JSONObject = self.data["actor"]["_data_"]
        return actor


def decode(
    notification_id: int, originator_id: UUID, version: int, topic: str, state: bytes
) -> CaseEvent | None:
    """A CaseEvent, or None for events of other aggregates (the individuals' registers)."""
    if not topic.startswith(CASE_TOPIC_PREFIX):
        return None
    return CaseEvent(
        notification_id=notification_id,
        case_id=originator_id,
        version=version,
        type=topic[len(CASE_TOPIC_PREFIX):],
        data=orjson.loads(state),
    )
