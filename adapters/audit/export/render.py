"""The audit copy written out: as JSON, and as a self-contained HTML page for a reader."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .document import Correction, EventActor, EventEntry, Export

FORMATS = ("json", "html")


def render_json(export: Export) -> str:
    return json.dumps(export, ensure_ascii=False, indent=2) + "\n"


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1b1b;
line-height:1.4;max-width:100rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:2px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f1f1}tr:target{background:#fff6c7}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.78rem;
word-break:break-all}
.corrected{background:#fdeaea}.correction{background:#eaf3fd}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.meta dt{font-weight:600}pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem}
.note{color:#6a4a00}
"""


def _e(value: Any) -> str:
    if value is None:
        return "—"
    return html.escape(str(value), quote=True)


def _link(anchor: str, text: Any) -> str:
    return f'<a href="{_e(anchor)}">{_e(text)}</a>'


def _meta(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="meta">{rows}</dl>'


def render_html(export: Export) -> str:
    """A self-contained page: header, events, corrections, state as of, access log, chain."""
    case_id = export["case_id"]
    exported_by = export.get("exported_by")
    by = (" ".join((exported_by["person_id"], exported_by["organisation_id"],
                    exported_by["role"])).strip() if exported_by else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        f"<title>SIP {_e(case_id)} — granskningsunderlag / audit copy</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Granskningsunderlag för SIP / Audit copy of a SIP case<br><code>{_e(case_id)}"
        "</code></h1>",
        _meta([
            ("Ärende / Case", f"<code>{_e(case_id)}</code>"),
            ("Exporterad / Exported at", _e(export.get("exported_at"))),
            ("Per tidpunkt / As of", _e(export.get("as_of") or "nu / now")),
            ("Version", _e(export.get("version"))),
            ("Händelser / Events", _e(export.get("event_count"))),
            ("Exporterad av / Exported by", _e(by or None)),
            ("Åtkomstloggrad / Access-log row", _e(export.get("access_log_id"))),
            ("Format", f"<code>{_e(export.get('format'))}</code>"),
        ]),
        _events_html(export["events"]),
        _corrections_html(export.get("corrections") or []),
        "<h2 id=\"state\">Ärendets läge vid tidpunkten / State as of the instant</h2>",
        _state_html(export.get("state")),
        _access_html(export.get("access_log") or []),
        _chain_html(export),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _actor_html(actor: EventActor) -> str:
    return (
        f"{_e(actor.get('name'))} (<code>{_e(actor.get('person_id'))}</code>)<br>"
        f"{_e(actor.get('organisation_id'))} ({_e(actor.get('organisation_kind'))})"
        f"{', ' + _e(actor.get('unit')) if actor.get('unit') else ''}<br>"
        f"{_e(actor.get('role'))}"
    )


def _events_html(events: list[EventEntry]) -> str:
    rows = []
    for e in events:
        cls = []
        notes = []
        if e.get("corrects"):
            cls.append("correction")
            c = e["corrects"]
            notes.append(
                f"Rättar / corrects {_link(c['anchor'], 'v' + str(c['corrects_version']))}: "
                f"{_e(c.get('reason'))} — {_e(c.get('correction'))}"
            )
        if e.get("corrected_by"):
            cls.append("corrected")
            links = ", ".join(_link(c["anchor"], f"v{c['version']}") for c in e["corrected_by"])
            notes.append(f"Rättad av / corrected by {links}")
        rows.append(
            f'<tr id="{_e(e["anchor"])}" class="{" ".join(cls)}">'
            f'<td>{_link("#" + e["anchor"], e["version"])}</td>'
            f"<td>{_e(e['notification_id'])}</td><td>{_e(e['type'])}</td>"
            f"<td>{_e(e['recorded_at'])}</td><td>{_e(e.get('occurred_at'))}</td>"
            f"<td>{_e(e['on'])}</td><td>{_actor_html(e['actor'])}</td>"
            f"<td><code>{_e(e.get('command_id'))}</code></td>"
            f"<td>{_e(e['summary'])}{''.join('<br>' + n for n in notes)}"
            "<details><summary>Innehåll / Content</summary>"
            f"<pre>{_e(json.dumps(e.get('data'), ensure_ascii=False, indent=1))}</pre>"
            "</details></td></tr>"
        )
    return (
        '<h2 id="events">Händelser / Events</h2>'
        "<table><thead><tr><th>Version</th><th>Position</th><th>Typ / Type</th>"
        "<th>Registrerad / Recorded</th><th>Inträffade / Occurred</th><th>Dag / Day</th>"
        "<th>Utförd av / Actor</th><th>Kommando / Command</th>"
        "<th>Sammanfattning / Summary</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )


def _corrections_html(corrections: list[Correction]) -> str:
    if not corrections:
        return ('<h2 id="corrections">Rättelser / Corrections (R32)</h2>'
                "<p>Inga rättelser / No corrections.</p>")
    rows = "".join(
        f"<tr><td>{_link(c['anchor'], 'v' + str(c['version']))}</td>"
        f"<td>{_link('#v' + str(c['corrects_version']), 'v' + str(c['corrects_version']))}"
        f" ({_e(c.get('corrected_type'))})</td>"
        f"<td>{_e(c.get('reason'))}</td><td>{_e(c.get('correction'))}</td></tr>"
        for c in corrections
    )
    return (
        '<h2 id="corrections">Rättelser / Corrections (R32)</h2>'
        "<table><thead><tr><th>Rättelse / Correction</th><th>Rättar / Corrects</th>"
        "<th>Skäl / Reason</th><th>Rättelse / Text</th></tr></thead><tbody>"
        + rows + "</tbody></table>"
    )


def _state_html(state: Mapping[str, object] | None) -> str:
    if not isinstance(state, dict):
        return "<p>—</p>"
    rows = []
    for key, value in state.items():
        if isinstance(value, dict | list):
            shown = (f"<pre>{_e(json.dumps(value, ensure_ascii=False, indent=2))}</pre>"
                     if value else "—")
        else:
            shown = _e(value)
        rows.append(f"<tr><th>{_e(key)}</th><td>{shown}</td></tr>")
    return "<table><tbody>" + "".join(rows) + "</tbody></table>"


def _access_html(rows: Sequence[Mapping[str, object]]) -> str:
    columns = ("id", "at", "person_id", "organisation_id", "organisation_kind", "unit", "role",
               "action", "view", "outcome", "reason", "request_id")
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return (
        '<h2 id="access-log">Åtkomstlogg / Read-access log (R33)</h2>'
        f"<p>{len(rows)} rader / rows.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _chain_html(export: Export) -> str:
    chain = export["chain"]
    out = ['<h2 id="chain">Hashkedja och kontrollpunkt / Hash chain and checkpoint</h2>']
    method = chain["method"]
    out.append(_meta([
        ("Hash", _e(method.get("hash"))),
        ("Genesis", f'<span class="hash">{_e(method.get("genesis"))}</span>'),
        ("Kanonisk form / Canonical bytes", _e(method.get("canonical"))),
        ("Ordning / Order", _e(method.get("order"))),
        ("Signatur / Signature", _e(method.get("checkpoint_signature"))),
    ]))
    if chain.get("note"):
        out.append(f'<p class="note">{_e(chain["note"])}</p>')
    if not chain.get("available"):
        return "".join(out)
    rows = "".join(
        f"<tr><td>{_link('#' + e['anchor'], 'v' + str(e['version']))}</td>"
        f"<td>{_e(e['notification_id'])}</td><td>{_e(e.get('previous_notification_id'))}</td>"
        f'<td class="hash">{_e(e.get("previous_hash"))}</td>'
        f'<td class="hash">{_e(e.get("hash"))}</td></tr>'
        for e in export["events"]
    )
    out.append(
        "<table><thead><tr><th>Händelse / Event</th><th>Position</th>"
        "<th>Föregående / Previous</th><th>Föregående hash / Previous hash</th>"
        "<th>Hash</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )
    checkpoint: Mapping[str, object] | None = chain.get("checkpoint")
    if checkpoint:
        out.append("<h3>Signerad kontrollpunkt / Signed checkpoint</h3>")
        out.append(_meta([
            (k, f'<span class="hash">{_e(checkpoint.get(k))}</span>')
            for k in ("position", "chain_hash", "recorded_at", "key_id", "algorithm",
                      "signature", "public_key", "public_key_note")
            if k in checkpoint
        ]))
        out.append(f"<p>Signerat meddelande / Signed message:</p>"
                   f"<pre>{_e(checkpoint.get('signed_message'))}</pre>")
    segment = chain.get("segment")
    if segment:
        out.append(
            f"<p>Kedjesegment / Chain segment: positions {_e(segment['from'])}–"
            f"{_e(segment['to'])}, {_e(len(segment['hashes']))} hashes listed of "
            f"{_e(segment['events_in_log'])} events in the log "
            f"({'complete' if segment['complete'] else 'only the pairs compared'}); "
            "the list is in the JSON copy.</p>"
        )
    out.append(
        "<p>Kontroll / How to check: (1) for each event, SHA-256(previous hash ‖ "
        "canonical_bytes(case id, version, topic, stored bytes)) equals its hash; (2) the "
        "checkpoint's Ed25519 signature verifies over the signed message with the "
        "organisation's published key; (3) the listed hashes run in order from the case's "
        "events to the checkpoint's hash. Links through other cases' events (whose content is "
        "not in this copy) are confirmed by <code>sip-ledger audit verify</code> on the store, "
        "whose chain must hold the listed hashes.</p>"
    )
    return "".join(out)
