"""Security headers on every response, and a deadline for slow request bodies.

Pages may load scripts, styles and images from this origin only, and no page
may be framed (the card must not be shown inside another site's frame); every
response says its content type is to be trusted as sent and leaks no referrer.
A client that sends its body slower than ``body_timeout`` seconds per chunk, or whose
whole body has not arrived ``body_deadline`` seconds after the app first reads it, is
answered 408 and its connection closed, rather than held open (a body trickled a byte a
second would otherwise hold its connection for as long as it likes). A client that hangs
up mid-body is logged as such, not as a server error.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import Problem, send_closing

__all__ = ["PAGE_POLICY", "SecurityHeaders"]

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


log = logging.getLogger("goldtrail.http")


class BodyTimeout(Exception):
    pass


class SecurityHeaders:
    def __init__(
        self, app: ASGIApp, *, body_timeout: float = 10.0, body_deadline: float = 30.0
    ) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.body_deadline = body_deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        deadline: float | None = None
        body_done = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done
            if body_done:  # what follows the body is a disconnect: wait for it as long as it takes
                return await receive()
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.body_deadline
            left = deadline - now
            stalled = f"the request body stalled for {self.body_timeout:g} s"
            late = f"the request body did not arrive within {self.body_deadline:g} s"
            if left <= 0:
                raise BodyTimeout(late)
            try:
                message = await asyncio.wait_for(receive(), min(self.body_timeout, left))
            except TimeoutError:
                raise BodyTimeout(stalled if self.body_timeout < left else late) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                html = any(
                    name == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                )
                policy = PAGE_POLICY if html else API_POLICY
                names = {name for name, _ in headers}
                headers += [(k, v) for k, v in _COMMON if k not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, timed_receive, secured_send)
        except BodyTimeout as timeout:
            if not started:
                await self._refuse(send, str(timeout))
        except ClientDisconnect:
            # Nobody is left to answer; this is the client's doing, not a server error.
            log.info(
                "client disconnected before its request body arrived",
                extra={"event": "client_disconnected", "path": scope.get("path")},
            )

    async def _refuse(self, send: Send, detail: str) -> None:
        await send_closing(
            send,
            Problem(
                408,
                "body.timeout",
                "Request body too slow",
                detail,
                [{"field": "body", "reason": detail}],
            ),
            # Sent past secured_send, so it carries the headers that would have added.
            [*_COMMON, (b"content-security-policy", API_POLICY.encode())],
        )
