"""No disclosure without a right to know (R35) and the feed by consent (R13): issue 10, Build
items 4 and 7, failures 3, 5 and 6, and the weak points "replayed command ids" and "role
refusals not logged" — each with the requests the probe sent, against the real service on a
real PostgreSQL.

OUTSIDER (kommun-alingsas) is party to no case here; the cases are MUNICIPALITY's (kommun-boras)
and REGION's (region-vg), with consents naming them and Försäkringskassan.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

import orjson
import pytest

from adapters.bootstrap import Services
from adapters.http.routes.feed import full_access
from adapters.identity.tokens import FEED_PERSONAL_SCOPE, Principal
from domain.commands import (
    Command,
    Individual,
    Invitation,
    Participant,
    ParticipantRole,
    RecordWishes,
    Wishes,
)
from domain.identity import individual_key
from domain.parties import Organisation, Person, Role
from tests.conftest import TEST_SECRET
from tests.support import builders as b
from tests.support.http import MUNICIPALITY, OUTSIDER, REGION

pytestmark = pytest.mark.store

PERSONAL = (FEED_PERSONAL_SCOPE,)
PROBLEM = "application/problem+json"
# Names that must never come back in an error, a refusal or the access log.
INDIVIDUAL_NAME = "Sigrid Hemlighetsdotter"
RELATIVE = "Olle Närstående"
STRANGER = "Ebba Främling"
NAMES = (INDIVIDUAL_NAME, RELATIVE, STRANGER)
# Every personal identity number this module sends, for the final scans.
PINS: set[str] = set()


def body(cmd: Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "case_id"})


def new_proposal(**overrides: Any) -> Any:
    cmd = b.propose(age=40, **overrides)
    pin = cmd.individual.personal_identity_number
    PINS.add(pin)
    individual = Individual(personal_identity_number=pin, name=INDIVIDUAL_NAME)
    return cmd.model_copy(update={"individual": individual})


def forms_of(pin: str) -> tuple[str, ...]:
    digits = pin.replace("-", "")
    return (pin, digits, digits[2:], f"{digits[2:8]}-{digits[8:]}")


def assert_discloses_nothing(text: str, *also: str) -> None:
    for pin in PINS:
        for form in forms_of(pin):
            assert form not in text, (form, text)
    for value in (*NAMES, *also):
        assert value not in text, (value, text)


def head(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


def rows_by(services: Services, person_id: str) -> list[dict[str, Any]]:
    return services.access_log.query(person_id=person_id, limit=10_000)


@pytest.fixture(scope="module")
def case(client, auth) -> dict[str, Any]:
    """MUNICIPALITY's open case: consent (naming FK too, and a relative), a meeting."""
    proposal = new_proposal()
    key = str(uuid.uuid4())
    answer = client.post("/cases", json=body(proposal),
                         headers={**auth(), "Idempotency-Key": key})
    assert answer.status_code == 201, answer.text
    case_id = UUID(answer.json()["case_id"])
    consent_key = str(uuid.uuid4())
    consent = b.consent(case_id, givers=(("individual", INDIVIDUAL_NAME),),
                        approved_persons=(RELATIVE,))
    answer = client.post(f"/cases/{case_id}/consent", json=body(consent),
                         headers={**auth(), "Idempotency-Key": consent_key})
    assert answer.status_code == 200, answer.text
    answer = client.post(f"/cases/{case_id}/meeting", json=body(b.convene(case_id)),
                         headers=auth())
    assert answer.status_code == 200, answer.text
    return {"case_id": case_id, "pin": proposal.individual.personal_identity_number,
            "proposal": proposal, "key": key, "consent_key": consent_key}


# ---------------------------------------------------------------------- the feed by consent


def feed_text(client, headers, **params) -> tuple[list[dict[str, Any]], str]:
    events, after = [], 0
    texts = []
    while True:
        answer = client.get("/events", params={"after": after, "limit": 1000, **params},
                            headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        events += page["events"]
        texts.append(answer.text)
        if page["next_after"] == page["head"]:
            return events, "".join(texts)
        after = page["next_after"]


def test_feed_personal_of_an_organisation_party_to_nothing_shows_no_personal_data(
    client, auth, services, case,
):
    """Failure 3: a service token of an organisation party to no case, scope feed:personal,
    read every case's personal identity number and name."""
    person = "svc-outsider"
    events, text = feed_text(client, auth(Role.SERVICE, OUTSIDER, person=person,
                                          scopes=PERSONAL))
    assert events, "the feed is not empty"
    assert all("personal" not in e for e in events)
    assert_discloses_nothing(text)
    # Nothing personal shown, so no read of personal data logged.
    assert [r for r in rows_by(services, person) if r["outcome"] == "granted"] == []


def test_feed_personal_follows_consent_as_it_stands_now(client, auth, services):
    """The decision is made at the read, on the case's current record (see adapters/http/
    feed.py): named by a valid consent -> full; withdrawn -> the public shape, for the events
    recorded while it held too; an auditor always in full."""
    proposal = new_proposal()
    pin = proposal.individual.personal_identity_number
    case_id = UUID(client.post("/cases", json=body(proposal), headers=auth()).json()["case_id"])
    consent = b.consent(case_id, givers=(("individual", INDIVIDUAL_NAME),))
    assert client.post(f"/cases/{case_id}/consent", json=body(consent),
                       headers=auth()).status_code == 200

    def read(org, person, role=Role.SERVICE):
        events, text = feed_text(client, auth(role, org, person=person, scopes=PERSONAL),
                                 case_id=str(case_id))
        return events, text, rows_by(services, person)

    for org, person in ((MUNICIPALITY, "svc-boras"), (b.FK, "svc-fk")):
        events, text, rows = read(org, person)
        assert [e["type"] for e in events] == ["SipProposed", "ConsentRecorded"]
        assert all("personal" in e for e in events), org.id
        assert events[0]["personal"]["personal_identity_number"] == pin
        # One row per case per page, with the individual (R33).
        assert [(r["case_id"], r["outcome"], r["view"], r["action"]) for r in rows] == [
            (case_id, "granted", "full", "read_feed")]
        assert rows[0]["individual_key"] == individual_key(pin, TEST_SECRET)
        assert pin not in rows[0]["reason"]

    withdrawal = {"note": "Vill inte längre"}
    answer = client.post(f"/cases/{case_id}/consent/withdrawal", json=withdrawal,
                         headers=auth())
    assert answer.status_code == 200, answer.text
    for org, person in ((MUNICIPALITY, "svc-boras"), (b.FK, "svc-fk")):
        events, text, rows = read(org, person)
        assert [e["type"] for e in events] == ["SipProposed", "ConsentRecorded",
                                               "ConsentWithdrawn"]
        # The proposal was recorded while consent held; it is not disclosed now.
        assert all("personal" not in e for e in events), org.id
        assert pin not in text and INDIVIDUAL_NAME not in text
        assert len(rows) == 1, "the restricted read showed nothing personal: not logged"

    auditor = auth(Role.AUDITOR, person="auditor-feed", scopes=PERSONAL)
    events, text = feed_text(client, auditor, case_id=str(case_id))
    assert all("personal" in e for e in events) and pin in text


def service(org: Organisation, person_id: str = "svc-x") -> Principal:
    return Principal(person_id=person_id, name="Sven Service", organisation=org, unit="",
                     roles=frozenset({Role.SERVICE}), scopes=frozenset(PERSONAL))


def test_a_stream_with_feed_personal_follows_consent_too(services, case):
    """The SSE stream reads through the same decision (EventFeed.stream), and logs only the
    cases it shows in full."""

    async def first_three(caller: Principal) -> tuple[list[dict[str, Any]], list[Any]]:
        logged: list[Any] = []
        got: list[dict[str, Any]] = []
        stream = services.feed.stream(0, types=None, case_id=case["case_id"], personal=True,
                                      log_reads=logged.append,
                                      may_read=full_access(services, caller))
        async for message in stream:
            if message.id is not None:
                got.append(orjson.loads(message.data))
                if len(got) == 3:
                    break
        await stream.aclose()
        return got, logged

    events, logged = asyncio.run(asyncio.wait_for(first_three(service(OUTSIDER)), 10))
    assert [e["type"] for e in events] == ["SipProposed", "ConsentRecorded", "MeetingConvened"]
    assert all("personal" not in e for e in events) and logged == []
    events, logged = asyncio.run(asyncio.wait_for(first_three(service(MUNICIPALITY)), 10))
    assert all("personal" in e for e in events)
    assert logged == [{case["case_id"]: case["pin"]}]


@contextmanager
def counting_connections(services: Services) -> Iterator[list[int]]:
    """Counts the connections this thread takes from the pool (each query round)."""
    counted: list[int] = []
    original = services.datastore.get_connection
    me = threading.get_ident()

    def counting(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            counted.append(1)
        return original(*args, **kwargs)

    services.datastore.get_connection = counting  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        del services.datastore.get_connection


def test_a_feed_page_of_500_events_decides_per_case_in_a_fixed_number_of_queries(
    client, auth, services,
):
    """Build item 4: not one decision with its queries per event: one query for the page's
    case records, one for their individuals, one transaction for the access-log rows."""
    ledger, anna = services.ledger, b.actor()
    start = head(services)
    cases = []
    for n in range(40):
        proposal = new_proposal()
        case_id = ledger.propose(proposal, anna).case_id
        if n % 2 == 0:  # half of them under a consent naming the municipality
            ledger.record_consent(b.consent(case_id, givers=(("individual", INDIVIDUAL_NAME),)),
                                  anna)
        cases.append(case_id)
        for i in range(12):
            ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(
                place=f"Plats {i}")), anna)
    assert services.runner.wait_for(head(services), 10)
    caller = service(MUNICIPALITY, "svc-batch")
    with counting_connections(services) as counted:
        started = time.perf_counter()
        read = services.feed.read(start, 500, personal=True,
                                  may_read=full_access(services, caller))
        elapsed = time.perf_counter() - started
    assert len(read.events) == 500
    shown = {e["case_id"] for e in read.events if "personal" in e}
    # The proposing organisation reads its own cases in full before consent, and under it.
    assert shown == {e["case_id"] for e in read.events}
    # head + events, the records, the individuals: 3, whatever the number of events or cases.
    assert len(counted) == 3, counted
    assert elapsed < 2.0, f"a 500-event page took {elapsed:.2f} s"

    other = service(REGION, "svc-batch-r")
    read = services.feed.read(start, 500, personal=True, may_read=full_access(services, other))
    consented = {str(c) for c in cases[::2]}
    assert {e["case_id"] for e in read.events if "personal" in e} <= consented
    assert {e["case_id"] for e in read.events if "personal" not in e}.isdisjoint(consented)

    # Over HTTP: one access-log row per case shown, written in one transaction.
    answer = client.get("/events", params={"after": start, "limit": 500},
                        headers=auth(Role.SERVICE, REGION, person="svc-batch-http",
                                     scopes=PERSONAL))
    assert answer.status_code == 200
    page_cases = {e["case_id"] for e in answer.json()["events"] if "personal" in e}
    rows = rows_by(services, "svc-batch-http")
    assert sorted(str(r["case_id"]) for r in rows) == sorted(page_cases)
    assert len({r["at"] for r in rows}) == 1, "one transaction"


def test_a_personal_feed_page_is_not_decided_on_read_models_that_are_behind(
    client, auth, services, case, monkeypatch,
):
    """Consent is decided on the plans model: if it has not applied the log's head, the page
    waits and then is refused (503), never answered from a stale consent."""
    monkeypatch.setattr(services.runner, "wait_for", lambda *args, **kwargs: False)
    answer = client.get("/events", params={"case_id": str(case["case_id"])},
                        headers=auth(Role.SERVICE, MUNICIPALITY, scopes=PERSONAL))
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert answer.json()["type"].endswith("read-models-behind")
    assert "Retry-After" in answer.headers
    assert_discloses_nothing(answer.text)
    # Without personal data nothing depends on consent: answered.
    assert client.get("/events", headers=auth(Role.SERVICE, MUNICIPALITY)).status_code == 200


# ---------------------------------------------------------------------- R09 without disclosure


def test_r09_tells_a_stranger_that_an_open_sip_exists_but_not_which_and_logs_it(
    client, auth, services, case,
):
    """Failure 5: a coordinator of an organisation party to nothing proposes for the personal
    identity number of another organisation's open case."""
    stranger = case["proposal"].model_copy(update={"municipality": OUTSIDER})
    before = head(services)
    answer = client.post("/cases", json=body(stranger),
                         headers=auth(Role.COORDINATOR, OUTSIDER, person="hsa-stranger"))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert (problem["rule"], problem["field"]) == ("R09", "acknowledged_open_case_ids")
    assert "open SIP" in problem["detail"] and "principals" in problem["detail"]
    assert problem["open_case_ids"] == [] and problem["open_sip_not_party"] is True
    assert str(case["case_id"]) not in answer.text
    assert_discloses_nothing(answer.text)
    assert head(services) == before, "nothing written"
    # The lookup told a stranger that this person has an open SIP: a read of personal data.
    rows = rows_by(services, "hsa-stranger")
    assert [(r["action"], r["outcome"], r["view"], r["case_id"]) for r in rows] == [
        ("lookup_open_sip", "granted", "full", case["case_id"])]
    assert rows[0]["individual_key"] == individual_key(case["pin"], TEST_SECRET)
    assert "withheld" in rows[0]["reason"]
    # ... which the individual learns like any other read (R33).
    assert rows[0]["id"] in {r["id"] for r in services.access_log.for_individual(case["pin"])}


def test_r09_names_the_open_case_to_an_organisation_that_may_read_it(
    client, auth, services, case,
):
    for org, person in ((MUNICIPALITY, "hsa-own"), (REGION, "hsa-region")):
        again = case["proposal"]
        answer = client.post("/cases", json=body(again),
                             headers=auth(Role.COORDINATOR, org, person=person))
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["rule"] == "R09"
        assert problem["open_case_ids"] == [str(case["case_id"])]
        assert problem["open_sip_not_party"] is False
        assert_discloses_nothing(answer.text)
        rows = rows_by(services, person)
        assert [(r["action"], r["case_id"]) for r in rows] == [
            ("lookup_open_sip", case["case_id"])]
        assert "told" in rows[0]["reason"]
    # Having seen it, the party may start a second one (R09).
    acknowledged = case["proposal"].model_copy(
        update={"acknowledged_open_case_ids": (case["case_id"],)})
    answer = client.post("/cases", json=body(acknowledged), headers=auth())
    assert answer.status_code == 201, answer.text


# ---------------------------------------------------------------------- replayed command ids


def test_a_known_command_id_replays_nothing_to_an_organisation_not_party(
    client, auth, services, case,
):
    """Weak point: another organisation replaying a known command UUID as Idempotency-Key got
    that command's result (case id, version)."""
    case_id = str(case["case_id"])
    before = head(services)
    # The issuer gets its first result again; so does a party (the region).
    for org in (MUNICIPALITY, REGION):
        answer = client.post("/cases", json=body(case["proposal"]),
                             headers={**auth(Role.COORDINATOR, org),
                                      "Idempotency-Key": case["key"]})
        assert answer.status_code == 200, (org.id, answer.text)
        assert answer.json()["replayed"] is True and answer.json()["case_id"] == case_id
    # A stranger, with a proposal of its own under the known key: 409, naming only the header.
    own = new_proposal(municipality=OUTSIDER)
    answer = client.post("/cases", json=body(own),
                         headers={**auth(Role.COORDINATOR, OUTSIDER),
                                  "Idempotency-Key": case["key"]})
    assert answer.status_code == 409, answer.text
    assert answer.json()["field"] == "Idempotency-Key"
    assert case_id not in answer.text and "version" not in answer.json()
    assert_discloses_nothing(answer.text)
    # A case command's key on its case, by a stranger: refused as without the key.
    consent = body(b.consent(case["case_id"]))
    answer = client.post(f"/cases/{case_id}/consent", json=consent,
                         headers={**auth(Role.COORDINATOR, OUTSIDER),
                                  "Idempotency-Key": case["consent_key"]})
    assert answer.status_code == 403, answer.text
    assert answer.json()["type"].endswith("not-party") and "version" not in answer.json()
    assert head(services) == before, "nothing written"
    # ... and on a case of its own: 409, not the other case's result.
    own_case = client.post("/cases", json=body(new_proposal(municipality=OUTSIDER)),
                           headers=auth(Role.COORDINATOR, OUTSIDER)).json()["case_id"]
    answer = client.post(f"/cases/{own_case}/consent",
                         json=body(b.consent(UUID(own_case),
                                             organisations=(OUTSIDER.id, REGION.id))),
                         headers={**auth(Role.COORDINATOR, OUTSIDER),
                                  "Idempotency-Key": case["consent_key"]})
    assert answer.status_code == 409, answer.text
    assert case_id not in answer.text
    # The issuer reusing a key on another case's path gets 409 too, not the first case's result.
    mine = client.post("/cases", json=body(new_proposal()), headers=auth()).json()["case_id"]
    answer = client.post(f"/cases/{mine}/consent", json=body(b.consent(UUID(mine))),
                         headers={**auth(), "Idempotency-Key": case["consent_key"]})
    assert answer.status_code == 409, answer.text
    assert case_id not in answer.text


# ---------------------------------------------------------------------- role refusals logged


def test_role_refusals_are_logged_like_party_refusals(client, auth, services, case):
    person = "hsa-role-probe"
    headers = auth(Role.COORDINATOR, MUNICIPALITY, person=person, scopes=PERSONAL)
    requests = [
        ("GET", "/access-log", None, "read_access_log"),
        ("GET", "/events", None, "read_feed"),
        ("GET", "/events/stream", None, "read_feed"),
        ("POST", "/access-log/individual", {"personal_identity_number": case["pin"]},
         "read_access_log_individual"),
    ]
    for method, path, payload, _ in requests:
        answer = client.request(method, path, json=payload, headers=headers)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["field"] == "roles"
        assert_discloses_nothing(answer.text)
    rows = rows_by(services, person)
    assert [(r["action"], r["outcome"], r["role"]) for r in rows] == [
        (action, "refused", "coordinator") for *_, action in requests]
    assert all(r["individual_key"] is None and r["view"] is None for r in rows)
    assert all("role" in r["reason"] for r in rows)


# ---------------------------------------------------------------------- nothing personal echoed


def test_nothing_personal_is_echoed_in_an_error_or_written_to_the_access_log(
    client, auth, services, case,
):
    """Failure 6, with the probe's requests, then a scan of every problem body and of the
    whole access log for every personal identity number and name this module sent."""
    pin = case["pin"]
    case_id = str(case["case_id"])
    coordinator = auth(Role.COORDINATOR, MUNICIPALITY, person="hsa-echo")
    answers = []

    def send(method: str, path: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        answer = client.request(method, path, **kwargs)
        assert answer.status_code == expected, (path, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM), path
        answers.append(answer.text)
        return answer.json()

    # GET /cases?organisation_id=<number>: refused; the number is neither logged nor echoed.
    send("GET", "/cases", 403, params={"organisation_id": pin}, headers=coordinator)
    # GET /cases/<number>: the instance is the route's template.
    problem = send("GET", f"/cases/{pin}", 422, headers=coordinator)
    assert problem["instance"] == "/cases/{case_id}"
    problem = send("GET", f"/cases/{pin}/history", 422, headers=coordinator)
    assert problem["instance"] == "/cases/{case_id}/history"
    # No route at all: no instance.
    problem = send("GET", f"/personer/{pin}", 404, headers=coordinator)
    assert "instance" not in problem
    # A body key named like a number: "an unknown field", not the key.
    proposal = body(new_proposal())
    problem = send("POST", "/cases", 422, json={**proposal, pin: INDIVIDUAL_NAME},
                   headers=coordinator)
    assert problem["field"] == "(unknown field)"
    problem = send("POST", "/cases", 422,
                   json={**proposal, "individual": {**proposal["individual"], pin: "x"}},
                   headers=coordinator)
    assert problem["field"] == "individual.(unknown field)"
    # A reply for a relative who was never invited: the rule, not the name (R22).
    for name in (RELATIVE, STRANGER):
        problem = send("POST", f"/cases/{case_id}/replies", 422,
                       json={"participant_key": f"relative:{name}", "reply": "accepted"},
                       headers=coordinator)
        assert (problem["rule"], problem["field"]) == ("R22", "participant_key")
    # Inviting a relative the individual did not approve (R14): the role, not the name.
    stranger = Invitation(participant=Participant(role=ParticipantRole.RELATIVE, name=STRANGER),
                          reason="Stöd", expectation="Berätta")
    problem = send("POST", f"/cases/{case_id}/meeting", 422,
                   json=body(b.convene(case["case_id"], invitations=(b.invitation(), stranger))),
                   headers=coordinator)
    assert problem["rule"] == "R14"
    # The same participant twice: "this participant", not their key (role:name).
    relative = Invitation(participant=Participant(role=ParticipantRole.RELATIVE, name=RELATIVE),
                          reason="Stöd", expectation="Berätta")
    send("POST", f"/cases/{case_id}/meeting", 422,
         json=body(b.convene(case["case_id"], invitations=(relative, relative))),
         headers=coordinator)
    # A child's consent missing a guardian: the guardian's place, not their name (R10).
    child = new_proposal().model_copy(update={"individual": Individual(
        personal_identity_number=b.pin_born(date(date.today().year - 9, 3, 1)),
        name=INDIVIDUAL_NAME,
        guardians=(Person(name=RELATIVE), Person(name=STRANGER)),
    )})
    PINS.add(child.individual.personal_identity_number)
    child_id = client.post("/cases", json=body(child), headers=coordinator).json()["case_id"]
    problem = send("POST", f"/cases/{child_id}/consent", 422,
                   json=body(b.consent(UUID(child_id), givers=(("guardian", RELATIVE),))),
                   headers=coordinator)
    assert problem["rule"] == "R10" and "individual.guardians[1]" in problem["detail"]
    # Filters and the feed's case filter with a number.
    send("GET", "/events", 422, params={"case_id": pin},
         headers=auth(Role.SERVICE, scopes=PERSONAL))

    for text in answers:
        assert_discloses_nothing(text)
    # The whole access log: no number, no name, in any column.
    every_row = services.access_log.query(limit=10_000)
    assert any(r["person_id"] == "hsa-echo" and r["outcome"] == "refused" for r in every_row)
    assert_discloses_nothing(orjson.dumps(every_row, default=str).decode())
