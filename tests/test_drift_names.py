"""The drift report has one name (`tgflow drift-report`, ``drift.every_hours``) and its former ones keep
working: `tgflow reconcile` (hidden) and ``reconcile.every_hours``."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from tgflow.config import load_settings
from tgflow.jobs import job


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TGFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "tgflow.toml"))
    return tmp_path


def test_drift_every_hours_is_read_and_the_former_reconcile_setting_is_its_fallback(isolated):
    config = isolated / "tgflow.toml"
    config.write_text("")
    assert job(load_settings(), "drift").every == timedelta(hours=24)  # neither set: the default
    config.write_text("[reconcile]\nevery_hours = 6\n")
    assert job(load_settings(), "drift").every == timedelta(hours=6)  # an existing installation's setting
    config.write_text("[reconcile]\nevery_hours = 6\n\n[drift]\nevery_hours = 12\n")
    settings = load_settings()
    assert settings.drift_every_hours == 12
    assert job(settings, "drift").every == timedelta(hours=12)  # the new name wins
    assert job(settings, "drift").schedule_id == f"drift-report-{settings.totalgest.shop_id}"


def _tgflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgflow", *args], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"COLUMNS": "200"})


def test_help_lists_drift_report_and_keeps_reconcile_as_a_hidden_alias():
    top = _tgflow("--help")
    assert top.returncode == 0, top.stderr
    names = [line.split()[1] for line in top.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1]
    assert "drift-report" in names and "reconcile" not in names, top.stdout
    new, old = _tgflow("drift-report", "--help"), _tgflow("reconcile", "--help")
    assert new.returncode == 0 and old.returncode == 0, new.stderr + old.stderr
    assert "Drift report between Framework360 and TotalGest" in new.stdout
    assert "--fix" in old.stdout and "--since" in old.stdout  # the former name runs the same command
