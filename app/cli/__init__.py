"""The ``goldtrail`` command: serve, db, keygen, sign, verify and admin.

* ``common`` — the Typer apps, consoles, options and the admin API call;
* ``server`` — serve, the database schema, backup and restore;
* ``documents`` — keys, signing, verify, audit and monitor;
* ``admin`` — the operator's commands through the API;
* ``tags`` — a simulated NFC tag (its SUN URLs).
"""

from __future__ import annotations

from app.cli import admin, documents, server, tags  # noqa: F401 (importing them registers the commands)
from app.cli.common import DOCUMENT_LIMITS, app, errors

__all__ = ["DOCUMENT_LIMITS", "app", "main"]


def main() -> None:
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as exc:
        # A bad setting (GOLDTRAIL_*): one line per setting, not a traceback.
        for error in exc.errors():
            where = "_".join(str(part) for part in error["loc"]).upper()
            name = f"setting GOLDTRAIL_{where}" if where else "settings"
            errors.print(f"[red]error:[/red] {name}: {error['msg']}", highlight=False)
        raise SystemExit(2) from None
