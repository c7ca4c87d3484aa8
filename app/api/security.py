"""Security headers on every response, and a deadline for slow request bodies.

Pages may load scripts, styles and images from this origin only, and no page
may be framed (the card must not be shown inside another site's frame); every
response says its content type is to be trusted as sent and leaks no referrer.
A client that sends its body slower than ``body_timeout`` seconds per chunk is
answered 408 and its connection closed, rather than held open indefinitely.
"""

from __future__ import annotations

import asyncio

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


class BodyTimeout(Exception):
    pass


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, body_timeout: float = 10.0) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def timed_receive() -> Message:
            try:
                return await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise BodyTimeout from None

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
        except BodyTimeout:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"the request body did not arrive within {self.body_timeout:g} s"
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
