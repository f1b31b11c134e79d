"""Read models fed from the notification log (current plans, deadline dashboard, history).

Nearly empty until the read-model issue: the ledger issue only needs the write side.
"""
