"""The operator's commands through the API, with the admin token: partners, keys, rotation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer

from app.cli.common import (
    DEFAULT_URL,
    SaveApiKeyOption,
    TokenOption,
    UrlOption,
    admin_app,
    admin_token,
    call,
    console,
    fail,
    write_secret,
)
from app.config import Settings
from app.ledger.errors import LedgerError
from app.ledger.keys import SigningKey
from app.ledger.log.note import NoteVerifier


@admin_app.command("rotate-service-key")
def rotate_service_key(
    new_key_file: Annotated[
        Path | None,
        typer.Option(help="The new key (PEM, as goldtrail keygen writes); else one is made."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the rotation is logged for ever.")
    ] = False,
) -> None:
    """Rotate the service key: the log announces the new key, signed by the old one.

    Runs beside the service, on the configured database and key file: the new key
    signs from the next entry on, workers switch to it by themselves, and the old
    key is moved aside for you to take offline or destroy (docs/OPERATIONS.md).
    """
    from app.db import make_engine
    from app.keystore import install_staged_key, load_or_create_secrets, stage_key
    from app.services.context import LedgerContext
    from app.services.rotation import rotate

    if not yes:
        raise fail("a rotation is logged for ever; add --yes to confirm")
    settings = Settings()
    try:
        old = load_or_create_secrets(settings, create=False).service_key
        new = SigningKey.load(new_key_file) if new_key_file else SigningKey.generate()
    except (OSError, LedgerError) as exc:
        raise fail(str(exc)) from exc
    staged = stage_key(settings, new)
    engine = make_engine(settings.database_url)
    ctx = LedgerContext(engine=engine, settings=settings, service_key=old)
    try:
        rotation = rotate(ctx, new)
    except LedgerError as exc:
        staged.unlink(missing_ok=True)
        raise fail(str(exc)) from exc
    finally:
        engine.dispose()
    retired = install_staged_key(settings, old.public.key_id)
    verifier = NoteVerifier.of(settings.log_origin, new.public)
    console.print(
        f"rotated the service key at seq {rotation.announcement.seq}: "
        f"{old.public.key_id} → {new.public.key_id}\n"
        f"handover checkpoint: size {rotation.handover.size}, signed by both keys\n"
        f"new log verifier key: {verifier}\n"
        f"the old key is in {retired}: take it offline or destroy it",
        highlight=False,
    )


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
    save_api_key: SaveApiKeyOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register a partner; prints its API key once."""
    keys = list(public_key or []) + [SigningKey.load(path).public.b64 for path in key_file or []]
    body = {"id": partner_id, "name": name, "roles": role, "country": country, "public_keys": keys}
    answer = call("POST", f"{url.rstrip('/')}/v1/admin/partners", admin_token(token), body)
    if save_api_key is not None:
        write_secret(save_api_key, answer["api_key"].encode("ascii"))


@admin_app.command("key-add")
def key_add(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    public_key: Annotated[str | None, typer.Option(help="Ed25519 public key, base64.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Take the public key from this private key file.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register another key for a partner (give --public-key or --key-file)."""
    if key_file is not None:
        if public_key is not None:
            raise fail("give --public-key or --key-file, not both")
        public_key = SigningKey.load(key_file).public.b64
    if public_key is None:
        raise fail("give --public-key or --key-file")
    body = {"public_key": public_key}
    call("POST", f"{url.rstrip('/')}/v1/admin/partners/{partner}/keys", admin_token(token), body)


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
    call("POST", target, admin_token(token), {"reason": reason})


@admin_app.command("api-key")
def api_key(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    save_api_key: SaveApiKeyOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Issue a new API key for a partner; the old one stops working at once."""
    target = f"{url.rstrip('/')}/v1/admin/partners/{partner}/api-key"
    answer = call("POST", target, admin_token(token))
    if save_api_key is not None:
        if save_api_key.exists():
            save_api_key.unlink()
        write_secret(save_api_key, answer["api_key"].encode("ascii"))


@admin_app.command("partners")
def partners(url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """List every partner: id, name, roles, country, where it was registered."""
    from rich.table import Table

    base, secret = url.rstrip("/"), admin_token(token)
    table = Table("id", "name", "roles", "country", "registered at seq")
    after: str | None = None
    while True:
        params = {"limit": 500} | ({} if after is None else {"after": after})
        try:
            response = httpx.get(
                f"{base}/v1/partners",
                params=params,
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise fail(f"{base}: {exc}") from exc
        if response.is_error:
            raise fail(f"{response.status_code}: {response.text}")
        page = response.json()
        for p in page["partners"]:
            table.add_row(
                p["id"],
                p["name"],
                ", ".join(p["roles"]),
                p["country"] or "—",
                str(p["registered_seq"]),
            )
        after = page["next_after"]
        if after is None:
            break
    console.print(table)
