"""The product import Schedule: idempotent create, visible to the real `temporal` CLI, trigger runs an import."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest
from temporalio.client import ScheduleOverlapPolicy

from tgflow.config import save_settings
from tgflow.service.products import ensure_import_schedule, schedule_id


@pytest.fixture
async def import_schedule(client, settings):
    """The schedule id is per shop (shared by tests on this server): always removed afterwards."""
    sid = schedule_id(settings)
    yield sid
    try:
        await client.get_schedule_handle(sid).delete()
    except Exception:
        pass


def cli_env(settings, tmp_path) -> dict[str, str]:
    path = save_settings(settings, tmp_path / "cli.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env["TGFLOW_CONFIG"] = str(path)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def tgflow(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tgflow", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_create_twice_is_idempotent_and_the_temporal_cli_shows_5_minutes(client, settings, import_schedule):
    assert await ensure_import_schedule(client, settings) is True
    await client.get_schedule_handle(import_schedule).pause(note="kept across create")
    assert await ensure_import_schedule(client, settings) is False
    desc = await client.get_schedule_handle(import_schedule).describe()
    assert [i.every.total_seconds() for i in desc.schedule.spec.intervals] == [300.0]
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.state.paused  # an update keeps the operator's pause
    assert desc.schedule.action.task_queue == settings.temporal.task_queue

    temporal = shutil.which("temporal") or os.path.join(os.path.dirname(sys.executable), "temporal")
    out = await asyncio.to_thread(subprocess.run, [
        temporal, "schedule", "describe", "--schedule-id", import_schedule,
        "--address", settings.temporal.address, "--output", "json",
    ], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    interval = data["schedule"]["spec"]["interval"][0]["interval"]
    assert interval in ("300s", "5m", "5m0s", "300.000s"), interval


async def test_cli_create_describe_pause_and_trigger_runs_an_import(client, settings, tmp_path, f360_sim, worker,
                                                                   import_schedule):
    env = cli_env(settings, tmp_path)
    first = await asyncio.to_thread(tgflow, env, "schedule", "create", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"schedule_id": import_schedule, "created": True, "every_minutes": 5.0}
    again = await asyncio.to_thread(tgflow, env, "schedule", "create", "--json")
    assert json.loads(again.stdout)["created"] is False

    described = await asyncio.to_thread(tgflow, env, "schedule", "describe", "--json")
    assert described.returncode == 0, described.stderr
    data = json.loads(described.stdout)
    assert data["every_seconds"] == [300.0] and data["overlap"] == "SKIP" and data["paused"] is False

    triggered = await asyncio.to_thread(tgflow, env, "schedule", "trigger")
    assert triggered.returncode == 0, triggered.stderr
    for _ in range(150):
        if len(f360_sim.sim.products()) == 300:
            break
        await asyncio.sleep(0.2)
    assert len(f360_sim.sim.products()) == 300

    paused = await asyncio.to_thread(tgflow, env, "schedule", "pause", "--note", "maintenance")
    assert paused.returncode == 0
    assert (await client.get_schedule_handle(import_schedule).describe()).schedule.state.paused
    deleted = await asyncio.to_thread(tgflow, env, "schedule", "delete", "--json")
    assert deleted.returncode == 0
    missing = await asyncio.to_thread(tgflow, env, "schedule", "describe")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
