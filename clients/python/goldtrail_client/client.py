"""A partner's client for Goldtrail's REST API (README, PROTOCOL.md §7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx

from goldtrail_client.epcis import Draft
from goldtrail_client.errors import StaleHead, problem_of
from goldtrail_client.keys import Key
from goldtrail_client.signing import (
    event_body,
    sign_event,
    sign_transformation,
    transformation_body,
)

__all__ = ["HEAD", "BatchResult", "Goldtrail"]


class _Head:
    def __repr__(self) -> str:
        return "HEAD"


HEAD: Final = _Head()
"""``prev=HEAD``: read the lot's head just before signing (the default)."""

MAX_RESIGNS = 5


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The answer to ``POST /v1/batch``: each item's result, in order."""

    accepted: int
    repeated: int
    refused: int
    results: list[dict[str, Any]]

    @property
    def refusals(self) -> list[dict[str, Any]]:
        """The refused items' results, each with ``index`` and its ``problem``."""
        return [r for r in self.results if r["status"] >= 400]


class Goldtrail:
    """Talks to one Goldtrail service as one partner (or anonymously, to read).

    ``partner`` is your partner id and ``api_key`` the key the operator gave you; the
    Ed25519 keys you sign with stay in your hands and are passed to each call.
    """

    def __init__(
        self,
        base_url: str,
        *,
        partner: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.partner = partner
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Goldtrail:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Plumbing ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise problem_of(response)
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params or None).json()

    def get_text(self, path: str) -> str:
        return self._send("GET", path).text

    def _me(self) -> str:
        if self.partner is None:
            raise ValueError("posting needs the partner id: Goldtrail(url, partner=…, api_key=…)")
        return self.partner

    # Reading ----------------------------------------------------------------------------

    def lot(self, lot_id: str) -> dict[str, Any]:
        return self._document(f"/v1/lots/{lot_id}")

    def head(self, lot_id: str) -> str | None:
        """The lot's head hash, or None if the lot does not exist yet."""
        response = self._http.get(f"/v1/lots/{lot_id}")
        if response.status_code == 404:
            return None
        if response.is_error:
            raise problem_of(response)
        head: str = response.json()["head"]
        return head

    def _pages(self, path: str, member: str, page_size: int, **params: Any) -> Iterator[Any]:
        after: Any = params.pop("after", None)
        while True:
            query = {**params, "limit": page_size} | ({} if after is None else {"after": after})
            page = self.get_json(path, **query)
            yield from page[member]
            after = page.get("next_after")
            if after is None:
                return

    def events(self, lot_id: str, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every entry of the lot's chain, in order, page by page."""
        return self._pages(f"/v1/lots/{lot_id}/events", "events", page_size, after=-1)

    def lots(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every lot, by id."""
        return self._pages("/v1/lots", "lots", page_size)

    def my_lots(self, *, held: str = "now", page_size: int = 100) -> Iterator[dict[str, Any]]:
        """The lots this partner holds (``held="now"``) or ever signed for (``"ever"``)."""
        return self._pages("/v1/partners/me/lots", "lots", page_size, held=held)

    def _document(self, path: str) -> dict[str, Any]:
        document: dict[str, Any] = self.get_json(path)
        return document

    def export(self, lot_id: str) -> dict[str, Any]:
        return self._document(f"/v1/lots/{lot_id}/export")

    def passport(self, lot_id: str) -> dict[str, Any]:
        return self._document(f"/v1/lots/{lot_id}/passport")

    def credential(self, lot_id: str) -> dict[str, Any]:
        return self._document(f"/v1/lots/{lot_id}/passport/credential")

    def receipt(self, seq: int) -> dict[str, Any]:
        return self._document(f"/v1/log/receipts/{seq}")

    def log_key(self) -> str:
        """The log's verifier key in force. Pin it once, out of band; don't fetch it per check."""
        return self.get_text("/v1/log/key").strip()

    # What concerns you (PROTOCOL.md §20) ---------------------------------------------------

    def feed(
        self,
        *,
        after: int = 0,
        topics: list[str] | None = None,
        awaiting: bool = False,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Your feed items after the cursor ``after`` (transfers to you, your lots consumed,
        your keys), page by page, until there are no more for now. Keep the last ``id``.
        ``awaiting``: only the transfers you still have to post ``received`` for."""
        params: dict[str, Any] = {"limit": page_size} | ({"topic": topics} if topics else {})
        if awaiting:
            params["awaiting"] = "true"
        while True:
            page = self.get_json("/v1/partners/me/feed", after=after, **params)
            yield from page["items"]
            if not page["items"]:
                return
            after = page["next_after"]

    def stream(self, *, after: int = 0) -> Iterator[dict[str, Any]]:
        """Your feed as it happens (Server-Sent Events): yields each item, blocking between."""
        headers = {"Last-Event-ID": str(after)}
        with self._http.stream(
            "GET", "/v1/partners/me/feed/stream", headers=headers, timeout=None
        ) as response:
            if response.is_error:
                response.read()
                raise problem_of(response)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    item: dict[str, Any] = json.loads(line[6:])
                    yield item

    def set_webhook(self, url: str) -> dict[str, Any]:
        """Deliver your feed to ``url`` from now on; the answer's ``secret`` is shown once."""
        answer: dict[str, Any] = self._send(
            "PUT", "/v1/partners/me/webhook", json={"url": url}
        ).json()
        return answer

    def webhook_deliveries(self, *, after: int = 0) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = self.get_json(
            "/v1/partners/me/webhook/deliveries", after=after
        )["deliveries"]
        return deliveries

    # Writing ----------------------------------------------------------------------------

    def post_event(
        self,
        key: Key,
        *,
        lot: str,
        stage: str,
        action: str,
        data: dict[str, Any] | None = None,
        occurred_at: str | None = None,
        prev: str | _Head | None = HEAD,
        resign_on_stale: bool = False,
    ) -> dict[str, Any]:
        """Sign and post an event; the answer holds its ``seq``, ``hash`` and ``receipt``.

        ``prev=HEAD`` reads the lot's head first. If the lot moved meanwhile, Goldtrail answers
        409 ``chain.stale_prev`` and this raises ``StaleHead`` — unless ``resign_on_stale``,
        which signs the same event again over the new head (do so only if your event still
        holds whatever came in between).
        """
        head = self.head(lot) if isinstance(prev, _Head) else prev
        for _ in range(MAX_RESIGNS):
            body = event_body(
                partner=self._me(),
                key=key,
                lot=lot,
                stage=stage,
                action=action,
                prev=head,
                data=data,
                occurred_at=occurred_at,
            )
            try:
                answer: dict[str, Any] = self._send(
                    "POST", f"/v1/lots/{lot}/events", json=sign_event(body, key)
                ).json()
            except StaleHead as stale:
                if not resign_on_stale:
                    raise
                head = stale.head
                occurred_at = body["occurred_at"]
                continue
            return answer
        raise RuntimeError(f"lot {lot} kept moving: gave up after {MAX_RESIGNS} attempts")

    def post_transformation(
        self,
        key: Key,
        *,
        stage: str,
        action: str,
        inputs: list[str | tuple[str, Any]],
        outputs: list[dict[str, Any]],
        data: dict[str, Any] | None = None,
        occurred_at: str | None = None,
    ) -> dict[str, Any]:
        """Sign and post a transformation over the inputs' current heads. An input is a lot
        id, or ``(lot id, fine grams taken)`` to take part of it."""
        named = []
        for item in inputs:
            lot, fine = (item, None) if isinstance(item, str) else item
            named.append(
                {"lot": lot, "prev": self.head(lot)} | ({} if fine is None else {"fine_g": fine})
            )
        body = transformation_body(
            partner=self._me(),
            key=key,
            stage=stage,
            action=action,
            inputs=named,
            outputs=outputs,
            data=data,
            occurred_at=occurred_at,
        )
        answer: dict[str, Any] = self._send(
            "POST", "/v1/transformations", json=sign_transformation(body, key)
        ).json()
        return answer

    def post_draft(
        self, key: Key, draft: Draft, *, resign_on_stale: bool = False
    ) -> dict[str, Any]:
        """Sign and post a draft from ``goldtrail_client.epcis.to_goldtrail`` with your key."""
        body = draft.body
        if body.get("partner") != self._me():
            raise ValueError(f"the draft states partner {body.get('partner')}, not {self._me()}")
        if draft.kind == "event":
            return self.post_event(
                key,
                lot=body["lot"],
                stage=body["stage"],
                action=body["action"],
                data=body["data"],
                occurred_at=body["occurred_at"],
                resign_on_stale=resign_on_stale,
            )
        inputs: list[str | tuple[str, Any]] = [
            item["lot"] if "fine_g" not in item else (item["lot"], item["fine_g"])
            for item in body["inputs"]
        ]
        return self.post_transformation(
            key,
            stage=body["stage"],
            action=body["action"],
            inputs=inputs,
            outputs=body["outputs"],
            data=body["data"],
            occurred_at=body["occurred_at"],
        )

    def post_batch(self, envelopes: list[dict[str, Any]]) -> BatchResult:
        """Post up to 1,000 signed envelopes (``sign_event``, ``sign_transformation``) at once.

        A well-formed item that the rules refuse refuses only itself: see ``refusals``. A
        malformed item raises ``Invalid`` and nothing of the batch is written.
        """
        answer = self._send("POST", "/v1/batch", json={"items": envelopes}).json()
        return BatchResult(
            accepted=answer["accepted"],
            repeated=answer["repeated"],
            refused=answer["refused"],
            results=answer["results"],
        )
