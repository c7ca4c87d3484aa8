"""What every use case needs: the engine, the settings and the service's signing key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from app.config import Settings
from app.ledger.keys import SigningKey

__all__ = ["LedgerContext"]


@dataclass(frozen=True, slots=True)
class LedgerContext:
    engine: Engine
    settings: Settings
    service_key: SigningKey
