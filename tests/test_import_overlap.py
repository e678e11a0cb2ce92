"""Never two product imports of a shop at once: a scheduled run steps aside while a manual one runs, and a
manual request joins the schedule's running import. Asserted on what Framework360 holds and what was recorded."""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.client import WorkflowExecutionStatus

from tgflow.service.products import ensure_import_schedule, import_input, schedule_id, start_import
from tgflow.store import products as pstore
from tgflow.workflows.products import ProductImportWorkflow

SHOP = "1001"


async def until_running(handle, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (await handle.describe()).status != WorkflowExecutionStatus.RUNNING or \
            (await handle.query(ProductImportWorkflow.progress))["state"] != "importing":
        assert time.monotonic() < deadline, "the import never got going"
        await asyncio.sleep(0.1)


def slow_down(settings, tg_sim) -> None:
    """Six article pages at 200 ms a request: the import runs for well over a second."""
    settings.products.article_page_size = 50
    tg_sim.sim.set_faults(slow_ms=200)


@pytest.fixture
async def cleanup_schedule(client, settings):
    yield
    try:
        await client.get_schedule_handle(schedule_id(settings)).delete()
    except Exception:
        pass


async def test_a_scheduled_run_steps_aside_while_a_manual_import_runs(client, settings, worker, tg_sim, f360_sim,
                                                                      store):
    slow_down(settings, tg_sim)  # so the second run starts in the middle of the first
    manual = await start_import(client, settings)
    assert manual.id == f"product-import-{SHOP}-manual"
    await until_running(manual)
    # What the schedule's action starts: same workflow and input, its own id.
    scheduled = await client.execute_workflow(ProductImportWorkflow.run, import_input(settings),
                                              id=f"product-import-{SHOP}-2026-11-29T06:00:00Z",
                                              task_queue=settings.temporal.task_queue)
    assert scheduled.status == "skipped" and scheduled.skipped_for == manual.id
    assert scheduled.articles_read == 0 and scheduled.created == 0
    tg_sim.sim.set_faults()
    report = await manual.result()
    assert report.status == "completed" and report.created == 300
    assert len(f360_sim.sim.products()) == 300
    assert [run.workflow_id for run in pstore.last_runs(store, SHOP)] == [manual.id]  # the skipped one: no run


async def test_a_manual_import_joins_the_running_scheduled_one(client, settings, worker, tg_sim, f360_sim, store,
                                                               cleanup_schedule):
    await ensure_import_schedule(client, settings)
    slow_down(settings, tg_sim)
    sched = client.get_schedule_handle(schedule_id(settings))
    await sched.trigger()
    deadline = time.monotonic() + 30
    while not (running := (await sched.describe()).info.running_actions):
        assert time.monotonic() < deadline, "the schedule started no run"
        await asyncio.sleep(0.1)
    joined = await start_import(client, settings)
    assert joined.id == running[0].workflow_id  # attached, not a second import
    tg_sim.sim.set_faults()
    report = await joined.result()
    assert report.created == 300 and len(f360_sim.sim.products()) == 300
    assert [run.workflow_id for run in pstore.last_runs(store, SHOP)] == [joined.id]
    # A full import asked for meanwhile waits for it, then runs by itself.
    full = await start_import(client, settings, full=True, wait=True)
    assert full.full is True and full.status == "completed" and full.unchanged == 300
    assert [run.workflow_id for run in pstore.last_runs(store, SHOP)] == [f"product-import-{SHOP}-manual", joined.id]
