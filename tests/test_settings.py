"""Settings are validated at start-up; production never invents secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.keystore import load_or_create_secrets


def test_development_creates_secrets_once(tmp_path: Path) -> None:
    settings = Settings(environment="development", data_dir=tmp_path)
    first = load_or_create_secrets(settings)
    assert set(first.created) == {tmp_path / "service.key", tmp_path / "admin.token"}
    assert (tmp_path / "service.key").stat().st_mode & 0o777 == 0o600
    second = load_or_create_secrets(settings)
    assert second.created == ()
    assert second.admin_token == first.admin_token
    assert second.service_key.public == first.service_key.public
    assert settings.database_url == f"sqlite:///{tmp_path / 'goldtrail.db'}"


def test_production_requires_an_admin_token_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOLDTRAIL_ADMIN_TOKEN"):
        Settings(environment="production", data_dir=tmp_path)
    settings = Settings(
        environment="production",
        data_dir=tmp_path,
        admin_token="p" * 40,
        log_origin="gold.example.org/log",
        public_base_url="https://gold.example.org",
    )
    with pytest.raises(FileNotFoundError, match="service signing key"):
        load_or_create_secrets(settings)
    assert list(tmp_path.iterdir()) == []


def test_short_admin_tokens_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="admin_token"):
        Settings(data_dir=tmp_path, admin_token="short")


PRODUCTION = {"environment": "production", "admin_token": "p" * 40}


def test_production_refuses_the_example_log_origin(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOLDTRAIL_LOG_ORIGIN"):
        Settings(data_dir=tmp_path, public_base_url="https://gold.example.org", **PRODUCTION)


@pytest.mark.parametrize("base", [None, "http://127.0.0.1:8000", "http://127.0.0.1:9000"])
def test_production_requires_a_public_base_url(tmp_path: Path, base: str | None) -> None:
    extra = {} if base is None else {"public_base_url": base}
    with pytest.raises(ValidationError, match="GOLDTRAIL_PUBLIC_BASE_URL"):
        Settings(data_dir=tmp_path, log_origin="gold.example.org/log", **PRODUCTION, **extra)


def test_the_compose_file_sets_what_production_requires() -> None:
    compose = (Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text()
    assert "GOLDTRAIL_LOG_ORIGIN:" in compose
    assert "GOLDTRAIL_PUBLIC_BASE_URL:" in compose
