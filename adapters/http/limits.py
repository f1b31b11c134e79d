"""Input limits at the edge: what is refused before a body is read, parsed or a token verified.

A pure ASGI middleware (``BaseHTTPMiddleware`` would buffer bodies and the event stream):

- headers over ``SIP_MAX_HEADER_BYTES`` together, or an ``Authorization`` header over
  ``SIP_MAX_AUTHORIZATION_BYTES``: 431, before any token work;
- a ``Content-Length`` over ``SIP_MAX_BODY_BYTES``: 413 at once, without reading a byte of the
  body (the connection is then closed); a body without a length (chunked) is counted as it
  streams and cut off with 413 at the limit, so no more than the limit is ever buffered;
- a body not complete within ``SIP_BODY_TIMEOUT_S``: 408 (a client sending one byte a second
  holds no worker for longer);
- a query parameter with a control character (a NUL byte in a filter would otherwise reach
  PostgreSQL, which refuses it in text): 422 naming the parameter.

The answers are the service's problem+json (``problems.problem_response``). A refusal that comes
while the app is reading the body is sent from here, and the app is told the client has gone,
so it stops; whatever it then tries to send is dropped.

The field types themselves (lengths, alphabets, date ranges) are the domain's:
``domain/limits.py``. Request-head limits below the application (a slow or endless request line
and headers) are uvicorn's and ``adapters/cli/serve.py``'s.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes

import anyio
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.problems import (
    PROBLEM_JSON,
    TYPE_BASE,
    OpenAPIResponses,
    Problem,
    problem_response,
)
from adapters.logging import get_logger
from adapters.settings import Settings

log = get_logger(__name__)

# A query parameter's name is echoed in a refusal only if it looks like one of ours: the name
# is the client's text and could be anything, a personal identity number included.
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


# Every ASCII byte: what a raw query string keeps as it is when its other bytes are
# percent-encoded (``_query_as_utf8``).
_ASCII = bytes(range(128))


def _has_control_character(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


class InputLimits:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, max_header_bytes: int,
        max_authorization_bytes: int, body_timeout_s: float,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.max_authorization_bytes = max_authorization_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_head(scope)
        if refusal is not None:
            await self._answer(scope, receive, send, *refusal)
            return
        await self._with_bounded_body(scope, receive, send)

    # ---------------------------------------------------------------- the request head

    def _check_head(self, scope: Scope) -> tuple[Any, ...] | None:
        total = 0
        length: bytes | None = None
        for name, value in scope["headers"]:
            total += len(name) + len(value) + 4  # ": " and CRLF, as on the wire
            if name == b"authorization" and len(value) > self.max_authorization_bytes:
                return (431, "Request header fields too large",
                        f"the Authorization header is longer than "
                        f"{self.max_authorization_bytes} bytes", "header-too-large",
                        "Authorization")
            if name == b"content-length":
                length = value
        if total > self.max_header_bytes:
            return (431, "Request header fields too large",
                    f"the request's headers are longer than {self.max_header_bytes} bytes "
                    "together", "header-too-large", None)
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return (400, "Bad request", "Content-Length is not a number",
                        "bad-request", "Content-Length")
            if size > self.max_body_bytes:
                return self._too_large()
        return self._check_query(scope)

    def _too_large(self) -> tuple[Any, ...]:
        return (413, "Content too large",
                f"the request body is larger than {self.max_body_bytes} bytes "
                "(SIP_MAX_BODY_BYTES)", "content-too-large", None)

    @staticmethod
    def _check_query(scope: Scope) -> tuple[Any, ...] | None:
        query = scope.get("query_string") or b""
        if not query:
            return None
        # Raw bytes (a client that does not percent-encode) are UTF-8 like encoded ones: read
        # as latin-1, a raw "Å" (C3 85) would look like the control character U+0085. Bytes
        # that are not UTF-8 become lone surrogates, refused below like any control character.
        for name, value in parse_qsl(query.decode("utf-8", errors="surrogateescape"),
                                     keep_blank_values=True, encoding="utf-8",
                                     errors="surrogateescape"):
            if _has_control_character(name) or _has_control_character(value):
                shown = name if _PARAMETER_NAME.match(name) else None
                which = f"query parameter {name}" if shown else "a query parameter"
                return (422, "Invalid input",
                        f"{which} must not contain control characters", "invalid-input", shown)
        if not query.isascii():
            # Starlette reads a raw query string as latin-1; percent-encoded, the same bytes
            # reach the route as the UTF-8 text they are.
            scope["query_string"] = quote_from_bytes(query, safe=_ASCII).encode("ascii")
        return None

    # ---------------------------------------------------------------- the body

    async def _with_bounded_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        deadline = anyio.current_time() + self.body_timeout_s
        body_done = False
        refused: tuple[Any, ...] | None = None
        response_started = False

        async def bounded_receive() -> Message:
            nonlocal received, body_done, refused
            if refused is not None:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            message: Message | None = None
            with anyio.move_on_after(max(deadline - anyio.current_time(), 0)):
                message = await receive()
            if message is None:
                refused = (408, "Request timeout",
                           f"the request body did not arrive within {self.body_timeout_s:g} s",
                           "request-timeout", None)
                await answer_refusal()
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = self._too_large()
                    await answer_refusal()
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    body_done = True
            return message

        async def answer_refusal() -> None:
            assert refused is not None
            if not response_started:
                await self._answer(scope, receive, send, *refused)

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused is not None:
                return  # the refusal has been answered; the app's late answer goes nowhere
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)

    # ---------------------------------------------------------------- answering

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, status: int, title: str,
                      detail: str, kind: str, field: str | None) -> None:
        log.info("request refused at the edge", status=status, kind=kind)
        # The client may still be sending what was refused: the connection is not reused.
        headers = {"Connection": "close"} if status in (408, 413, 431) else None
        response = problem_response(Request(scope), status, title, detail, kind=kind,
                                    field=field, headers=headers)
        await response(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the limits to ``app``. Call before the request-context middleware is added, so that
    one stays outermost and a refusal here still carries a request id and a request log line."""
    app.add_middleware(
        InputLimits,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_authorization_bytes=settings.max_authorization_bytes,
        body_timeout_s=settings.body_timeout_s,
    )


# ------------------------------------------------------------------ below the app: uvicorn


def bounded_head_protocol(*, head_timeout_s: float, max_head_bytes: int) -> type:
    """uvicorn's httptools protocol with the request line and headers bounded in time and size.

    uvicorn bounds neither with httptools: a new connection has no timer until its first
    response, and each byte received cancels the keep-alive timer, so a client sending a
    header byte a second holds its connection forever, and a header of megabytes is buffered
    whole. This protocol arms a timer when a connection opens and after each response, and
    stops it when the headers are complete; a head not complete in time is answered 408, one
    longer than ``max_head_bytes`` 431, and the connection closed. (The body's own bounds are
    the middleware's above.) It relies on uvicorn's protocol hooks ``connection_made``,
    ``data_received``, ``on_headers_complete`` and ``on_response_complete``; ``tests/adapters/
    http/hostile/test_input.py`` checks them against the installed uvicorn.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHeadProtocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            self._head_timer: Any = None
            self._awaiting_head = False
            self._head_bytes = 0
            super().connection_made(transport)
            self._await_head()

        def _await_head(self) -> None:
            self._awaiting_head = True
            self._head_bytes = 0
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_timed_out)

        def _head_complete(self) -> None:
            self._awaiting_head = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._awaiting_head and not self.transport.is_closing():
                self._refuse(408, "Request Timeout", "request-timeout",
                             f"the request line and headers did not arrive within "
                             f"{head_timeout_s:g} s")

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._awaiting_head and not self.transport.is_closing():
                # Counted after parsing: a chunk that completes the head (and carries the
                # body's start) has already stopped the count.
                self._head_bytes += len(data)
                if self._head_bytes > max_head_bytes:
                    self._refuse(431, "Request Header Fields Too Large", "header-too-large",
                                 f"the request line and headers are longer than "
                                 f"{max_head_bytes} bytes")

        def on_headers_complete(self) -> None:
            self._head_complete()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self.pipeline:
                self._await_head()  # a kept-alive connection waits for its next request

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_complete()
            super().connection_lost(exc)

        def _refuse(self, status: int, reason: str, kind: str, detail: str) -> None:
            log.info("request refused at the edge", status=status, kind=kind)
            body = json.dumps({"type": TYPE_BASE + kind, "title": reason, "status": status,
                               "detail": detail}).encode()
            head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: {PROBLEM_JSON}\r\n"
                    f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
            self.transport.write(head + body)
            self.transport.close()

    return BoundedHeadProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``sip-ledger serve`` gives ``uvicorn.Config`` to bound slow and oversized clients
    (keyword arguments of uvicorn's, hence a plain dict)."""
    return {
        # Room for the request line beyond the headers' own limit, so that the middleware's
        # answer (with a request id) is the one a client usually gets.
        "http": bounded_head_protocol(head_timeout_s=settings.request_head_timeout_s,
                                      max_head_bytes=settings.max_header_bytes + 8 * 1024),
        # Idle kept-alive connections are closed after this many seconds (uvicorn's default 5).
        "timeout_keep_alive": 5,
    }


def _edge_responses() -> OpenAPIResponses:
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
        for status, description in {
            408: "The request's body (or its headers) did not arrive in time",
            413: "The request body is larger than SIP_MAX_BODY_BYTES",
            431: "The request's headers, or its Authorization header, are too large",
        }.items()
    }


# Every route can answer these, from the middleware above: shown in the OpenAPI document.
EDGE_RESPONSES = _edge_responses()
