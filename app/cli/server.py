"""Running the service: serve, the database schema, backup and restore."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import app, console, db_app, fail, shown_url
from app.config import Settings
from app.ledger.log.note import NoteVerifier


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            envvar="GOLDTRAIL_FORWARDED_ALLOW_IPS",
            help="The TLS proxy's addresses, whose X-Forwarded-For/-Proto headers are trusted "
            "(comma-separated, or * behind a private network only).",
        ),
    ] = "127.0.0.1",
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
    log_key = NoteVerifier.of(settings.log_origin, secrets.service_key.public)
    console.print(f"log verifier key: {log_key}")
    if settings.admin_token is None:
        console.print(f"admin token: in [bold]{settings.admin_token_path}[/bold]")
    upgrade(settings.database_url)
    console.print(f"database: {settings.database_url} (migrated)")
    _prepare_metrics_directory(settings.data_dir)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"serving on [bold]http://{shown}:{port}[/bold] ({workers} worker(s); Ctrl-C stops)"
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="warning",
        access_log=False,  # each request is logged once, as JSON, by the app
    )


def _prepare_metrics_directory(data_dir: Path) -> None:
    """Prometheus's multi-process mode: every worker writes its samples under one empty
    directory, named before any worker starts (PROMETHEUS_MULTIPROC_DIR)."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or data_dir / "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


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


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the snapshot (must not exist).")],
) -> None:
    """Take a consistent snapshot of the database, while the service runs.

    SQLite: the online backup API. PostgreSQL: pg_dump (custom format).
    """
    from app.backup import BackupError, backup

    settings = Settings()
    try:
        backup(settings.database_url, file)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    console.print(f"backed up {shown_url(settings.database_url)} to {file}")


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A snapshot made by goldtrail backup.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the database's contents are replaced.")
    ] = False,
) -> None:
    """Replace the database with a snapshot. Stop the service first.

    Entries appended after the snapshot are gone: monitors that saw a later checkpoint
    will report the log as rolled back (docs/OPERATIONS.md says what to do).
    """
    from app.backup import BackupError, restore

    if not yes:
        raise fail("restoring replaces the database's contents; add --yes to confirm")
    settings = Settings()
    try:
        restore(file, settings.database_url)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    console.print(f"restored {file} into {shown_url(settings.database_url)}")
