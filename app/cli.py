"""The ``goldtrail`` command: serve, db, keygen, sign, verify and admin."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from app.config import Settings
from app.ledger.canonical import parse_strict
from app.ledger.errors import LedgerError
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import PublicKey, SigningKey, b64encode
from app.ledger.verify import verify_lot_export

app = typer.Typer(help="Goldtrail: green ID cards for gold.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
admin_app = typer.Typer(
    help="Administration through the API, with the admin token.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")

console = Console(soft_wrap=True)
errors = Console(stderr=True)

DEFAULT_URL = "http://127.0.0.1:8000"
UrlOption = Annotated[str, typer.Option(envvar="GOLDTRAIL_URL", help="The API's base URL.")]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Create secrets on first start, apply migrations, then serve the API."""
    import uvicorn

    from app.keystore import load_or_create_secrets
    from app.migrate import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create_secrets(settings)
    for path in secrets.created:
        console.print(f"created [bold]{path}[/bold]")
    console.print(
        f"service key: {secrets.service_key.public.b64} (id {secrets.service_key.public.key_id})"
    )
    if settings.admin_token is None:
        console.print(f"admin token: in [bold]{settings.admin_token_path}[/bold]")
    upgrade(settings.database_url)
    console.print(f"database: {settings.database_url} (migrated)")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from app.migrate import upgrade

    settings = Settings()
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    console.print(f"migrated {settings.database_url} to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' drops everything)."""
    from app.migrate import downgrade

    settings = Settings()
    downgrade(settings.database_url, revision)
    console.print(f"downgraded {settings.database_url} to {revision}")


@app.command()
def keygen(
    out: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """Create an Ed25519 key pair for a partner; prints the public key to register."""
    if out.exists():
        raise _fail(f"{out} exists; refusing to overwrite a key")
    key = SigningKey.generate()
    _write_secret(out, key.to_pem())
    console.print_json(data={"key_id": key.public.key_id, "public_key": key.public.b64})


def _write_secret(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


@app.command("service-key")
def service_key_command(url: UrlOption = DEFAULT_URL) -> None:
    """Print the service's public key (base64) as the server states it.

    Pin it once from a channel you trust (``make run`` prints it at start-up).
    """
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/service/key", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise _fail(f"{url}: {exc}") from exc
    sys.stdout.write(response.json()["public_key"] + "\n")


def _read_json(path: Path) -> Any:
    try:
        return parse_strict(path.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    except LedgerError as exc:
        raise _fail(f"{path}: {exc}") from exc


def _lot_head(url: str, lot: str) -> str | None:
    response = httpx.get(f"{url}/v1/lots/{lot}", timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    head: str = response.json()["head"]
    return head


@app.command()
def sign(
    event_file: Annotated[
        Path, typer.Argument(help="JSON event; type, key and prev are filled in.")
    ],
    key: Annotated[Path, typer.Option(help="The partner's private key (PEM).")],
    prev: Annotated[
        str | None, typer.Option(help="The lot's head hash, or 'null' for a new lot.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="GOLDTRAIL_URL",
            help="Ask this server for the lot's head when neither --prev nor the file gives it.",
        ),
    ] = None,
) -> None:
    """Sign an event with a partner key and print the envelope to POST."""
    event = _read_json(event_file)
    if not isinstance(event, dict):
        raise _fail("the event file must hold a JSON object")
    signing_key = SigningKey.load(key)
    event.setdefault("type", EVENT_TYPE)
    event.setdefault("data", {})
    event["key"] = signing_key.public.key_id
    if prev is not None:
        event["prev"] = None if prev == "null" else prev
    elif "prev" not in event:
        if url is None:
            raise _fail("give --prev HASH (or --prev null), or --url to ask for the lot head")
        event["prev"] = _lot_head(url.rstrip("/"), str(event.get("lot")))
    try:
        parsed = Event.from_json(event)
    except LedgerError as exc:
        raise _fail(str(exc)) from exc
    envelope = {"event": event, "signature": b64encode(signing_key.sign(parsed.canonical))}
    sys.stdout.write(json.dumps(envelope, ensure_ascii=False, indent=1) + "\n")


@app.command()
def verify(
    export_file: Annotated[Path, typer.Argument(help="A lot export (GET /v1/lots/{id}/export).")],
    service_key: Annotated[
        str | None,
        typer.Option(help="Pin the service's public key (base64); else the export's own is used."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify a lot's chain offline: hashes, links, signatures, keys, receipts.

    Exits 1 if anything is broken.
    """
    doc = _read_json(export_file)
    try:
        pinned = None if service_key is None else PublicKey.from_b64(service_key)
        report = verify_lot_export(doc, service_key=pinned)
    except LedgerError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        console.print_json(data=report.to_json())
    else:
        for check in report.checks:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            where = f" (seq {check.seq})" if check.seq is not None else ""
            console.print(f"{mark} {check.check}{where}: {check.detail}", highlight=False)
        verdict = "[green]chain verified[/green]" if report.ok else "[red]chain BROKEN[/red]"
        console.print(f"{verdict}: {len(report.checks)} checks, {len(report.failures)} failed")
    if not report.ok:
        raise typer.Exit(code=1)


def _admin_token(token: str | None) -> str:
    if token:
        return token
    settings = Settings()
    if settings.admin_token:
        return settings.admin_token
    try:
        return settings.admin_token_path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise _fail(f"no admin token: set GOLDTRAIL_ADMIN_TOKEN or create {exc.filename}") from exc


TokenOption = Annotated[
    str | None,
    typer.Option(envvar="GOLDTRAIL_ADMIN_TOKEN", help="Admin token (else the token file)."),
]


def _call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    try:
        response = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        raise _fail(f"{url}: {exc}") from exc
    console.print_json(data=response.json())
    if response.is_error:
        raise typer.Exit(code=1)
    return response.json()


@admin_app.command("partner-add")
def partner_add(
    partner_id: Annotated[str, typer.Option("--id", help="Partner id, e.g. obuasi-ridge.")],
    name: Annotated[str, typer.Option(help="Legal name.")],
    role: Annotated[list[str], typer.Option(help="A role; repeat for several.")],
    public_key: Annotated[
        list[str] | None, typer.Option(help="Ed25519 public key, base64; repeat for several.")
    ] = None,
    key_file: Annotated[
        list[Path] | None,
        typer.Option(help="Take the public key from this private key file; repeatable."),
    ] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2.")] = None,
    save_api_key: Annotated[
        Path | None, typer.Option(help="Also write the API key to this file (mode 0600).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register a partner; prints its API key once."""
    keys = list(public_key or []) + [SigningKey.load(path).public.b64 for path in key_file or []]
    body = {"id": partner_id, "name": name, "roles": role, "country": country, "public_keys": keys}
    answer = _call("POST", f"{url.rstrip('/')}/v1/admin/partners", _admin_token(token), body)
    if save_api_key is not None:
        _write_secret(save_api_key, answer["api_key"].encode("ascii"))


@admin_app.command("key-add")
def key_add(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    public_key: Annotated[str, typer.Option(help="Ed25519 public key, base64.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register another key for a partner."""
    body = {"public_key": public_key}
    _call("POST", f"{url.rstrip('/')}/v1/admin/partners/{partner}/keys", _admin_token(token), body)


@admin_app.command("key-revoke")
def key_revoke(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    key_id: Annotated[str, typer.Option(help="The key's id (32 hex).")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "unspecified",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Revoke a partner's key. Events accepted before it stay valid."""
    target = f"{url.rstrip('/')}/v1/admin/partners/{partner}/keys/{key_id}/revoke"
    _call("POST", target, _admin_token(token), {"reason": reason})


def main() -> None:
    app()
