"""`tgflow check`: one clear line per problem, non-zero exit, never a secret in the output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tgflow.config import save_settings
from tgflow.sim import DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET, DEMO_TG_PASSWORD
from tgflow.sim.server import free_port

SECRETS = (DEMO_TG_PASSWORD, DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET, "wrong-Pa55word")


def tgflow_check(settings, tmp_path, **changes) -> subprocess.CompletedProcess:
    for section, values in changes.items():
        setattr(settings, section, getattr(settings, section).model_copy(update=values))
    path = save_settings(settings, tmp_path / "check.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env["TGFLOW_CONFIG"] = str(path)
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "tgflow", "check"], env=env, capture_output=True, text=True, timeout=60)


def assert_no_secret(result: subprocess.CompletedProcess) -> None:
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


def test_check_succeeds_against_the_simulators_and_says_what_it_connected_to(settings, tmp_path):
    result = tgflow_check(settings, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Velo Demo AG" in result.stdout and "E-commerce active" in result.stdout
    assert "Temporal at" in result.stdout and "status database" in result.stdout
    assert_no_secret(result)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"totalgest": {"password": "wrong-Pa55word"}}, "check the username, password and owner id"),
        ({"totalgest": {"shop_id": "9999"}}, "knows no shop with id '9999'"),
        ({"totalgest": {"endpoint": "http://127.0.0.1:{port}/api/v1"}}, "is unreachable"),
    ],
    ids=["wrong-password", "unknown-shop", "unreachable-endpoint"],
)
def test_check_names_the_totalgest_field_to_fix(settings, tmp_path, changes, expected):
    if "endpoint" in changes["totalgest"]:
        changes["totalgest"]["endpoint"] = changes["totalgest"]["endpoint"].format(port=free_port())
    from pydantic import SecretStr

    if "password" in changes["totalgest"]:
        changes["totalgest"]["password"] = SecretStr(changes["totalgest"]["password"])
    result = tgflow_check(settings, tmp_path, **changes)
    assert result.returncode == 2
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and expected in failures[0], result.stdout
    assert_no_secret(result)


def test_check_reports_inactive_ecommerce_module(settings, tmp_path, f360_sim):
    f360_sim.sim.set_module_active(False)
    result = tgflow_check(settings, tmp_path)
    assert result.returncode == 2
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and "E-commerce module is not active" in failures[0]
    assert_no_secret(result)


def test_check_reports_unreachable_temporal(settings, tmp_path):
    result = tgflow_check(settings, tmp_path, temporal={"address": f"127.0.0.1:{free_port()}"})
    assert result.returncode == 3
    assert "Temporal at" in result.stdout and "not reachable" in result.stdout


@pytest.mark.parametrize("command", [["check"], ["status"], ["import-products"]])
def test_a_malformed_endpoint_is_a_configuration_error_not_unreachable(settings, tmp_path, command):
    path = save_settings(settings, tmp_path / "check.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env |= {"TGFLOW_CONFIG": str(path), "TGFLOW_TOTALGEST__ENDPOINT": "not a url", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "tgflow", *command], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TGFLOW_TOTALGEST__ENDPOINT: 'not a url' is not a host" in lines[0], result.stderr
    assert "unreachable" not in result.stdout + result.stderr
    assert_no_secret(result)
