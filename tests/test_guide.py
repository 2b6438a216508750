"""docs/guide/: every page's python blocks run top to bottom in a fresh folder (issue 18)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide"
PAGES = sorted(p.name for p in GUIDE.glob("*.md") if p.name != "README.md")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_every_page_is_listed_in_the_index():
    index = (GUIDE / "README.md").read_text(encoding="utf-8")
    assert PAGES and all(f"({page})" in index for page in PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page, tmp_path):
    code = "\n".join(BLOCK.findall((GUIDE / page).read_text(encoding="utf-8")))
    assert code.strip(), f"{page} has no python block"
    env = {**os.environ, "PYTHONPATH": str(GUIDE.parents[1]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, f"{page}:\n{result.stderr[-4000:]}"
