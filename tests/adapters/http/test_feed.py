"""The event feed: catch-up pages and filters, personal data by scope, the published shapes, and
the live SSE stream on a real server (resume with Last-Event-ID, heartbeats, and a client that
drops and reconnects 20 times under a write load yet gets every event once, in order)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import Services
from adapters.feed import events as feed_events
from adapters.feed.engine import EventFeed
from adapters.http.app import create_app
from adapters.identity.tokens import FEED_PERSONAL_SCOPE
from domain.case import SipCase
from domain.commands import (
    CorrectEntry,
    DeclineSip,
    ErasePersonalData,
    FieldChange,
    Invitation,
    IssuePlanCopy,
    LiftLegalHold,
    Participant,
    ParticipantRole,
    PlaceLegalHold,
    RecordClosure,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Wishes,
    WithdrawConsent,
)
from domain.parties import Role
from tests.support import builders as b

pytestmark = pytest.mark.store

PERSONAL = (FEED_PERSONAL_SCOPE,)
RELATIVE = "Lisa Lindqvist"
ANNA = b.actor()
RITA = b.actor(b.REGION, person_id="rita", name="Rita Regionsson", unit="Psykiatrin")
GRETA = b.actor(person_id="greta", name="Greta Granskare").model_copy(
    update={"role": Role.AUDITOR})
ARVID = b.actor(person_id="arvid", name="Arvid Arkivarie").model_copy(
    update={"role": Role.ARCHIVIST})


# ---------------------------------------------------------------------- the log


def case_event_ids(services: Services, after: int = 0) -> list[int]:
    """Every case event's position in the log, straight from the events table."""
    query = SQL(
        "SELECT notification_id FROM {}.sipledger_events WHERE notification_id > %s "
        "AND topic LIKE 'domain.case:SipCase.%%' ORDER BY notification_id"
    ).format(Identifier(services.schema))
    with services.datastore.transaction(commit=False) as curs:
        curs.execute(query, (after,))
        return [row["notification_id"] for row in curs.fetchall()]


@pytest.fixture(scope="module")
def world(services: Services) -> dict[str, Any]:
    """Two cases that between them record every event type."""
    ledger = services.ledger
    today = date.today()
    a = ledger.propose(b.propose(age=40), ANNA).case_id
    pin = ledger.get_case(a).individual.personal_identity_number
    ledger.record_wishes(RecordWishes(case_id=a, wishes=Wishes(
        place="Hemma", support=("tolk",), interpreter_language="arabiska")), ANNA)
    ledger.record_consent(b.consent(a, approved_persons=(RELATIVE,)), ANNA)
    relative = Invitation(participant=Participant(role=ParticipantRole.RELATIVE, name=RELATIVE),
                          reason="Stöttar hemma", expectation="Berätta om vardagen")
    ledger.convene(b.convene(a, invitations=(b.invitation(b.REGION), relative)), ANNA)
    ledger.record_reply(RecordReply(case_id=a, participant_key=f"relative:{RELATIVE}",
                                    reply="accepted", comment="Kommer gärna"), ANNA)
    ledger.establish_plan(b.establish(a, today), ANNA)
    ledger.issue_plan_copy(IssuePlanCopy(case_id=a, recipient_name="Kim Karlsson",
                                         recipient_role=ParticipantRole.INDIVIDUAL), ANNA)
    next_date = today + timedelta(days=90)
    ledger.record_follow_up(RecordFollowUp(
        case_id=a, held_on=today, what_happened="Boendestödet är igång",
        revised_plan=b.plan_content(today, follow_up_date=next_date),
        next_follow_up_date=next_date), ANNA)
    # R32: the meeting (version 4) corrected by its fields: a time and a place.
    ledger.correct_entry(CorrectEntry(
        case_id=a, corrects_version=4, reason="Fel plats",
        changes=(FieldChange(field="place", new_value="Källarrummet"),
                 FieldChange(field="meeting_at", new_value=f"{today.isoformat()}T12:00:00+01:00")),
        correction="Platsen är skolan"), ANNA)
    ledger.withdraw_consent(WithdrawConsent(case_id=a, note="Vill inte längre"), ANNA)
    ledger.record_closure(RecordClosure(case_id=a, reason="consent_withdrawn"), ANNA)
    ledger.record_closure(RecordClosure(case_id=a, reason="consent_withdrawn"), RITA)
    declined = ledger.propose(b.propose(age=50), ANNA).case_id
    ledger.decline(DeclineSip(case_id=declined, note="Vill inte ha någon plan"), ANNA)
    # R34: a legal hold placed and lifted, then the erasure, before it is due.
    ledger.place_legal_hold(PlaceLegalHold(case_id=declined, reason="Klagomål utreds",
                                           reference="IVO 3.5-1/2031"), GRETA)
    ledger.lift_legal_hold(LiftLegalHold(case_id=declined, reason="Utredningen är klar"), GRETA)
    ledger.erase_personal_data(ErasePersonalData(
        case_id=declined, decision="KS 2031/123", override_reason="Begäran om radering"), ARVID)
    return {"case": a, "declined": declined, "pin": pin}


def page(client, auth, **params) -> dict[str, Any]:
    scopes = params.pop("scopes", ())
    role = params.pop("role", "service")
    answer = client.get("/events", params=params, headers=auth(role, scopes=scopes))
    assert answer.status_code == 200, answer.text
    return answer.json()


def all_pages(client, auth, **params) -> tuple[list[dict[str, Any]], int]:
    """Every event the filters keep, page by page; and how many pages it took."""
    events, after, pages = [], 0, 0
    while True:
        got = page(client, auth, after=after, **params)
        pages += 1
        events += got["events"]
        assert got["next_after"] >= after
        if got["next_after"] == got["head"]:
            return events, pages
        after = got["next_after"]


# ---------------------------------------------------------------------- catch-up


def test_catch_up_pages_through_every_case_event_in_order(client, auth, services, world):
    events, pages = all_pages(client, auth, limit=4)
    ids = [e["id"] for e in events]
    assert ids == case_event_ids(services)
    assert pages >= len(ids) // 4
    # Only case events: the individuals' registers stay out of the feed.
    assert {e["type"] for e in events} == set(feed_events.EVENT_TYPES)
    first = events[0]
    assert first["schema"] == f"sip.{first['type']}.v1"
    assert set(first["actor"]) == {"person_id", "organisation_id", "organisation_kind", "unit",
                                   "role"}


def test_filter_by_type_and_case(client, auth, world):
    kept, _ = all_pages(client, auth, limit=2, type=["ConsentRecorded", "SipClosed"])
    assert [e["type"] for e in kept] == ["ConsentRecorded", "SipClosed"]

    declined, _ = all_pages(client, auth, case_id=str(world["declined"]))
    assert [(e["type"], e["version"]) for e in declined] == [
        ("SipProposed", 1), ("SipDeclined", 2), ("LegalHoldPlaced", 3), ("LegalHoldLifted", 4),
        ("PersonalDataErased", 5)]
    erased = declined[-1]["data"]
    assert erased == {
        "decision": "KS 2031/123", "policy": {"id": "socialtjanst", "version": 1},
        "subjects": erased["subjects"], "starts_on": date.today().isoformat(),
        "due_on": erased["due_on"], "exemptions": erased["exemptions"], "overridden": True}
    assert "individual" in erased["subjects"]
    assert declined[2]["data"] == {"reference": "IVO 3.5-1/2031"}
    assert {e["case_id"] for e in declined} == {str(world["declined"])}


def test_a_filtered_page_moves_on_past_what_it_filtered_out(client, auth, services, world):
    first = page(client, auth, after=0, limit=1, type="SipClosed")
    assert [e["type"] for e in first["events"]] == ["SipClosed"]
    assert first["next_after"] == first["events"][0]["id"]
    rest = page(client, auth, after=first["next_after"], type="SipClosed",
                case_id=str(world["case"]))
    # Nothing more of that kind, yet the position moves on to the head.
    assert rest["events"] == [] and rest["next_after"] == rest["head"]
    assert rest["head"] >= case_event_ids(services)[-1]


def feed_reads(services: Services, case_id: uuid.UUID) -> list[dict[str, Any]]:
    return [row for row in services.access_log.for_case(case_id)
            if row["action"] == "read_feed"]


def test_personal_data_only_with_the_scope(client, auth, services, world):
    secrets = (world["pin"], "Kim Karlsson", RELATIVE, "Anna Andersson", "Rita Regionsson",
               "Vill inte", "Boendestödet", "arabiska", "Stöttar hemma", "Källarrummet")
    for role in ("service", "auditor"):
        answer = client.get("/events", params={"limit": 1000}, headers=auth(role))
        assert answer.status_code == 200
        for secret in secrets:
            assert secret not in answer.text, (role, secret)
        assert all("personal" not in e for e in answer.json()["events"])

        before = len(feed_reads(services, world["case"]))
        assert before == 0, "no personal data, nothing logged"
        if role == "service":
            # The scope asks, consent decides (R13): the case's consent is withdrawn and its
            # planning over, so a service reads it as without the scope, and nothing is logged.
            # (A service's full reads under consent:
            # tests/adapters/http/hostile/test_disclosure.py.)
            restricted = page(client, auth, role=role, scopes=PERSONAL,
                              case_id=str(world["case"]))
            assert all("personal" not in e for e in restricted["events"])
            assert world["pin"] not in orjson.dumps(restricted).decode()
            assert len(feed_reads(services, world["case"])) == before
            continue
        full = page(client, auth, role=role, scopes=PERSONAL, case_id=str(world["case"]))
        proposed = full["events"][0]
        assert proposed["type"] == "SipProposed"
        assert proposed["personal"]["personal_identity_number"] == world["pin"]
        assert proposed["personal"]["actor_name"] == "Anna Andersson"
        text = orjson.dumps(full).decode()
        for secret in secrets:
            assert secret in text, (role, secret)
        # The read of personal data is in the access log (R33), with the case's individual.
        logged = feed_reads(services, world["case"])
        assert [(r["role"], r["view"], r["outcome"]) for r in logged[before:]] == [
            (role, "full", "granted")]
        assert services.access_log.for_individual(world["pin"])[-1]["id"] == logged[-1]["id"]


def test_callers_without_a_token_or_the_role_are_refused(client, auth, world):
    for path in ("/events", "/events/stream", "/events/schemas"):
        answer = client.get(path)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        refused = client.get(path, headers=auth("coordinator", scopes=PERSONAL))
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["field"] == "roles"
    bad = [{"limit": 0}, {"limit": 1001}, {"after": -1}, {"type": "NoSuchEvent"},
           {"case_id": "not-a-uuid"}]
    for params in bad:
        answer = client.get("/events", params=params, headers=auth("service"))
        assert answer.status_code == 422, (params, answer.text)


# ---------------------------------------------------------------------- the published shapes


def test_every_case_event_type_has_a_documented_versioned_shape(client, auth, world):
    recorded = {n for n, v in vars(SipCase).items()
                if isinstance(v, type) and issubclass(v, SipCase.Event)} - {"Event", "Created"}
    assert recorded == set(feed_events.SHAPES), "give every new event type a feed shape"
    doc = feed_events.__doc__ or ""
    catalogue = client.get("/events/schemas", headers=auth("service")).json()
    assert catalogue == orjson.loads(orjson.dumps(feed_events.catalogue()))
    # An auditor: both cases have ended, so consent would show a service no personal part.
    events, _ = all_pages(client, auth, limit=1000, scopes=PERSONAL, role="auditor",
                          case_id=str(world["case"]))
    events += all_pages(client, auth, scopes=PERSONAL, role="auditor",
                        case_id=str(world["declined"]))[0]
    for e in events:
        shape = catalogue[e["type"]]
        assert e["schema"] == shape["schema"]
        # The event says exactly what the catalogue and the module's documentation say.
        assert list(e["data"]) == shape["public"], e["type"]
        assert list(e["personal"]) == shape["personal"], e["type"]
        assert e["type"] in doc
        for name in (*shape["public"], *shape["personal"]):
            assert name in doc, (e["type"], name)


def test_public_fields_carry_the_process_facts(client, auth, world):
    events, _ = all_pages(client, auth, case_id=str(world["case"]))
    by_type = {e["type"]: e for e in events}
    proposed = by_type["SipProposed"]["data"]
    assert proposed["municipality"]["id"] == b.KOMMUN.id
    assert proposed["deadlines"][0]["kind"] == "start"
    consent = by_type["ConsentRecorded"]["data"]
    assert consent["given_by"] == ["individual"] and consent["approved_person_count"] == 1
    meeting = by_type["MeetingConvened"]["data"]["invitations"]
    assert meeting == [
        {"role": "region", "organisation_id": b.REGION.id, "organisation_kind": "region"},
        {"role": "relative", "organisation_id": None, "organisation_kind": None},
    ]
    reply = by_type["ReplyRecorded"]["data"]
    assert reply == {"reply": "accepted", "participant_organisation_id": None,
                     "participant_person_role": "relative"}
    assert by_type["PlanRevised"]["data"]["revision"] == 2
    corrected = by_type["EntryCorrected"]
    assert corrected["schema"] == "sip.EntryCorrected.v2"
    meeting_at = by_type["MeetingConvened"]["data"]["at"]
    assert corrected["data"] == {
        "corrects_version": 4, "corrected_type": "MeetingConvened", "item": 1,
        "changes": [  # the place is personal: named, its values left out (R35)
            {"field": "place", "old_value": None, "new_value": None},
            {"field": "meeting_at", "old_value": meeting_at,
             "new_value": f"{date.today().isoformat()}T12:00:00+01:00"},
        ],
        "deadlines": [],  # the national policy sets no lead time (R18) to recompute
    }
    assert by_type["WishesRecorded"]["data"] == {
        "given": ["place", "support", "interpreter_language"]}
    closed = by_type["SipClosed"]
    assert closed["actor"]["organisation_id"] == b.REGION.id and closed["data"] == {}
    uuid.UUID(closed["command_id"])


# ---------------------------------------------------------------------- the live stream


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    """The real app on a real server (uvicorn, a free port on 127.0.0.1) in a thread."""
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=0,
                            log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="feed-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def sse(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Parse a text/event-stream: each event as its fields; a comment as {"comment": ...}."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if fields:
                yield fields
                fields = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else (
                value)


def read_events(
    url: str, headers: dict[str, str], *, until_id: int | None = None, count: int | None = None,
    params: dict[str, Any] | None = None, timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Connect, read events until one with id ``until_id`` (or ``count`` events), disconnect."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with (
        httpx.Client(base_url=url, timeout=httpx.Timeout(10.0, read=5.0)) as http,
        http.stream("GET", "/events/stream", headers=headers, params=params) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in sse(response):
            assert time.monotonic() < deadline, f"stream too slow; got {len(got)} events"
            if "id" not in message:
                continue
            event = orjson.loads(message["data"])
            assert int(message["id"]) == event["id"] and message["event"] == event["type"]
            got.append(event)
            if event["id"] == until_id or (count is not None and len(got) == count):
                return got
    raise AssertionError("the stream ended")


def test_stream_resumes_after_last_event_id(server_url, auth, services, world):
    ids = case_event_ids(services)
    resume = ids[3]
    headers = {**auth("service"), "Last-Event-ID": str(resume)}
    # The header wins over the query's `after` (a reconnecting browser keeps the first URL).
    events = read_events(server_url, headers, until_id=ids[-1], params={"after": 0})
    assert [e["id"] for e in events] == ids[4:]
    text = orjson.dumps(events).decode()
    assert world["pin"] not in text and "personal" not in events[0]

    # An auditor: the world's cases have ended, so consent shows a service nothing (R13).
    filtered = read_events(server_url, auth("auditor", scopes=PERSONAL), count=2,
                           params={"after": 0, "type": "SipProposed"})
    assert [e["type"] for e in filtered] == ["SipProposed", "SipProposed"]
    assert filtered[0]["personal"]["personal_identity_number"] == world["pin"]


def test_stream_sends_new_events_live_and_heartbeats_when_idle(server_url, auth, services,
                                                               world):
    head = case_event_ids(services)[-1]
    seen: list[str] = []
    with (
        httpx.Client(base_url=server_url, timeout=httpx.Timeout(10.0, read=5.0)) as http,
        http.stream("GET", "/events/stream", params={"after": head},
                    headers=auth("auditor")) as response,
    ):
        messages = sse(response)
        opened = time.monotonic()
        # heartbeat_s is 1.0 in the tests: a ping comment comes within about a second.
        while not any(c.startswith("ping") for c in seen):
            seen.append(next(messages).get("comment", ""))
        assert time.monotonic() - opened < 2.5
        written = services.ledger.propose(b.propose(), ANNA)
        sent = time.monotonic()
        message = next(m for m in messages if "id" in m)
        assert int(message["id"]) == written.notification_ids[0]
        assert orjson.loads(message["data"])["case_id"] == str(written.case_id)
        # Woken by NOTIFY, not by the one-second poll or the heartbeat.
        assert time.monotonic() - sent < 0.9


def test_stop_ends_open_streams(services):
    feed = EventFeed(services.datastore, heartbeat_s=30.0).start()
    stopper = threading.Timer(0.2, feed.stop)  # as the server's shutdown does

    async def follow() -> list[str]:
        seen = []
        async for message in feed.stream(10**9, types=None, case_id=None, personal=False):
            seen.append(message.comment or "")
            stopper.start()
        return seen

    started = time.monotonic()
    assert asyncio.run(asyncio.wait_for(follow(), 5)) == [
        f"sip-ledger event feed after {10**9}"]
    # Ended by stop, long before its 30-second wait was up.
    assert time.monotonic() - started < 2 and feed.clients == 0
    stopper.join(5)
    assert feed.thread is not None and not feed.thread.is_alive()


def test_a_client_reconnecting_20_times_under_load_gets_every_event_once_in_order(
    server_url, auth, services, world,
):
    """The must-show: a writer records events all along; the client drops its connection
    after a few events, 20 times, each time resuming with Last-Event-ID; once the writer stops
    and the client has drained to the head, it has every case event of the log, once, in order.
    """
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1  # a different birth year each time: never the same person twice (R09)
                case = services.ledger.propose(b.propose(age=20 + n % 60), ANNA)
                written.extend(case.notification_ids)
                result = services.ledger.record_consent(b.consent(case.case_id), ANNA)
                written.extend(result.notification_ids)
                time.sleep(0.005)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    writer = threading.Thread(target=write, name="feed-test-writer", daemon=True)
    rng = random.Random(20)
    received: list[int] = []
    headers = auth("service")
    writer.start()
    try:
        for _ in range(21):  # the first connection and 20 reconnections
            resume = {"Last-Event-ID": str(received[-1])} if received else {}
            events = read_events(server_url, {**headers, **resume}, count=rng.randint(1, 25))
            received += [e["id"] for e in events]
            time.sleep(rng.choice((0, 0, 0.01, 0.05)))
        assert len(written) > 20, "the writer was not writing during the reconnections"
    finally:
        stop.set()
        writer.join(10)
    assert not failures, failures
    expected = case_event_ids(services)
    if expected[-1] != received[-1]:  # drain what was recorded since the last drop
        received += [e["id"] for e in read_events(
            server_url, {**headers, "Last-Event-ID": str(received[-1])}, until_id=expected[-1],
            timeout=20)]
    assert len(received) == len(set(received)), "an event came twice"
    assert received == expected
    # Every dropped connection ended its stream on the server too.
    deadline = time.monotonic() + 5
    while services.feed.clients and time.monotonic() < deadline:
        time.sleep(0.05)
    assert services.feed.clients == 0
