"""The names of what the system keeps in PostgreSQL beside the read models' own data: the
ledger's tables, the access log, the read side's bookkeeping and its progress channel, and a
helper for schema-qualified names. A read model's data tables are named by the model itself
(its ``tables``, e.g. ``PLANS_TABLE`` in projections/plans.py), beside the SQL that uses them.

It lives in the lowest layer that uses the names: the read side reads the ledger's events and
keeps tables of its own, and the adapters (store, audit, HTTP) use the same list (they may import
the read side; the read side may not import them).

The ledger's tables are named by the event-sourcing library after the application class
(``SipLedger`` → ``sipledger_…``); the names below are what it makes, written down so that SQL
of our own can name them.
"""

from __future__ import annotations

from psycopg.sql import SQL, Composed, Identifier

# The ledger, as the library names its tables: the events (with our recorder, the command log
# beside them in the same transaction), and the case snapshots.
EVENTS_TABLE = "sipledger_events"
COMMANDS_TABLE = "sipledger_commands"
SNAPSHOTS_TABLE = "sipledger_snapshots"
# The audit trail (adapters/audit/): a hash per event, and the signed checkpoints over it.
CHAIN_TABLE = "sipledger_chain"
CHECKPOINTS_TABLE = "sipledger_checkpoints"
# Who read which case's personal data (R33; adapters/store/access_log.py).
ACCESS_LOG_TABLE = "sip_access_log"
# The read side: each model's position in the log, the code version its tables were built by,
# and the events a model set aside. rm_*: read-model data, full DML for the application role.
TRACKING_TABLE = "rm_tracking"
MODELS_TABLE = "rm_models"
QUARANTINE_TABLE = "rm_quarantine"

# NOTIFY channels. The runner notifies its progress after every batch, for callers that wait to
# read their own writes. (The events' channel is the library's: it notifies in every insert
# transaction on one it names itself, PostgresApplicationRecorder.channel_name, which the runner
# and the feed take from their recorder.)
PROGRESS_CHANNEL = "rm_progress"


def qualified(schema: str, name: str) -> Composed:
    """``schema.name`` as SQL, each part quoted as an identifier."""
    return SQL("{}.{}").format(Identifier(schema), Identifier(name))
