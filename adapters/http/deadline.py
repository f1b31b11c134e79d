"""A deadline per request (``SIP_REQUEST_DEADLINE_S``), below common client timeouts.

A client that gives up on a command cannot know whether it was recorded; the server makes that
rarer by starting no insert once the request is older than its deadline: the recorder checks it
before each insert and gives the database no more than what is left
(``adapters/store/deadline.py``). A command stopped that way is answered 503 with Retry-After,
and nothing was written (``problems.py``).

Pure ASGI (no ``BaseHTTPMiddleware``: it would buffer the event stream); the deadline is a
context variable, so it reaches the worker thread that runs the route.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.settings import Settings
from adapters.store.deadline import deadline_in


class RequestDeadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with deadline_in(self.seconds):
            await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(RequestDeadline, seconds=settings.request_deadline_s)
