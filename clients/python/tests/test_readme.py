"""The README's fifteen lines, run as written against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import Server

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_runs_as_written(server: Server, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    example = blocks[0]
    assert len([line for line in example.splitlines() if line.strip()]) == 15
    key, api_key = server.register("obuasi-ridge", "explorer", "miner")
    key.save(tmp_path / "partner.pem")
    log_key = httpx.get(f"{server.url}/v1/log/key").text.strip()
    script = tmp_path / "example.py"
    script.write_text(example, encoding="utf-8")
    for _ in range(2):  # it runs again as it is: a fresh lot each time
        _run_and_check(script, server, api_key, tmp_path, log_key)


def _run_and_check(
    script: Path, server: Server, api_key: str, tmp_path: Path, log_key: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(script)],
        env={
            **os.environ,
            "GOLDTRAIL_URL": server.url,
            "GOLDTRAIL_PARTNER": "obuasi-ridge",
            "GOLDTRAIL_API_KEY": api_key,
            "GOLDTRAIL_KEY_FILE": str(tmp_path / "partner.pem"),
            "GOLDTRAIL_LOG_KEY": log_key,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("accepted at seq ")
    assert lines[1] == "export verifies: True (7 checks)", lines
    assert [line.split(" ", 1)[1] for line in lines[2:]] == ["site_registered", "impact_assessed"]
