"""``sip-ledger audit case``: a case's history for an auditor, on a real PostgreSQL.

One case (A) is written with another case (B) interleaved in the log: A is proposed, consented,
its wishes recorded, then B is proposed, then A's wishes are corrected (R32, with markup in the
reason), an instant is noted, and A's wishes are recorded again. Reads of A are logged before and
after the instant (R33), and a checkpoint is signed over the whole log.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.postgres import PostgresDatastore
from typer.testing import CliRunner, Result

from adapters.audit.chain import GENESIS, canonical_bytes, chain_hash
from adapters.audit.checkpoints import SigningKey, write_checkpoint
from adapters.audit.export import export_case, render_html, verify_export
from adapters.cli import audit_case as case_export
from adapters.cli import root as cli
from adapters.logging import reset_logging
from adapters.store import Store
from adapters.store.access_log import AccessLog
from domain.commands import CorrectEntry, Individual, RecordWishes, Wishes
from domain.errors import CaseNotFound, InvalidInput
from domain.ledger import SipLedger
from projections.access import Level, view
from projections.replayed import record_of
from projections.runner import ReadModelRunner
from tests.conftest import TEST_SECRET
from tests.support import builders as b

pytestmark = pytest.mark.store

CORRECTION_REASON = "Fel plats <script>alert('x')</script> & fel tid"
OTHER_NAME = "Bo Bengtsson-Annan"


@dataclass
class World:
    store: Store
    ledger: SipLedger
    datastore: PostgresDatastore
    access_log: AccessLog
    key: SigningKey
    case_id: UUID
    other_case_id: UUID
    pin: str
    before_proposal: datetime
    instant: datetime  # after version 4, before version 5

    def export(self, as_of: datetime | None = None, **kwargs) -> dict:
        return export_case(self.ledger, self.datastore, self.access_log, self.case_id, as_of,
                           **kwargs)

    def checkpoint(self) -> None:
        assert write_checkpoint(self.datastore, self.key) is not None


def _pause() -> None:
    time.sleep(0.01)  # recording times on either side of an instant differ


def _build(store: Store) -> World:
    ledger = store.ledger(individual_secret=TEST_SECRET)
    datastore = store.datastore()
    access_log = AccessLog(datastore, TEST_SECRET)
    access_log.setup()
    coordinator = b.actor(b.KOMMUN, person_id="hsa-1", name="Anna & <Andersson>",
                          unit="Socialtjänsten, vuxen")
    region = b.actor(b.REGION, person_id="hsa-2", name="Rut Region", unit="Psykiatrin")
    before = datetime.now(UTC)
    _pause()
    proposal = b.propose()
    case_id = ledger.propose(proposal, coordinator).case_id                          # v1
    ledger.record_consent(b.consent(case_id), coordinator)                           # v2
    ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(place="skolan")),
                         region)                                                     # v3
    other = b.propose(individual=Individual(personal_identity_number=b.pin_aged(30),
                                            name=OTHER_NAME))
    other_id = ledger.propose(other, coordinator).case_id
    ledger.correct_entry(CorrectEntry(case_id=case_id, corrects_version=3,
                                      reason=CORRECTION_REASON,
                                      correction="Platsen är hemma, inte skolan"),
                         coordinator)                                                # v4
    access_log.record(person_id="hsa-9", organisation_id="region-vg",
                      organisation_kind="region", unit="Psykiatrin", role="coordinator",
                      action="read_plan", outcome="granted", case_id=case_id,
                      personal_identity_number=proposal.individual.personal_identity_number,
                      view="full", reason="named by the consent")
    _pause()
    instant = datetime.now(UTC)
    _pause()
    ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(place="hemma")),
                         coordinator)                                                # v5
    access_log.record(person_id="hsa-8", organisation_id="kommun-boras",
                      organisation_kind="kommun", unit="", role="supervisor",
                      action="read_history", outcome="granted", case_id=case_id,
                      view="restricted", reason="supervisor of a party")
    ReadModelRunner(datastore).process_available()
    return World(store, ledger, datastore, access_log,
                 SigningKey(Ed25519PrivateKey.generate(), "test"), case_id, other_id,
                 proposal.individual.personal_identity_number, before, instant)


@pytest.fixture
def world(fresh_store: Store) -> Iterator[World]:
    w = _build(fresh_store)
    try:
        yield w
    finally:
        w.ledger.close()
        w.datastore.close()


# ------------------------------------------------------------------------ the export


def test_every_event_is_listed_in_order_with_its_actor_times_and_summary(world: World):
    export = world.export()
    events = export["events"]
    assert export["case_id"] == str(world.case_id) and export["as_of"] is None
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5] == [
        int(e["anchor"][1:]) for e in events]
    assert [e["type"] for e in events] == [
        "SipProposed", "ConsentRecorded", "WishesRecorded", "EntryCorrected", "WishesRecorded"]
    positions = [e["notification_id"] for e in events]
    assert positions == sorted(positions)
    recorded = [datetime.fromisoformat(e["recorded_at"]) for e in events]
    assert recorded == sorted(recorded)
    assert all(e["on"] and e["command_id"] for e in events)
    assert events[0]["actor"] == {
        "person_id": "hsa-1", "name": "Anna & <Andersson>", "organisation_id": "kommun-boras",
        "organisation_kind": "kommun", "organisation_name": "Borås stad",
        "unit": "Socialtjänsten, vuxen", "role": "coordinator"}
    assert events[2]["actor"]["person_id"] == "hsa-2"
    assert events[2]["actor"]["organisation_id"] == "region-vg"
    assert events[0]["summary"].startswith("SIP proposed")
    assert events[3]["summary"] == "Entry 3 (WishesRecorded) corrected in words"
    # The state now: the full view of the case as replayed.
    assert export["version"] == 5 and export["state"]["version"] == 5
    assert export["state"] == json.loads(json.dumps(
        view(record_of(world.ledger.get_case(world.case_id)), Level.FULL)))
    assert export["state"]["individual"]["name"] == "Kim Karlsson"
    json.dumps(export)  # JSON-ready as it is


def test_a_correction_links_to_what_it_corrects_and_back(world: World):
    events = {e["version"]: e for e in world.export()["events"]}
    corrects = events[4]["corrects"]
    assert corrects["corrects_version"] == 3 and corrects["anchor"] == "#v3"
    assert corrects["notification_id"] == events[3]["notification_id"]
    assert corrects["corrected_type"] == "WishesRecorded"
    assert corrects["reason"] == CORRECTION_REASON
    correction = events[4]["data"]["correction"]  # the event itself, for reading
    assert correction["by"]["person_id"] == events[4]["actor"]["person_id"]
    assert {k: v for k, v in correction.items() if k != "by"} == {
        "corrects_version": 3, "reason": CORRECTION_REASON,
        "correction": "Platsen är hemma, inte skolan", "on": events[4]["on"],
        # R32: a correction in words names no fields and recomputes nothing.
        "version": 4, "corrected_type": "WishesRecorded", "item": None, "changes": [],
        "recomputed_deadlines": []}
    assert events[3]["corrected_by"] == [{
        "version": 4, "notification_id": events[4]["notification_id"], "anchor": "#v4",
        "reason": CORRECTION_REASON}]
    assert all(not events[v]["corrected_by"] for v in (1, 2, 4, 5))
    assert "corrects" not in events[3]


def test_as_of_leaves_out_later_events_and_gives_the_earlier_state(world: World):
    export = world.export(world.instant)
    assert [e["version"] for e in export["events"]] == [1, 2, 3, 4]
    assert export["version"] == 4 and export["state"]["version"] == 4
    assert export["state"] == json.loads(json.dumps(
        view(record_of(world.ledger.get_case(world.case_id, version=4)), Level.FULL)))
    assert datetime.fromisoformat(export["as_of"]) == world.instant
    # Access-log rows up to the instant only.
    assert [r["action"] for r in export["access_log"]] == ["read_plan"]
    # A naive instant is Swedish local time.
    naive = world.instant.astimezone(case_export.STOCKHOLM).replace(tzinfo=None)
    assert [e["version"] for e in world.export(naive)["events"]] == [1, 2, 3, 4]


def test_before_the_proposal_or_for_an_unknown_case_the_export_is_refused(world: World):
    with pytest.raises(InvalidInput) as error:
        world.export(world.before_proposal)
    assert error.value.field == "as_of"
    with pytest.raises(CaseNotFound):
        export_case(world.ledger, world.datastore, world.access_log, uuid4(), None)


def test_the_access_log_rows_of_the_case_are_included(world: World):
    rows = world.export()["access_log"]
    assert [(r["action"], r["person_id"], r["view"]) for r in rows] == [
        ("read_plan", "hsa-9", "full"), ("read_history", "hsa-8", "restricted")]
    assert rows[0]["individual_key"] == world.access_log.key_for(world.pin)
    assert all(r["case_id"] == str(world.case_id) for r in rows)


# ------------------------------------------------------------------------ the chain


def test_each_event_hash_is_recomputed_from_the_exported_bytes(world: World):
    world.checkpoint()
    export = world.export()
    chain = export["chain"]
    assert chain["available"] and chain["events_chained"] == 5
    assert chain["method"]["genesis"] == GENESIS.hex()
    for e in export["events"]:
        state = base64.b64decode(e["state_b64"])
        expected = chain_hash(bytes.fromhex(e["previous_hash"]),
                              canonical_bytes(world.case_id, e["version"], e["topic"], state))
        assert expected.hex() == e["hash"]
        assert json.loads(state)["command_id"]  # the stored event, as stored
    first = export["events"][0]
    assert first["previous_hash"] == GENESIS.hex() and first["previous_notification_id"] is None
    # The hashes are the store's chain rows.
    stored = _chain_rows(world)
    assert all(stored[e["notification_id"]] == e["hash"] for e in export["events"])
    # Neighbours in the log link directly; the registers and case B come between others.
    runs = chain["runs"]
    assert sum(r["events"] for r in runs) == 5 and any(r["events"] > 1 for r in runs)
    assert len(runs) > 1
    assert verify_export(export) == []


def test_the_checkpoint_and_the_segment_to_it_are_checked_without_other_cases_data(world):
    world.checkpoint()
    export = world.export()
    checkpoint, segment = export["chain"]["checkpoint"], export["chain"]["segment"]
    head = max(_chain_rows(world))
    assert checkpoint["position"] == head and checkpoint["key_id"] == world.key.key_id
    assert checkpoint["signed_message"].startswith("sip-ledger checkpoint v1\n")
    assert checkpoint["public_key"] is None  # no key was given: the verifier brings its own
    assert segment["complete"] and segment["to"] == head
    assert segment["hashes"][-1] == [head, checkpoint["chain_hash"]]
    # Every event of the log from the one before A's first to the checkpoint, in order: other
    # aggregates' positions and hashes only.
    stored = _chain_rows(world)
    assert segment["hashes"] == [[n, h] for n, h in sorted(stored.items())]
    text = json.dumps(export, ensure_ascii=False)
    assert OTHER_NAME not in text and str(world.other_case_id) not in text
    trusted = {world.key.key_id: world.key.public_key}
    assert verify_export(export, trusted) == []
    # The signature is checked against the trusted key, and a forged one fails.
    assert verify_export(export, {"other": world.key.public_key}) != []
    forged = json.loads(json.dumps(export))
    forged["chain"]["checkpoint"]["signature"] = base64.b64encode(bytes(64)).decode()
    assert "checkpoint: the signature does not verify" in verify_export(forged, trusted)
    # With the public key in the copy, it checks on its own.
    with_key = world.export(public_keys=trusted)
    assert with_key["chain"]["checkpoint"]["public_key"] == base64.b64encode(
        world.key.public_key.public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)).decode()
    assert verify_export(with_key) == []


def test_a_changed_event_or_a_changed_link_in_the_copy_is_found(world: World):
    world.checkpoint()
    export = world.export()
    trusted = {world.key.key_id: world.key.public_key}
    changed = json.loads(json.dumps(export))
    e3 = changed["events"][2]
    # A stored byte changed (its text is sealed; a type name in clear is changed instead).
    state = base64.b64decode(e3["state_b64"]).replace(b'"_type_"', b'"_typo_"', 1)
    e3["state_b64"] = base64.b64encode(state).decode()
    assert verify_export(changed, trusted) == [
        "event v3: its hash does not follow from its bytes and the previous hash"]
    relinked = json.loads(json.dumps(export))
    relinked["chain"]["segment"]["hashes"][-1][1] = "00" * 32
    problems = verify_export(relinked, trusted)
    assert "segment: does not end at the checkpoint's position and hash" in problems


def test_without_a_checkpoint_yet_the_events_still_check_and_the_copy_says_so(world: World):
    export = world.export()
    assert export["chain"]["checkpoint"] is None and export["chain"]["segment"] is None
    assert "no signed checkpoint" in export["chain"]["note"]
    assert verify_export(export) == []
    # A checkpoint before the case's last event does not cover it: still none.
    world.checkpoint()
    world.ledger.record_wishes(RecordWishes(case_id=world.case_id, wishes=Wishes(place="x")),
                               b.actor())
    assert world.export()["chain"]["checkpoint"] is None
    # As of the instant, the earlier checkpoint covers the exported events.
    ReadModelRunner(world.datastore).process_available()
    assert world.export(world.instant)["chain"]["checkpoint"] is not None


def test_a_long_segment_keeps_only_the_pairs_a_verifier_compares(world: World):
    world.checkpoint()
    export = world.export(max_segment=3)
    segment = export["chain"]["segment"]
    assert not segment["complete"] and segment["events_in_log"] > 3
    wanted = {segment["to"]}
    for e in export["events"]:
        wanted |= {e["notification_id"], e["previous_notification_id"]} - {None}
    assert [n for n, _ in segment["hashes"]] == sorted(wanted)
    assert verify_export(export, {world.key.key_id: world.key.public_key}) == []


def _chain_rows(world: World) -> dict[int, str]:
    with world.store.connect() as conn:
        rows = conn.execute(f'SELECT notification_id, hash FROM "{world.store.schema}".'
                            "sipledger_chain").fetchall()
    return {n: bytes(h).hex() for n, h in rows}


# ------------------------------------------------------------------------ HTML


def test_the_html_page_escapes_the_content_and_links_corrections_by_anchor(world: World):
    world.checkpoint()
    page = render_html(world.export())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page
    assert "Fel plats &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; fel tid" in page
    assert "Anna &amp; &lt;Andersson&gt;" in page
    for version in range(1, 6):
        assert f'id="v{version}"' in page
    assert 'href="#v3"' in page and 'href="#v4"' in page  # both ways
    for heading in ("Händelser / Events", "Rättelser / Corrections",
                    "State as of the instant", "Åtkomstlogg / Read-access log",
                    "Signerad kontrollpunkt / Signed checkpoint"):
        assert heading in page
    assert "read_history" in page and "sip-ledger checkpoint v1" in page


# ------------------------------------------------------------------------ the command


@pytest.fixture
def invoke(world: World, database_url: str, tmp_path: Path):
    runner = CliRunner()

    def run(*args: str, **env: str) -> Result:
        environment = {
            "SIP_DATABASE_URL": database_url,
            "SIP_DATABASE_SCHEMA": world.store.schema,
            "SIP_INDIVIDUAL_KEY": TEST_SECRET.decode(),
            "SIP_DATA_DIR": str(tmp_path),
            "SIP_LOG_FORMAT": "json",
            **env,
        }
        try:
            return runner.invoke(cli.app, ["audit", "case", *args], env=environment)
        finally:
            reset_logging()

    return run


def test_the_command_writes_json_to_stdout_and_logs_the_export(world: World, invoke, tmp_path):
    world.checkpoint()
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(world.key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = invoke(str(world.case_id), "--auditor", "granskare-1", "--organisation", "ivo",
                    SIP_AUDIT_PUBLIC_KEY_FILE=str(key_file))
    assert result.exit_code == 0, result.stderr
    export = json.loads(result.stdout)
    assert export["event_count"] == 5 and export["case_id"] == str(world.case_id)
    assert export["exported_by"]["person_id"] == "granskare-1"
    assert verify_export(export) == []  # the public key travelled with the copy
    assert export["chain"]["checkpoint"]["public_key"]
    # R33: the export is in the access log, as an auditor's read of the full case.
    rows = world.access_log.for_case(world.case_id)
    row = rows[-1]
    assert row["id"] == export["access_log_id"]
    assert (row["action"], row["role"], row["person_id"], row["organisation_id"], row["view"],
            row["outcome"]) == ("audit_export", "auditor", "granskare-1", "ivo", "full",
                                "granted")
    assert row["individual_key"] == world.access_log.key_for(world.pin)
    # Nothing personal in the log lines.
    assert "Kim Karlsson" not in result.stderr and world.pin not in result.stderr


def test_the_command_writes_html_as_of_an_instant_to_a_file(world: World, invoke, tmp_path):
    out = tmp_path / "copy.html"
    result = invoke(str(world.case_id), "--as-of", world.instant.isoformat(), "--format",
                    "html", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    page = out.read_text(encoding="utf-8")
    assert 'id="v4"' in page and 'id="v5"' not in page
    assert "&lt;script&gt;" in page
    assert world.access_log.for_case(world.case_id)[-1]["action"] == "audit_export"


@pytest.mark.parametrize(("args", "field", "code"), [
    (("not-a-uuid",), "case_id", 2),
    (("{random}",), "case_id", 1),
    (("{case}", "--as-of", "yesterday"), "as_of", 2),
    (("{case}", "--as-of", "{before}"), "as_of", 1),
    (("{case}", "--format", "pdf"), "format", 2),
    (("{case}", "-o", "/nonexistent-folder/copy.json"), "output", 2),
])
def test_the_command_refuses_in_one_line(world: World, invoke, args, field, code):
    values = {"random": str(uuid4()), "case": str(world.case_id),
              "before": world.before_proposal.isoformat()}
    result = invoke(*(a.format(**values) for a in args))
    assert result.exit_code == code
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith(f"error field {field}: "), result.stderr
    assert result.stdout == ""
    assert all(r["action"] != "audit_export" for r in world.access_log.for_case(world.case_id))


def test_the_command_is_sip_ledger_audit_case():
    audit = typer.main.get_command(cli.app).commands["audit"]
    assert audit.commands["case"].callback.__module__ == case_export.__name__


# ------------------------------------------------------------------------ the benchmark


def test_the_as_of_benchmark_runs_at_a_tiny_size(database_url: str, tmp_path: Path, capsys):
    """tests/benchmarks/as_of.py (its figures are for ``make bench``; no speed asserted)."""
    from tests.benchmarks import as_of
    from tests.benchmarks.figures import read_figures

    out = tmp_path / "bench.json"
    assert as_of.main(["--events", "20", "--runs", "2", "--snapshot-every", "5", "--out",
                       str(out), "--database-url", database_url]) == 0
    figures = {f["name"]: f for f in read_figures(out)}
    assert set(figures) == {as_of.P50, as_of.P95, as_of.SNAP_P50, as_of.SNAP_P95,
                            as_of.CLEAR_P50, as_of.CLEAR_P95, as_of.CLEAR_SNAP_P50,
                            as_of.CLEAR_SNAP_P95}
    assert figures[as_of.P95]["value"] > 0 and figures[as_of.P95]["unit"] == "ms"
    assert figures[as_of.P95]["run"]["sizes"]["events"] == 20
    assert as_of.P95 in capsys.readouterr().out
