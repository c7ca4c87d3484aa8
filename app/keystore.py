"""The service's signing key and admin token: created on first start, never baked into images."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.ledger.keys import SigningKey

__all__ = ["Secrets", "install_staged_key", "load_or_create_secrets", "stage_key"]


@dataclass(frozen=True, slots=True)
class Secrets:
    service_key: SigningKey
    admin_token: str
    created: tuple[Path, ...]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def load_or_create_secrets(settings: Settings, *, create: bool = True) -> Secrets:
    """Load the service key and admin token, creating either that is missing.

    In production nothing is created: a missing key is an error, and the admin
    token must come from the environment.
    """
    created: list[Path] = []
    key_path = settings.service_key_path
    if not key_path.exists():
        if not create or settings.environment == "production":
            raise FileNotFoundError(f"service signing key {key_path} does not exist")
        _write_private(key_path, SigningKey.generate().to_pem())
        created.append(key_path)
    service_key = SigningKey.load(key_path)
    token = settings.admin_token
    if token is None:
        token_path = settings.admin_token_path
        if not token_path.exists():
            if not create or settings.environment == "production":
                raise FileNotFoundError(f"admin token {token_path} does not exist")
            _write_private(token_path, secrets.token_urlsafe(32).encode("ascii"))
            created.append(token_path)
        token = token_path.read_text(encoding="ascii").strip()
    tag_master = settings.tag_master_key_path
    if not tag_master.exists() and create and settings.environment != "production":
        # Production brings its own (OPERATIONS.md); without it, tag routes answer 503.
        _write_private(tag_master, secrets.token_bytes(16))
        created.append(tag_master)
    return Secrets(service_key=service_key, admin_token=token, created=tuple(created))


def staged_path(key_path: Path) -> Path:
    """Where a new service key waits until its rotation is committed (workers look there too)."""
    return key_path.with_name(key_path.name + ".next")


def stage_key(settings: Settings, key: SigningKey) -> Path:
    """Write the next service key beside the current one, readable by the owner only."""
    staged = staged_path(settings.service_key_path)
    staged.unlink(missing_ok=True)
    _write_private(staged, key.to_pem())
    return staged


def install_staged_key(settings: Settings, retired_id: str) -> Path:
    """After the rotation is committed: the staged key becomes the service key file, and the
    old one is kept aside (to be moved offline or destroyed by the operator)."""
    key_path = settings.service_key_path
    retired = key_path.with_name(f"{key_path.name}.retired-{retired_id[:16]}")
    os.replace(key_path, retired)
    os.replace(staged_path(key_path), key_path)
    return retired
