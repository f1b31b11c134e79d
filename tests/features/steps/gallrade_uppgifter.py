"""Steps only ``features/gallrade_uppgifter.feature`` uses: what every reader shows after an
erasure (R34).

The case is written through the ledger like every scenario's; the erasure and every read go
through the running service (``tjansten``: the HTTP app with its read models, feed and access
log, on the scenario's store and clock), and the auditor's export and ``audit verify`` through
the command line, each with key stores of their own — so a reader shows what the stores hold,
never a copy some other reader kept in memory. Each reader's answer is checked twice: the
marker stands where the personal values stood, and no personal value is anywhere in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier
from pytest_bdd import given, then
from typer.testing import CliRunner, Result

from adapters.bootstrap import Services, open_services
from adapters.cli.root import app as cli
from adapters.http.app import create_app
from adapters.identity.tokens import FEED_PERSONAL_SCOPE, Principal, mint_token
from adapters.logging import reset_logging
from adapters.store import Store
from domain.case_state import Stage
from domain.parties import Role
from tests.conftest import TEST_SECRET, Clock
from tests.support.builders import KOMMUN, REGION, pin_born, plan_content
from tests.support.http import http_settings

from ..context import DEFAULT_EXPECTATION, DEFAULT_REASON, Scenario
from .common import step

# ================================================================================ the service


@dataclass
class Tjansten:
    """The service as a client sees it, on the scenario store's schema and clock."""

    services: Services
    client: TestClient

    def headers(self, role: Role, scopes: tuple[str, ...] = ()) -> dict[str, str]:
        principal = Principal(
            person_id="hsa-2030", name="Greta Granskare", organisation=KOMMUN,
            unit="Kommunarkivet", roles=frozenset({role}), scopes=frozenset(scopes),
        )
        return {"Authorization": f"Bearer {mint_token(principal, self.services.settings)}"}

    def caught_up(self) -> None:
        head = self.services.ledger.recorder.max_notification_id() or 0
        assert self.services.runner.wait_for(head, 30), "the read models did not catch up"

    def get(self, path: str, role: Role = Role.AUDITOR, scopes: tuple[str, ...] = (),
            **params: Any) -> Any:
        self.caught_up()
        answer = self.client.get(path, params=params, headers=self.headers(role, scopes))
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="session")
def tjansten(store: Store, session_clock: Clock) -> Iterator[Tjansten]:
    services = open_services(http_settings(), store, clock=session_clock,
                             individual_secret=TEST_SECRET)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            yield Tjansten(services, client)
    finally:
        services.close()


@dataclass
class Gallrat:
    """What a scenario of gallrade_uppgifter.feature remembers besides the ``sip`` scenario."""

    access_log_ids: list[int] = field(default_factory=list)
    # When the auditor read the case before the erasure: as-of asks how it stood then. An
    # instant of the recording (the store's time), not of the scenario's calendar.
    read_at: datetime | None = None
    as_of_stage: str | None = None


@pytest.fixture
def gallrat() -> Gallrat:
    return Gallrat()


# ================================================================================ what is personal


def _personal_values(sip: Scenario) -> list[str]:
    """The case's personal values as the scenario wrote them: the individual's name and number
    (with and without the dash), the guardian's name, the plan's text, the meeting's place and
    the invitation's reason and expectation."""
    assert sip.individual is not None
    pin = sip.individual.personal_identity_number
    plan = plan_content(date(2025, 1, 27))
    return [
        sip.individual.name, pin, pin.replace("-", ""),
        *(g.name for g in sip.individual.guardians),
        *plan.needs, plan.coordination,
        *(g.description for g in plan.goals), *(g.measure for g in plan.goals),
        *(i.description for i in plan.interventions),
        "Stadshuset, rum 3", DEFAULT_REASON, DEFAULT_EXPECTATION,
    ]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _nothing_personal(sip: Scenario, answer: Any, where: str) -> None:
    shown = [s.casefold() for s in _strings(answer)]
    leaked = [p for p in _personal_values(sip) if any(p.casefold() in s for s in shown)]
    assert leaked == [], f"{where} shows erased personal data: {leaked}"


def _marked(view: dict[str, Any], marker: str, where: str) -> None:
    """The full view of a case: the marker in place of the name, the number, the guardian's
    name, the consent giver's name, the meeting's place and every text of the plan."""
    individual = view["individual"]
    plan = view["plan"]
    assert plan is not None, f"{where} has no plan"
    shown = {
        "name": individual["name"],
        "personal_identity_number": individual["personal_identity_number"],
        "guardian": individual["guardians"][0]["name"],
        "consent giver": view["consent"]["givers"][0]["name"],
        "meeting place": view["meeting"]["place"],
        "coordination": plan["coordination"],
        **{f"need {n}": need for n, need in enumerate(plan["needs"])},
        **{f"goal {n}": g["description"] for n, g in enumerate(plan["goals"])},
        **{f"intervention {n}": i["description"] for n, i in enumerate(plan["interventions"])},
    }
    wrong = {k: v for k, v in shown.items() if v != marker}
    assert wrong == {}, f"{where} does not show the marker for: {sorted(wrong)}"


# ================================================================================ the case


@given(step('ett barn "{namn:Text}" född {född:Datum} med vårdnadshavaren "{vårdnadshavare:Text}"'))
def _child_born(sip: Scenario, namn: str, född: date, vårdnadshavare: str):
    sip.new_individual(pin_born(född), namn, (vårdnadshavare,))


def _access_log_ids(tjansten: Tjansten, sip: Scenario) -> list[int]:
    with psycopg.connect(tjansten.services.store.conninfo) as conn:
        rows = conn.execute(
            SQL("SELECT id FROM {}.sip_access_log WHERE case_id = %s ORDER BY id")
            .format(Identifier(tjansten.services.schema)), (sip.case_id,)).fetchall()
    return [r[0] for r in rows]


@given("att granskaren har läst ärendet i tjänsten")
def _read_before(sip: Scenario, tjansten: Tjansten, gallrat: Gallrat):
    assert sip.individual is not None
    view = tjansten.get(f"/cases/{sip.case_id}")
    # Before the erasure a reader opens the sealed values: the name is there to be erased.
    assert view["individual"]["name"] == sip.individual.name
    gallrat.read_at = datetime.now(tz=UTC)
    gallrat.access_log_ids = _access_log_ids(tjansten, sip)
    assert gallrat.access_log_ids, "the read was not logged (R33)"


@given(step(
    'att arkivarien har gallrat ärendets personuppgifter i tjänsten enligt beslutet '
    '"{beslut:Text}"'
))
def _erased_over_http(sip: Scenario, tjansten: Tjansten, beslut: str):
    tjansten.caught_up()
    answer = tjansten.client.post(
        f"/cases/{sip.case_id}/erasure", json={"decision": beslut, "policy_id": "socialtjanst"},
        headers=tjansten.headers(Role.ARCHIVIST),
    )
    assert answer.status_code == 200, answer.text


# ================================================================================ the readers


@then(step(
    'visar ärendet markeringen "{markering:Text}" i stället för namnet, personnumret, '
    "vårdnadshavarens namn och planens text"
))
def _case_marked(sip: Scenario, tjansten: Tjansten, markering: str):
    view = tjansten.get(f"/cases/{sip.case_id}")
    _marked(view, markering, "the case view")
    _nothing_personal(sip, view, "the case view")


@then(step(
    "står ärendets process kvar: föreslaget {föreslaget:Datum}, planen fastställd "
    "{fastställd:Datum} och avslutat {avslutat:Datum} hos {verksamheter:Verksamheter}"
))
def _process_kept(sip: Scenario, tjansten: Tjansten, föreslaget: date, fastställd: date,
                  avslutat: date, verksamheter):
    view = tjansten.get(f"/cases/{sip.case_id}")
    assert view["stage"] == Stage.CLOSED.value
    assert (view["proposed_on"], view["plan"]["decided_on"], view["closed_on"]) == (
        föreslaget.isoformat(), fastställd.isoformat(), avslutat.isoformat())
    assert (view["municipality"]["id"], view["region"]["id"]) == (KOMMUN.id, REGION.id)
    assert sorted(view["closures"]) == sorted(o.id for o in verksamheter)
    assert view["deadlines"], "the deadlines are process facts and stay"


def _stored_versions(tjansten: Tjansten, sip: Scenario) -> list[int]:
    with psycopg.connect(tjansten.services.store.conninfo) as conn:
        rows = conn.execute(
            SQL("SELECT originator_version FROM {}.sipledger_events WHERE originator_id = %s "
                "ORDER BY originator_version").format(Identifier(tjansten.services.schema)),
            (sip.case_id,)).fetchall()
    return [r[0] for r in rows]


@then("listar historiken fortfarande varje händelse i ärendet, sist gallringen")
def _history_kept(sip: Scenario, tjansten: Tjansten):
    history = tjansten.get(f"/cases/{sip.case_id}/history")
    events = history["events"]
    assert [e["version"] for e in events] == _stored_versions(tjansten, sip)
    types = [e["event_type"] for e in events]
    for kind in ("SipProposed", "ConsentRecorded", "MeetingConvened", "PlanEstablished",
                 "ClosureRecorded", "SipClosed"):
        assert kind in types, f"{kind} is missing from the history: {types}"
    assert types[-1] == "PersonalDataErased"
    # Who recorded each entry is accountability data, kept with the record.
    assert all(e["actor_person_id"] for e in events)
    _nothing_personal(sip, history, "the history")


@then(step(
    'visar ärendet som det var när granskaren läste det markeringen "{markering:Text}" '
    "i stället för namnet, personnumret, vårdnadshavarens namn och planens text"
))
def _as_of_marked(sip: Scenario, tjansten: Tjansten, gallrat: Gallrat, markering: str):
    assert gallrat.read_at is not None, "the auditor never read the case"
    at = gallrat.read_at.isoformat()
    answer = tjansten.get(f"/cases/{sip.case_id}/as-of", at=at)
    assert answer["version"] < max(_stored_versions(tjansten, sip)), "not before the erasure"
    _marked(answer["case"], markering, f"the case as of {at}")
    _nothing_personal(sip, answer, f"the case as of {at}")
    gallrat.as_of_stage = answer["case"]["stage"]


@then(step("var ärendet då {stadium:Stadium}"))
def _as_of_stage(gallrat: Gallrat, stadium: Stage):
    assert gallrat.as_of_stage == stadium.value


def _cli(tjansten: Tjansten, *args: str) -> Result:
    store = tjansten.services.store
    env = {
        "SIP_DATABASE_URL": store.conninfo,
        "SIP_DATABASE_SCHEMA": store.schema,
        "SIP_INDIVIDUAL_KEY": TEST_SECRET.decode(),
        "SIP_LOG_FORMAT": "json",
        "SIP_LOG_LEVEL": "WARNING",
    }
    tjansten.caught_up()
    try:
        return CliRunner().invoke(cli, list(args), env=env)
    finally:
        reset_logging()


def _events_marked(events: list[dict[str, Any]], part: str, marker: str, where: str) -> None:
    """The marker in ``part`` of each event that held the case's personal data."""
    unmarked = [
        e.get("type") or e.get("event_type")
        for e in events
        if (e.get("type") or e.get("event_type")) in (
            "SipProposed", "ConsentRecorded", "MeetingConvened", "PlanEstablished")
        and marker not in list(_strings(e.get(part)))
    ]
    assert unmarked == [], f"{where}: no marker in the {part} of {unmarked}"


@then(step('visar granskarens export av ärendet markeringen "{markering:Text}" i ärendet och '
           "i händelserna"))
def _export_marked(sip: Scenario, tjansten: Tjansten, markering: str):
    done = _cli(tjansten, "audit", "case", str(sip.case_id), "--auditor", "greta",
                "--organisation", KOMMUN.id)
    assert done.exit_code == 0, done.output
    export = json.loads(done.stdout)
    _marked(export["state"], markering, "the export's state")
    _events_marked(export["events"], "data", markering, "the export")
    assert [e["version"] for e in export["events"]] == _stored_versions(tjansten, sip)
    _nothing_personal(sip, {k: v for k, v in export.items() if k != "chain"}, "the export")


@then(step('visar händelseflödet med personuppgifter markeringen "{markering:Text}" i '
           "händelsernas personuppgifter"))
def _feed_marked(sip: Scenario, tjansten: Tjansten, markering: str):
    page = tjansten.get("/events", scopes=(FEED_PERSONAL_SCOPE,), case_id=str(sip.case_id),
                        limit=1000)
    events = page["events"]
    assert events and all("personal" in e for e in events), "the feed withheld personal data"
    _events_marked(events, "personal", markering, "the feed")
    # The process facts need no keys: the public part is as it was.
    proposed = next(e for e in events if e["type"] == "SipProposed")
    assert proposed["data"]["municipality"]["id"] == KOMMUN.id
    _nothing_personal(sip, page, "the feed")


@then('går hashkedjan igenom "sip-ledger audit verify"')
def _verified(tjansten: Tjansten):
    done = _cli(tjansten, "audit", "verify")
    assert done.exit_code == 0, done.output
    assert "intact" in done.stdout


@then("har åtkomstloggen kvar sina rader om ärendet")
def _access_log_kept(sip: Scenario, tjansten: Tjansten, gallrat: Gallrat):
    assert gallrat.access_log_ids, "nothing was read before the erasure"
    kept = _access_log_ids(tjansten, sip)
    assert kept[:len(gallrat.access_log_ids)] == gallrat.access_log_ids
