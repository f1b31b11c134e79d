"""The hostile-input suite (issue "Safe to hold real data"): requests an attacker or a careless
client would send, against the real service on a real PostgreSQL. It lives under the HTTP tests
to share their fixtures (tests/adapters/http/conftest.py): a fresh schema per module, the
service's threads running, tokens per caller."""
