"""Smoke test of the benchmark harness (bench/): the cheapest benchmark at --quick size prints
its table with numbers. The benchmarks themselves are not part of the test run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_import_bench_prints_table_with_floor_and_ratio(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "import-full", "--articles", "500", "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    # exit 1 = a target missed (a measurement, not a failure of the harness); 2 = the harness broke
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert "floor (same run)" in proc.stdout and "full import, 500 articles: wall time" in proc.stdout
    rows = {r["measurement"]: r for r in json.loads(out.read_text())["rows"]}
    wall = rows["full import, 500 articles: wall time"]
    assert wall["value"] > 0 and wall["floor"] > 0 and wall["ratio"] > 0 and wall["met"] in (True, False)
    rss = rows["full import, 500 articles: worker peak RSS"]
    assert 20 < rss["value"] < 2000  # MB, read from the worker process's VmHWM
    assert "500 products created by both" in wall["note"]
    cpu = rows["full import, 500 articles: CPU seconds, all processes"]
    assert cpu["value"] > 0 and cpu["floor"] > 0  # utime + stime from /proc and the floor's getrusage
    assert "tgflow: worker " in cpu["note"] and "floor: floor script " in cpu["note"]
