"""Alerts and the daily drift report, end to end: a real worker runs the health check and the drift report
workflows; alerts arrive (or not) at a real HTTP receiver on loopback; `tgflow status` / `tgflow alerts list`
show what the store recorded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.test_metrics import cli_env, tgflow_cli
from tests.test_orders_ops import add_article, fast, tg_refs
from tgflow.jobs import jobs
from tgflow.service.monitoring import ensure_schedule_for, run_now
from tgflow.service.orders import export_orders_now
from tgflow.service.products import start_import
from tgflow.sim.server import ServerThread

#: Slack-style webhook URLs carry their token in the path: it must never be printed or logged.
HOOK_PATH = "/hooks/T000/B000/tok3nSecretXYZ"


class Inbox:
    """What a Slack-style incoming webhook would have received; ``fail_with`` makes it refuse."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.fail_with: int | None = None

    def app(self) -> Starlette:
        async def receive(request: Request) -> JSONResponse:
            if self.fail_with:
                return JSONResponse({"error": "down"}, status_code=self.fail_with)
            self.messages.append(await request.json())
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route(HOOK_PATH, receive, methods=["POST"])])


@pytest.fixture
def inbox(settings) -> Iterator[Inbox]:
    box = Inbox()
    with ServerThread(box.app()) as server:
        settings.alerts.webhook_url = SecretStr(f"{server.url}{HOOK_PATH}")
        yield box


@pytest.fixture
async def cleanup_schedules(client, settings):
    """Schedule ids are per shop and shared by the tests of this server: removed, with what they started."""
    yield
    for job in jobs(settings):
        try:
            await client.get_schedule_handle(job.schedule_id).delete()
        except Exception:
            pass
    async for wf in client.list_workflows(f"WorkflowId STARTS_WITH 'product-import-{settings.totalgest.shop_id}' "
                                          "AND ExecutionStatus = 'Running'"):
        await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test over")


def states(message: dict) -> dict[str, str]:
    return {a["key"]: a["state"] for a in message["alerts"]}


async def test_failures_alert_is_sent_once_shown_in_status_and_resolved_after_the_fix(
        client, settings, tmp_path, worker, tg_sim, f360_sim, inbox):
    fast(settings)
    bad = f360_sim.sim.create_order(problem="unknown_sku")
    good = f360_sim.sim.create_order()
    report = await export_orders_now(client, settings, [bad["id"], good["id"]])
    assert report.failed == 1

    # The receiver is down at first: nothing delivered, the reason recorded; the next check delivers.
    inbox.fail_with = 503
    result = await run_now(client, settings, "health")
    assert result.firing == ["failures"] and result.sent == []
    assert result.delivery_error == "not sent: the alert webhook answered HTTP 503"
    inbox.fail_with = None
    result = await run_now(client, settings, "health")
    assert result.sent == ["failures"] and result.delivery_error is None
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert states(message) == {"failures": "firing"} and message["shop_id"] == settings.totalgest.shop_id
    assert "FIRING [failures] 1 failed order(s) and 0 product(s) in error" in message["text"]
    assert bad["number"] in message["text"] and "NOPE-404" in message["text"]
    # No customer data in an alert: it leaves the system.
    for field in ("email", "first_name", "last_name"):
        assert bad["billing_address" if field != "email" else "customer"][field] not in json.dumps(message)

    # Checking again changes nothing and sends nothing.
    result = await run_now(client, settings, "health")
    assert result.firing == ["failures"] and result.sent == [] and len(inbox.messages) == 1

    env = cli_env(settings, tmp_path)
    proc = await asyncio.to_thread(tgflow_cli, env, "status", "--json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["healthy"] is False
    assert [(a["key"], a["delivered"]) for a in data["alerts"]] == [("failures", True)]
    proc = await asyncio.to_thread(tgflow_cli, env, "status")
    assert "ALERT failures" in proc.stdout and "1 failed order(s)" in proc.stdout, proc.stdout
    proc = await asyncio.to_thread(tgflow_cli, env, "alerts", "list", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)[0]["key"] == "failures"
    inbox.fail_with = 500
    proc = await asyncio.to_thread(tgflow_cli, env, "alerts", "test")
    assert proc.returncode == 1 and "answered HTTP 500" in proc.stdout
    inbox.fail_with = None
    proc = await asyncio.to_thread(tgflow_cli, env, "alerts", "test", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"delivered": True, "error": None}
    assert "test alert" in inbox.messages.pop()["text"]
    for args in (("status",), ("status", "--json"), ("alerts", "list", "--all"), ("check",)):
        out = await asyncio.to_thread(tgflow_cli, env, *args)
        assert "tok3nSecretXYZ" not in out.stdout + out.stderr, args

    # The cause fixed and the order re-driven: the next check resolves the alert, once.
    add_article(tg_sim.sim, "NOPE-404")
    again = await export_orders_now(client, settings, [bad["id"]])
    assert again.succeeded == 1 and tg_refs(tg_sim)[bad["number"]] == 1
    result = await run_now(client, settings, "health")
    assert result.firing == [] and result.sent == ["failures"]
    assert states(inbox.messages[-1]) == {"failures": "resolved"} and len(inbox.messages) == 2
    assert (await run_now(client, settings, "health")).sent == [] and len(inbox.messages) == 2
    proc = await asyncio.to_thread(tgflow_cli, env, "alerts", "list", "--all", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)[0]["active"] is False


async def test_a_schedule_that_completes_nothing_for_3_intervals_alerts(client, settings, worker, inbox,
                                                                       cleanup_schedules):
    # Import and reconciliation every second; the import's runs go to a task queue no worker polls.
    settings.products.every_minutes = settings.orders.reconcile_every_minutes = 1 / 60
    unpolled = settings.model_copy(deep=True)
    unpolled.temporal.task_queue = f"{settings.temporal.task_queue}-nobody"
    await ensure_schedule_for(client, unpolled, "import")
    await ensure_schedule_for(client, settings, "reconcile")
    started = time.monotonic()
    shop = settings.totalgest.shop_id
    reconcile = client.get_schedule_handle(f"order-reconcile-{shop}")
    deadline = started + 30
    while True:  # the reconciliation really completes runs (so it must not alert)
        desc = await reconcile.describe()
        if desc.info.num_actions >= 2 and not desc.info.running_actions:
            break
        assert time.monotonic() < deadline, "the reconciliation schedule completed no run"
        await asyncio.sleep(0.3)
    await asyncio.sleep(max(0.0, started + 3.5 - time.monotonic()))  # 3 intervals have passed

    result = await run_now(client, settings, "health")
    key = f"schedule:product-import-{shop}"
    assert result.firing == [key], result
    text = inbox.messages[-1]["text"]
    assert f"schedule product-import-{shop} (product import, every " in text
    assert "has not completed a run for 3 intervals" in text and "latest run running" in text
    assert settings.temporal.task_queue in text  # where the worker should be polling

    # Paused on purpose: not an alert any more (resolved once).
    await client.get_schedule_handle(f"product-import-{shop}").pause(note="maintenance")
    result = await run_now(client, settings, "health")
    assert result.firing == [] and states(inbox.messages[-1]) == {key: "resolved"}


async def test_daily_drift_report_is_recorded_for_status_and_alerts(client, settings, tmp_path, worker, tg_sim,
                                                                    f360_sim, inbox, cleanup_schedules):
    from decimal import Decimal

    from tgflow.clients.framework360 import Framework360Client, ProductUpdate

    fast(settings)
    await start_import(client, settings, wait=True, workflow_id="drift-baseline")
    completed = [o["id"] for o in f360_sim.sim.orders() if o["status"] == "completed"]
    assert (await export_orders_now(client, settings, completed)).failed == 0
    await start_import(client, settings, wait=True, workflow_id="drift-baseline-2")
    clean = await run_now(client, settings, "drift")
    assert clean.counts["drift"] == 0 and clean.counts["products_checked"] == 300

    product = f360_sim.sim.product_by_sku("ART-00007")
    async with Framework360Client(settings.f360) as api:
        await api.batch_products(update=[ProductUpdate(id=product["id"], price=Decimal("0.99"))])
    missing = f360_sim.sim.create_order(lines=1)  # completed, never exported

    # The schedule exists, daily, and runs the report through the worker.
    await ensure_schedule_for(client, settings, "drift")
    desc = await client.get_schedule_handle(f"drift-report-{settings.totalgest.shop_id}").describe()
    assert desc.schedule.spec.intervals[0].every == timedelta(hours=24)
    summary = await run_now(client, settings, "drift")
    assert summary.counts["missing_in_totalgest"] == 1 and summary.counts["products"] >= 1
    assert summary.counts["drift"] == summary.counts["missing_in_totalgest"] + summary.counts["products"]

    env = cli_env(settings, tmp_path)
    proc = await asyncio.to_thread(tgflow_cli, env, "status", "--json")
    drift = json.loads(proc.stdout)["last_drift_report"]
    assert drift["status"] == "completed" and drift["counts"] == summary.counts
    assert f"order {missing['number']}: missing in TotalGest" in drift["samples"]
    assert any(s.startswith("ART-00007: price 0.99 on Framework360") for s in drift["samples"]), drift["samples"]
    proc = await asyncio.to_thread(tgflow_cli, env, "status")
    assert "last drift report" in proc.stdout and "difference(s)" in proc.stdout and "ART-00007" in proc.stdout

    result = await run_now(client, settings, "health")
    assert "drift" in result.firing
    assert "drift report found" in inbox.messages[-1]["text"] and "1 order(s) missing in TotalGest" in \
        inbox.messages[-1]["text"]


async def test_the_webhook_url_never_reaches_a_log_line_even_at_debug(settings, inbox, caplog):
    import logging

    from tgflow.activities.alerts import deliver

    caplog.set_level(logging.DEBUG)
    assert await deliver(settings, {"text": "hello"}) is None
    assert inbox.messages == [{"text": "hello"}]
    inbox.fail_with = 502
    assert await deliver(settings, {"text": "again"}) == "not sent: the alert webhook answered HTTP 502"
    settings.alerts.webhook_url = SecretStr("http://127.0.0.1:9/hooks/tok3nSecretXYZ")  # nothing listens there
    assert (await deliver(settings, {"text": "x"})).startswith("not sent: the alert webhook did not answer")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "tok3nSecretXYZ" not in logged
