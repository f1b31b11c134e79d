"""The audit trail: the hash chain over the event log (``chain``), signed checkpoints
(``checkpoints``), the independent verifier (``verify``) and a case's history for auditors
(``export``). ``sip-ledger audit`` (``adapters/cli/audit.py``) is their command line."""
