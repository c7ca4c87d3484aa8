"""Limits on what a request may send: body sizes by route, and the JSON limits of each body.

Most bodies hold one signed entry or a registration: 64 KiB, lists of 256 items.
A transformation may name up to 1,024 lots (a refinery melt), so its body may be
1 MiB and its lists 1,024 items; a batch carries up to 1,000 entries in 16 MiB.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import Problem, send_closing
from app.ledger.canonical import JsonLimits
from app.ledger.provenance.transformations import MAX_LOTS

__all__ = [
    "BATCH_LIMITS",
    "ENTRY_LIMITS",
    "MAX_BATCH_ITEMS",
    "TRANSFORMATION_LIMITS",
    "BodySizeLimit",
]

MAX_BATCH_ITEMS = 1000
ENTRY_LIMITS = JsonLimits()
TRANSFORMATION_LIMITS = JsonLimits(max_list=MAX_LOTS)
# {"items": [{"transformation": {"inputs": [{…}]}}]}: two levels more than a transformation.
BATCH_LIMITS = JsonLimits(max_depth=ENTRY_LIMITS.max_depth + 2, max_list=MAX_LOTS)


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses a body larger than ``limit_for(path)`` bytes, before reading it if it says."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > max_bytes):
                await self._refuse(send, max_bytes)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, max_bytes)

    @staticmethod
    async def _refuse(send: Send, max_bytes: int) -> None:
        await send_closing(
            send,
            Problem(
                413,
                "body.too_large",
                "Request body too large",
                f"this route takes bodies of at most {max_bytes} bytes",
                [{"field": "body", "reason": f"larger than {max_bytes} bytes"}],
            ),
        )
