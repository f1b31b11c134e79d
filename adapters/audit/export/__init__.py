"""The audit copy of a case (``sip-ledger audit case``): ``build`` reads it from the store,
``proof`` adds the hash-chain proof, ``check`` verifies a copy on its own, ``render`` writes it
as JSON or HTML."""

from .build import EXPORT_ACTION, export_case
from .check import verify_export
from .document import FORMAT, Export, ExportedBy
from .proof import MAX_SEGMENT, chain_method
from .render import FORMATS, render_html, render_json

__all__ = ["EXPORT_ACTION", "FORMAT", "FORMATS", "MAX_SEGMENT", "Export", "ExportedBy",
           "chain_method", "export_case", "render_html", "render_json", "verify_export"]
