"""Generate the partner client's copy of the pure core: ``goldtrail_client/_core/``.

The client must install without the server (httpx, cryptography and rfc8785 only), yet
verify with the very code the server signs with. So the modules it needs are copied,
byte for byte, from ``app/ledger/`` — whose imports inside the core are relative, so a
copy works under another package name — each behind a header naming its source.
Nobody edits the copy: edit the core, then run ``make client-core``;
``tests/test_client_core.py`` fails while the copy and the core differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "app" / "ledger"
TARGET = ROOT / "clients" / "python" / "goldtrail_client" / "_core"

# What the client verifies with, and everything those modules import.
MODULES = (
    "canonical.py",
    "cbv.py",
    "errors.py",
    "events.py",
    "hashing.py",
    "keys.py",
    "records.py",
    "report.py",
    "log/__init__.py",
    "log/merkle.py",
    "log/note.py",
)

PACKAGE_DOC = '''"""The pure core the client shares with the server, generated from ``app/ledger/``.

Do not edit: run ``make client-core`` after changing the core (``tools/client_core.py``).
"""
'''


def header(source: str) -> str:
    return f"# Generated from app/ledger/{source} by tools/client_core.py: do not edit.\n"


def render() -> dict[str, str]:
    """Every file of ``_core/``: its path relative to the folder, and its text."""
    files = {"__init__.py": PACKAGE_DOC}
    for name in MODULES:
        files[name] = header(name) + (CORE / name).read_text(encoding="utf-8")
    return files


def main() -> int:
    files = render()
    for stale in TARGET.rglob("*.py"):
        if stale.relative_to(TARGET).as_posix() not in files:
            stale.unlink()
    for name, text in files.items():
        path = TARGET / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
