"""Consistent snapshots of the ledger database, and restoring one.

SQLite: the online backup API copies a consistent snapshot while the service keeps
writing (each step copies pages of one read transaction's view). PostgreSQL: ``pg_dump``
in its custom format, one transaction-consistent snapshot (``--serializable-deferrable``
waits for a moment no concurrent transaction can contradict); ``pg_restore`` brings it
back. A restore replaces the database's contents: stop the service first.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["BackupError", "backup", "restore"]


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why."""


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    return Path(url.split(":///", 1)[1])


def _libpq(url: str) -> tuple[str, list[str]]:
    """A libpq URI for the command-line tools, and ``-n schema`` if the URL pins a schema
    (``?options=-csearch_path=<schema>``, as the test suite does)."""
    scheme, rest = url.split("://", 1)
    if not scheme.startswith("postgresql"):
        raise BackupError(f"not a PostgreSQL or SQLite URL: {scheme}://")
    parts = urlsplit("postgresql://" + rest)
    options = " ".join(parse_qs(parts.query).get("options", []))
    schema = [
        ["--schema", unquote(option.split("=", 1)[1])]
        for option in options.split()
        if option.startswith("-csearch_path=")
    ]
    return parts._replace(query="").geturl(), [arg for pair in schema for arg in pair]


def _postgres_tool(name: str, options: list[str], operands: list[str]) -> None:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(  # noqa: S603 - a fixed tool, arguments from our own settings
        [found, *options, *operands], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{name} failed: {done.stderr.strip()}")


def backup(database_url: str, destination: Path) -> None:
    """Write a consistent snapshot of the database to ``destination`` (which must not exist)."""
    if destination.exists():
        raise BackupError(f"{destination} exists; refusing to overwrite a backup")
    path = _sqlite_path(database_url)
    if path is not None:
        source = sqlite3.connect(path, timeout=30)
        target = sqlite3.connect(destination)
        try:
            with target:
                source.backup(target, pages=1024)
        finally:
            target.close()
            source.close()
        return
    uri, schema = _libpq(database_url)
    _postgres_tool(
        "pg_dump",
        ["--format=custom", "--serializable-deferrable", "--no-owner", *schema],
        ["--file", str(destination), uri],
    )


def restore(source: Path, database_url: str) -> None:
    """Replace the database's contents with the snapshot in ``source``."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    path = _sqlite_path(database_url)
    if path is not None:
        snapshot = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(path)
        try:
            with target:
                snapshot.backup(target)
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            target.close()
            snapshot.close()
        return
    uri, schema = _libpq(database_url)
    _postgres_tool(
        "pg_restore",
        ["--clean", "--if-exists", "--no-owner", "--single-transaction", *schema],
        ["--dbname", uri, str(source)],
    )
