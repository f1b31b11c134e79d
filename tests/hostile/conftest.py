"""The hostile-input suite (issue "Safe to hold real data"): requests an attacker or a careless
client would send, against the real service on a real PostgreSQL. It shares the HTTP tests'
fixtures: a fresh schema per module, the service's threads running, tokens per caller."""

from ..http.conftest import *  # noqa: F403  (the fixtures: http_store, services, client, auth)
