"""The typed core (the packages in pyproject's [tool.mypy] `files`) passes `mypy --strict`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_typed_core_passes_mypy_strict():
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, "mypy --strict found problems:\n" + result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
