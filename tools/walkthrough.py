"""Print the README's walkthrough (the block between its walkthrough markers), for
``make walkthrough`` to run with ``bash -euo pipefail`` exactly as tests/test_readme.py does."""

from __future__ import annotations

import re
import sys
from pathlib import Path

BLOCK = re.compile(r"<!-- walkthrough:start -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", re.S)

if __name__ == "__main__":
    found = BLOCK.search((Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8"))
    if found is None:
        sys.exit("README.md has no walkthrough block")
    sys.stdout.write(found.group(1))
