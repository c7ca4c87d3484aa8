"""What every command shares: the Typer apps, the consoles, the options and the admin call."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from app.config import Settings
from app.ledger.canonical import JsonLimits, parse_strict
from app.ledger.errors import LedgerError

# An export holds one list item per entry and one proof per entry: far beyond the
# limits on a single posted event, but still bounded in depth.
DOCUMENT_LIMITS = JsonLimits(max_depth=12, max_string=1 << 16, max_list=10**7, max_keys=10**7)


app = typer.Typer(help="Goldtrail: green ID cards for gold.", no_args_is_help=True)


db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)


admin_app = typer.Typer(
    help="Administration through the API, with the admin token.", no_args_is_help=True
)


app.add_typer(db_app, name="db")


app.add_typer(admin_app, name="admin")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"goldtrail {version('goldtrail')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Goldtrail: green ID cards for gold."""


console = Console(soft_wrap=True)


errors = Console(stderr=True, soft_wrap=True)


DEFAULT_URL = "http://127.0.0.1:8000"


UrlOption = Annotated[str, typer.Option(envvar="GOLDTRAIL_URL", help="The API's base URL.")]


def fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def write_secret(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def read_json(path: Path) -> Any:
    try:
        return parse_strict(path.read_bytes())
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    except LedgerError as exc:
        raise fail(f"{path}: {exc}") from exc


def admin_token(token: str | None) -> str:
    if token:
        return token
    settings = Settings()
    if settings.admin_token:
        return settings.admin_token
    try:
        return settings.admin_token_path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise fail(f"no admin token: set GOLDTRAIL_ADMIN_TOKEN or create {exc.filename}") from exc


SaveApiKeyOption = Annotated[
    Path | None, typer.Option(help="Also write the API key to this file (mode 0600).")
]


TokenOption = Annotated[
    str | None,
    typer.Option(envvar="GOLDTRAIL_ADMIN_TOKEN", help="Admin token (else the token file)."),
]


def call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    try:
        response = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        raise fail(f"{url}: {exc}") from exc
    console.print_json(data=response.json())
    if response.is_error:
        raise typer.Exit(code=1)
    return response.json()


def shown_url(url: str) -> str:
    """The database URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
