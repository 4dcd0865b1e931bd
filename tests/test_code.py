"""The code base stays ruff-clean (part of the test command, so CI enforces it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a test dependency (pip install -e .[test])"
    paths = [p for p in ("feedsvc", "tests", "bench", "dev.py") if (ROOT / p).exists()]
    proc = subprocess.run([ruff, "check", *paths], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_module_says_what_it_owns() -> None:
    for path in (ROOT / "feedsvc").rglob("*.py"):
        if "versions" in path.parts or path.name == "__main__.py":
            continue
        text = path.read_text("utf-8").lstrip()
        assert text.startswith('"""'), f"{path.relative_to(ROOT)} has no module docstring"
