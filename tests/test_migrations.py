"""The migrations are the schema: upgrade, compare with the models, downgrade, upgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from app.db import make_engine
from app.migrate import alembic_config, downgrade, is_at_head, upgrade


def test_upgrade_check_downgrade_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert is_at_head(engine)
        command.check(alembic_config(database_url))  # models and migrations agree
        downgrade(database_url, "base")
        assert not is_at_head(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)
        assert is_at_head(engine)
        assert {"ledger_entries", "events", "lots", "partners", "partner_keys"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
