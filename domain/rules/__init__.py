"""The rule checks of the larger commands, as pure functions of the command and the facts of the
case they need: no aggregate, no clock, no I/O. SipCase (domain/case.py) calls them before it
records an event; each raises the domain error that names the field and the rule (R01–R35)."""
