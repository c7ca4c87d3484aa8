"""The layers in pyproject.toml hold today, and each contract fails when a module reaches up.

Each probe copies the packages to a temporary folder, adds one module that breaks one
rule, and runs the real ``lint-imports`` there: a contract that never fails would guard
nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "clients" / "python" / "goldtrail_client",
        tmp_path / "goldtrail_client",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_contract_is_kept(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert result.stdout.count(" KEPT") == 6


@pytest.mark.parametrize(
    ("probe", "source", "broken"),
    [
        ("app/api/routes/probe.py", "from app.models.tables import lots\n", "Only the repository"),
        ("app/ledger/probe.py", "import sqlalchemy\n", "imports no framework"),
        ("app/ledger/log/probe.py", "from app.ledger.documents import checks\n", "floors"),
        ("app/ledger/records.py", "from app.ledger.log import merkle\n", "primitives"),
        ("app/domain/probe.py", "from app.services import log\n", "Entry points -> api"),
        ("goldtrail_client/probe.py", "import app.ledger\n", "client imports nothing"),
    ],
)
def test_a_module_reaching_up_breaks_its_contract(
    tmp_path: Path, probe: str, source: str, broken: str
) -> None:
    folder = _copy(tmp_path)
    target = folder / probe
    # A new module, or an import added to an existing one (a primitive of the core).
    target.write_text((target.read_text() + "\n" if target.exists() else "") + source)
    result = _lint(folder)
    assert result.returncode != 0
    line = next(line for line in result.stdout.splitlines() if broken in line)
    assert line.endswith("BROKEN"), result.stdout
