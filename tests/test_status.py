"""`tgflow status --json` as a subprocess against the simulators and Temporal: counts by status, the last
import with its counts, the product-import schedule (next run, paused), services; exit 1 when TotalGest
is down or refuses the login."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.test_metrics import IMPORT_TIMEOUT, cli_env, tgflow_cli
from tgflow.config import Settings
from tgflow.service.products import schedule_id, start_import


@pytest.fixture
async def cleanup_schedule(client, settings):
    """Schedule ids are per shop, shared by tests on this server: always removed afterwards."""
    yield schedule_id(settings)
    try:
        await client.get_schedule_handle(schedule_id(settings)).delete()
    except Exception:
        pass


async def status_json(env) -> tuple[int, dict]:
    result = await asyncio.to_thread(tgflow_cli, env, "status", "--json")
    assert result.stdout, f"no output (exit {result.returncode}): {result.stderr}"
    return result.returncode, json.loads(result.stdout)


async def test_status_after_an_import_with_schedule_and_services(client, settings, tmp_path, tg_sim, f360_sim,
                                                                 worker, cleanup_schedule):
    report = await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    assert report.created == 300
    env = cli_env(settings, tmp_path)
    created = await asyncio.to_thread(tgflow_cli, env, "schedule", "create")
    assert created.returncode == 0, created.stderr

    code, data = await status_json(env)
    assert code == 0, data
    assert data["healthy"] is True
    assert {name: s["ok"] for name, s in data["services"].items()} == \
        {"totalgest": True, "framework360": True, "temporal": True}
    assert data["products"] == {"linked": 300, "pending": 0, "error": 0, "not_linked": 0}
    assert data["orders"]["failed"] == 0
    imp = data["last_product_import"]
    assert imp["status"] == "completed" and imp["counts"]["created"] == 300 and imp["duration_seconds"] > 0
    assert imp["workflow_id"] == "product-import-1001-manual"
    sched = next(s for s in data["schedules"] if s["id"] == cleanup_schedule)
    assert sched["exists"] is True and sched["paused"] is False and sched["next_run"]

    paused = await asyncio.to_thread(tgflow_cli, env, "schedule", "pause", "--note", "maintenance")
    assert paused.returncode == 0, paused.stderr
    _, data = await status_json(env)
    sched = next(s for s in data["schedules"] if s["id"] == cleanup_schedule)
    assert sched["paused"] is True and sched["note"] == "maintenance"

    text = await asyncio.to_thread(tgflow_cli, env, "status")
    assert text.returncode == 0, text.stderr
    assert "paused" in text.stdout and "last product import" in text.stdout

    # A product Framework360 refuses: counted as error, named as the oldest failure, exit 1.
    f360_sim.sim.reject_skus({"ART-00003": "name contains a forbidden word"})
    tg_sim.sim.touch_articles(["ART-00003"], name="Changed name")
    await asyncio.wait_for(start_import(client, settings, wait=True, workflow_id="status-second"), IMPORT_TIMEOUT)
    code, data = await status_json(env)
    assert code == 1 and data["healthy"] is False
    assert data["products"]["error"] == 1 and data["products"]["linked"] == 299
    assert data["oldest_failed_product"]["sku"] == "ART-00003"
    assert "forbidden word" in data["oldest_failed_product"]["reason"]
    assert data["last_product_import"]["counts"]["errors"] == 1


async def test_status_with_totalgest_down_or_wrong_password_exits_1(client, settings, tmp_path, tg_sim, store):
    # `store`: the status database exists (a worker made it); `tgflow status` itself never creates one.
    data = settings.model_dump()
    data["totalgest"]["password"] = "not-the-password"
    wrong = Settings.model_validate(data)
    code, out = await status_json(cli_env(wrong, tmp_path))
    assert code == 1 and out["healthy"] is False
    assert out["services"]["totalgest"]["ok"] is False
    assert "TGFLOW_TOTALGEST__PASSWORD" in out["services"]["totalgest"]["message"]
    assert out["services"]["framework360"]["ok"] is True and out["services"]["temporal"]["ok"] is True
    assert "not-the-password" not in json.dumps(out)

    tg_sim.server.stop()
    code, out = await status_json(cli_env(settings, tmp_path))
    assert code == 1 and out["services"]["totalgest"]["ok"] is False
    assert "unreachable" in out["services"]["totalgest"]["message"]
