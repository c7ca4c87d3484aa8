"""A partner's feed (PROTOCOL.md §20): by cursor, as Server-Sent Events, and to its webhook."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, status
from fastapi.responses import Response, StreamingResponse

from app.api.deps import ContextDep, KeyedPartnerDep, PartnerDep, model_body
from app.models.repository import WebhookRow
from app.models.schemas import WebhookIn, WebhookOut
from app.services import feed

router = APIRouter(prefix="/v1/partners/me", tags=["feed"])

Topic = Literal["transfer", "consumed", "key"]
After = Annotated[int, Query(ge=0, le=2**53, description="The last item id seen (0: the start)")]
Topics = Annotated[
    list[Topic] | None, Query(alias="topic", description="Only these topics (repeatable)")
]


@router.get(
    "/feed",
    summary="What concerns you, after a cursor: transfers to you, your lots consumed, your keys",
    description="Items in order, each with its signed ledger entry. Poll with `after` = the "
    "`next_after` of the last answer. A `transfer` item says whether the lot still awaits "
    "your `received` (`awaiting_receipt`).",
)
def get_feed(
    partner: PartnerDep,
    ctx: ContextDep,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    topic: Topics = None,
    awaiting: Annotated[
        bool, Query(description="Only transfers whose lot still awaits your `received`")
    ] = False,
) -> dict[str, Any]:
    return feed.page(
        ctx,
        partner.id,
        after=after,
        limit=limit,
        topics=set(topic or ()) or None,
        awaiting=awaiting,
    )


@router.get(
    "/feed/stream",
    summary="Your feed as Server-Sent Events",
    description="One event per item: `id` its cursor, `event` its topic, `data` the item. "
    "Reconnecting with `Last-Event-ID` (or `after`) resumes after that item. The stream "
    "ends with an `end` event once the API key it was opened with is reissued.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def stream_feed(
    keyed: KeyedPartnerDep,
    ctx: ContextDep,
    after: After = 0,
    topic: Topics = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**53)] = None,
) -> StreamingResponse:
    start = last_event_id if last_event_id is not None else after
    events = feed.stream(
        ctx,
        keyed.partner.id,
        api_key_hash=keyed.api_key_hash,
        after=start,
        topics=set(topic or ()) or None,
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _webhook_out(hook: WebhookRow) -> WebhookOut:
    return WebhookOut(
        url=hook.url,
        delivered_through=hook.delivered_through,
        attempts=hook.attempts,
        next_attempt_at=feed.unix_time(hook.next_attempt_at) if hook.attempts else None,
    )


@router.put(
    "/webhook",
    status_code=status.HTTP_201_CREATED,
    summary="Deliver your feed to a URL from now on; answers the signing secret, once",
    description='Each delivery is a POST of `{"partner", "items"}` with the header '
    '`Goldtrail-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>` under the '
    "secret. Failed deliveries are retried with backoff; `GET /webhook/deliveries` lists every "
    "attempt. Setting it again replaces the URL and the secret.",
)
def put_webhook(
    partner: PartnerDep,
    ctx: ContextDep,
    body: Annotated[WebhookIn, Depends(model_body(WebhookIn))],
) -> dict[str, Any]:
    hook, secret = feed.set_webhook(ctx, partner.id, body.url)
    return _webhook_out(hook).model_dump() | {"secret": secret}


@router.get("/webhook", response_model=WebhookOut, summary="Your webhook and its state")
def get_webhook(partner: PartnerDep, ctx: ContextDep) -> WebhookOut:
    return _webhook_out(feed.webhook(ctx, partner.id))


@router.delete(
    "/webhook", status_code=status.HTTP_204_NO_CONTENT, summary="Stop delivering your feed"
)
def delete_webhook(partner: PartnerDep, ctx: ContextDep) -> Response:
    feed.remove_webhook(ctx, partner.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhook/deliveries", summary="Every delivery attempt to your webhook, in order")
def get_deliveries(
    partner: PartnerDep,
    ctx: ContextDep,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return feed.deliveries(ctx, partner.id, after=after, limit=limit)
