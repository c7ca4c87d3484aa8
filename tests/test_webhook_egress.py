"""Webhooks cannot be turned on the service's own host or network (issue: SSRF).

Every form of a loopback, private or translated address that the red team used is refused
when the webhook is set, and again when a delivery resolves the host — by a real listener
on 127.0.0.1 that must hear nothing. A delivery connects to the address it checked (one
lookup: no rebinding), follows no redirect, and tells the partner only a coarse outcome.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.db import read_transaction, write_transaction
from app.main import create_app
from app.models import repository
from app.models.repository import WebhookRow
from app.services import egress, feed
from app.services.context import LedgerContext
from app.services.errors import ServiceError
from tests.support import Ledger, problem

# Every form the red team sent, and more of the same kind.
NOT_PUBLIC_FORMS = [
    "https://2130706433:{port}/hook",
    "https://127.1:{port}/hook",
    "https://0177.0.0.1/hook",
    "https://0x7f000001/hook",
    "https://localhost./hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "https://[64:ff9b:1::a]/hook",  # local-use NAT64
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "https://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
    "https://[2001:0:5ef5:79fd::80ff:fffe]/hook",  # Teredo, client 127.0.0.1
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://vault.internal/hook",
    "https://printer.local/hook",
    "https://LOCALHOST/hook",
]


class Listener:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self, status: int = 204, location: str | None = None) -> None:
        self.requests: list[dict[str, str]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                requests.append({"path": self.path, **dict(self.headers.items())})
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.close()


def _strict(context: LedgerContext, *, allow_private: bool = False) -> LedgerContext:
    settings = context.settings.model_copy(update={"webhook_allow_private_networks": allow_private})
    return LedgerContext(context.engine, settings, context.service_key)


def _system_name_for_loopback() -> str:
    """This machine's own name: a hosts-file entry that resolves to a loopback address."""
    name = socket.gethostname()
    found = {ip_address(info[4][0]) for info in socket.getaddrinfo(name, 443)}
    assert found, name
    assert all(not address.is_global for address in found), (name, found)
    return name


@pytest.mark.parametrize("form", [*NOT_PUBLIC_FORMS, "https://{hostname}/hook"])
def test_a_webhook_to_a_non_public_address_is_refused_when_set(
    client_context: LedgerContext, listener: Listener, form: str
) -> None:
    url = form.format(port=listener.port, hostname=_system_name_for_loopback())
    with pytest.raises(ServiceError) as refused:
        feed.set_webhook(_strict(client_context), "any-partner", url)
    assert (refused.value.code, refused.value.field) == ("webhook.url", "url"), url
    assert refused.value.detail.startswith("must name a host on the internet"), url


def test_the_api_names_the_field_and_the_reason(
    client_context: LedgerContext, listener: Listener
) -> None:
    with TestClient(create_app(_strict(client_context).settings)) as client:
        ledger = Ledger(client=client)
        vault = ledger.partner("geneva-vault", "vault")
        answer = client.put(
            "/v1/partners/me/webhook",
            json={"url": f"https://2130706433:{listener.port}/hook"},
            headers=vault.auth,
        )
        found = problem(answer, 422)
        assert found["code"] == "webhook.url"
        assert found["errors"][0]["field"] == "url"
        assert "127.0.0.1" in found["errors"][0]["reason"]
        assert problem(client.get("/v1/partners/me/webhook", headers=vault.auth), 404)


@pytest.mark.parametrize(
    "address",
    ["1.1.1.1", "2606:4700:4700::1111", "64:ff9b::101:101", "::ffff:8.8.8.8", "2002:101:101::1"],
)
def test_public_addresses_pass_in_every_form(address: str) -> None:
    assert egress.is_public(ip_address(address))


def _deliver(context: LedgerContext, resolver: egress.Resolver) -> None:
    async def once() -> None:
        async with httpx.AsyncClient(follow_redirects=False, timeout=5) as client:
            await feed.Dispatcher(context, resolver=resolver).round(client)

    asyncio.run(once())


def _hook(context: LedgerContext, partner: str, url: str) -> None:
    """A webhook row written behind the URL check: what DNS could make of a name later."""
    with write_transaction(context.engine) as conn:
        repository.save_webhook(conn, WebhookRow(partner, url, "whsec_test", 0, 0, 0.0, 0.0))


def _last_delivery(context: LedgerContext, partner: str) -> dict[str, Any]:
    with read_transaction(context.engine) as conn:
        rows = repository.deliveries_of(conn, partner, after=0, limit=100)
    return rows[-1]


def _fixed(names: dict[str, str], calls: list[str]) -> egress.Resolver:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        calls.append(host)
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family = socket.AF_INET6 if ":" in names[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (names[host], port))]

    return resolve


@pytest.mark.parametrize(
    "url",
    ["http://2130706433:{port}/hook", "http://127.1:{port}/hook", "http://rebound.test:{port}/"],
)
def test_a_delivery_checks_the_address_it_connects_to(
    client_context: LedgerContext, ledger: Ledger, listener: Listener, url: str
) -> None:
    """A name that resolved elsewhere when the hook was set now resolves to loopback: the
    delivery refuses it, the listener hears nothing, the partner reads a coarse outcome."""
    vault = ledger.partner("geneva-vault", "vault")  # its key registration is a feed item
    strict = _strict(client_context)
    calls: list[str] = []
    _hook(strict, vault.id, url.format(port=listener.port))
    real = socket.getaddrinfo

    def resolver(host: str, port: int, **kwargs: Any) -> Any:
        calls.append(host)
        if host == "rebound.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, **kwargs)

    _deliver(strict, resolver)
    assert listener.requests == []
    delivery = _last_delivery(strict, vault.id)
    assert delivery["error"] == egress.NOT_PUBLIC
    assert delivery["status"] is None
    assert len(calls) == 1  # one lookup per delivery


def test_a_delivery_goes_to_the_address_it_checked_with_the_name_kept(
    client_context: LedgerContext, ledger: Ledger, listener: Listener
) -> None:
    """`partner.test` resolves nowhere on this machine: the request can only have reached the
    listener through the address the dispatcher's one lookup returned."""
    vault = ledger.partner("geneva-vault", "vault")
    allowed = _strict(client_context, allow_private=True)
    calls: list[str] = []
    _hook(allowed, vault.id, f"http://partner.test:{listener.port}/in?x=1")
    _deliver(allowed, _fixed({"partner.test": "127.0.0.1"}, calls))
    assert calls == ["partner.test"]
    (request,) = listener.requests
    assert request["Host"] == f"partner.test:{listener.port}"
    assert request["path"] == "/in?x=1"
    assert _last_delivery(allowed, vault.id)["error"] is None


def test_failures_read_alike_to_the_partner_and_redirects_are_not_followed(
    client_context: LedgerContext, ledger: Ledger
) -> None:
    """A closed port and a name that does not resolve both read 'could not connect' (no
    oracle of what lives behind the service); a 302 is a failure, its target never asked."""
    vault = ledger.partner("geneva-vault", "vault")
    allowed = _strict(client_context, allow_private=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    _hook(allowed, vault.id, f"http://127.0.0.1:{closed}/hook")
    _deliver(allowed, socket.getaddrinfo)
    refused = _last_delivery(allowed, vault.id)

    _hook(allowed, vault.id, "http://nowhere.invalid/hook")
    _deliver(allowed, _fixed({}, []))
    unresolved = _last_delivery(allowed, vault.id)
    assert refused["error"] == unresolved["error"] == egress.NOT_RESOLVED

    target = Listener()
    redirector = Listener(302, f"http://127.0.0.1:{target.port}/stolen")
    try:
        _hook(allowed, vault.id, f"http://127.0.0.1:{redirector.port}/hook")
        _deliver(allowed, socket.getaddrinfo)
        assert _last_delivery(allowed, vault.id)["error"] == "answered 302"
        assert len(redirector.requests) == 1
        assert target.requests == []
    finally:
        target.close()
        redirector.close()
