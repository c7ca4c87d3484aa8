"""The client's ``_core`` is the server's core, byte for byte (tools/client_core.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("client_core", ROOT / "tools" / "client_core.py")
assert _spec is not None
assert _spec.loader is not None
client_core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client_core)


def test_the_generated_copy_is_the_core_as_it_is_now() -> None:
    expected = client_core.render()
    found = {
        path.relative_to(client_core.TARGET).as_posix(): path.read_text(encoding="utf-8")
        for path in client_core.TARGET.rglob("*.py")
    }
    assert sorted(found) == sorted(expected), "run `make client-core`"
    stale = [name for name, text in expected.items() if found[name] != text]
    assert not stale, f"{stale} differ from app/ledger/: run `make client-core`"


def test_the_client_verifies_with_the_cores_code() -> None:
    from goldtrail_client import epcis, verify
    from goldtrail_client._core import cbv
    from goldtrail_client._core.log import merkle

    from app.ledger.cbv import BIZ_STEPS, GOLDTRAIL_NS
    from app.ledger.log import merkle as server_merkle

    assert verify.inclusion_ranges is merkle.inclusion_ranges
    # One table, read by both sides (it was two copies held equal by a test).
    assert epcis.BIZ_STEPS is cbv.BIZ_STEPS
    assert epcis.GOLDTRAIL_NS == GOLDTRAIL_NS
    assert cbv.BIZ_STEPS == BIZ_STEPS
    for index, size in [(0, 1), (5, 7), (6, 7), (1000, 1025)]:
        assert merkle.inclusion_ranges(index, size) == server_merkle.inclusion_ranges(index, size)
