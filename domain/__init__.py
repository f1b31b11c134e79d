"""The SIP rules: the SipCase aggregate, its events, value objects, deadline policies and the
application service. Imports only the standard library, eventsourcing and pydantic."""
