"""Alerts: what needs a person, evaluated by the health-check schedule's activity and sent to a webhook.

Conditions (each one line, ids and counts only, never customer data):

* ``failures`` - failed orders plus products in error reach ``alerts.failure_threshold``;
* ``schedule:<id>`` - a schedule that is not paused has not completed a run for
  ``alerts.stale_intervals`` of its intervals (no worker polling, runs failing, a run stuck);
* ``drift`` - the last daily drift report found differences between the two systems.

A condition is sent once when it starts firing, again every ``alerts.repeat_hours`` while it fires,
and once when it clears. The body is ``{"text": ...}`` (what Slack-style incoming webhooks read) plus
the structured ``alerts`` list for other receivers.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tgflow.config import Settings
from tgflow.contracts.ops import DRIFT_RUN_KIND
from tgflow.jobs import Job, jobs, minutes
from tgflow.store import Store, runs
from tgflow.store import alerts as astore
from tgflow.store.overview import store_overview

FAILURES = "failures"
DRIFT = "drift"


def schedule_key(schedule_id: str) -> str:
    return f"schedule:{schedule_id}"


# ---- conditions ---------------------------------------------------------------------------------------------------

def failures_finding(settings: Settings, store: Store) -> str | None:
    data = store_overview(store, settings.totalgest.shop_id)
    orders, products = data["orders"]["failed"], data["products"]["error"]
    adjustments = data["adjustments"]["failed"]
    parcels = data["parcels"]["failed"]
    threshold = settings.alerts.failure_threshold
    if orders + products + adjustments + parcels < max(threshold, 1):
        return None
    parts = [f"{orders} failed order(s)"]
    if parcels:
        parts.append(f"{parcels} parcel(s) not shown in Framework360")
    if adjustments:
        parts.append(f"{adjustments} refused cancellation(s)/refund(s)")
    text = ", ".join(parts) + f" and {products} product(s) in error (threshold {threshold})"
    oldest = data["oldest_failed_order"]
    adjust = data["oldest_failed_adjustment"]
    parcel = data["oldest_failed_parcel"]
    if oldest:
        text += f"; oldest order {oldest['number'] or oldest['order_id']}: {oldest['reason']}"
    elif parcel:
        text += f"; oldest parcel, order {parcel['number'] or parcel['order_id']}: {parcel['reason']}"
    elif adjust:
        what = "cancellation" if adjust["kind"] == "cancel" else f"refund {adjust['refund_id']}"
        text += f"; oldest {what} of order {adjust['number'] or adjust['order_id']}: {adjust['reason']}"
    elif data["oldest_failed_product"]:
        item = data["oldest_failed_product"]
        text += f"; oldest product {item['sku']}: {item['reason']}"
    return text + "; see `tgflow status`, then `tgflow orders retry --failed` / `tgflow products retry --failed`"


def drift_finding(settings: Settings, store: Store) -> str | None:
    last = runs.last_runs(store, settings.totalgest.shop_id, DRIFT_RUN_KIND, limit=1)
    if not last or last[0].status != "completed":
        return None
    counts = json.loads(last[0].counts_json or "{}")
    if not counts.get("drift"):
        return None
    parts = [f"{counts[k]} {label}" for k, label in (
        ("missing_in_totalgest", "order(s) missing in TotalGest"),
        ("not_linked", "order(s) not marked linked on Framework360"),
        ("products", "product(s) with different values"),
        ("only_in_totalgest", "article(s) without a product"),
        ("only_in_framework360", "product(s) without an article")) if counts.get(k)]
    return f"drift report found {counts['drift']} difference(s): {', '.join(parts)}; `tgflow drift-report --fix` re-drives them"


async def stale_finding(client: Client, job: Job, now: datetime, intervals: int, task_queue: str) -> str | None:
    """A message when ``job``'s schedule has not completed a run within ``intervals`` of its interval."""
    try:
        desc = await client.get_schedule_handle(job.schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None  # not created (or deleted on purpose): `tgflow status` says so
        raise
    window = job.every * intervals
    if desc.schedule.state.paused or now - desc.info.created_at < window:
        return None
    last_completed: datetime | None = None
    last_status = None
    for action in sorted(desc.info.recent_actions, key=lambda a: a.started_at, reverse=True):
        run = action.action
        try:
            wf = await client.get_workflow_handle(run.workflow_id, run_id=run.first_execution_run_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            closed = action.started_at  # past the namespace's retention: it ran, long ago
            status = WorkflowExecutionStatus.COMPLETED
        else:
            closed, status = wf.close_time, wf.status
        last_status = last_status or status
        if status == WorkflowExecutionStatus.COMPLETED and closed is not None:
            last_completed = closed
            break
    if last_completed is not None and now - last_completed < window:
        return None
    since = f"last completed run {last_completed:%Y-%m-%d %H:%M} UTC" if last_completed else "no completed run yet"
    latest = f", latest run {last_status.name.lower()}" if last_status is not None else ", no run started"
    return (f"schedule {job.schedule_id} ({job.title}, every {minutes(job.every)}) has not completed a run for "
            f"{intervals} intervals: {since}{latest}; check that a `tgflow worker` polls task queue {task_queue} "
            "and the run's error in the Web UI")


async def evaluate(settings: Settings, store: Store, client: Client, now: datetime) -> dict[str, str]:
    """Every firing condition, key -> one-line message."""
    findings: dict[str, str] = {}
    failures = await asyncio.to_thread(failures_finding, settings, store)
    if failures:
        findings[FAILURES] = failures
    if settings.alerts.on_drift:
        drift = await asyncio.to_thread(drift_finding, settings, store)
        if drift:
            findings[DRIFT] = drift
    for job in jobs(settings):
        if job.which == "health":
            continue  # it is the one running this check
        stale = await stale_finding(client, job, now, settings.alerts.stale_intervals,
                                    settings.temporal.task_queue)
        if stale:
            findings[schedule_key(job.schedule_id)] = stale
    return findings


# ---- delivery -----------------------------------------------------------------------------------------------------

def payload(shop_id: str, due: list[astore.Due], shop: str | None = None) -> dict[str, Any]:
    """The alert webhook's body: each alert on one line naming the shop (``shop``: its ``[[shops]]`` id, else
    the TotalGest shop id ``shop_id``), so a channel shared by several shops says whose alert it is."""
    shop = shop or shop_id
    lines = [f"shop {shop}: {'FIRING' if d.state == astore.FIRING else 'resolved'} [{d.key}] {d.message}"
             for d in due]
    named = shop if shop == shop_id else f"{shop} (TotalGest shop {shop_id})"
    return {
        "text": f"tgflow shop {named}:\n" + "\n".join(lines),
        "shop_id": shop_id,
        "shop": shop,
        "alerts": [{"key": d.key, "state": d.state, "message": d.message,
                    "since": d.since.isoformat() if d.since else None} for d in due],
    }


async def deliver(settings: Settings, body: dict[str, Any]) -> str | None:
    """POST ``body`` to ``alerts.webhook_url``; the reason it was not delivered, or None.

    The reason names the setting or the receiver's answer, never the URL (it holds a token)."""
    secret = settings.alerts.webhook_url
    url = secret.get_secret_value().strip() if secret else ""
    if not url:
        return "not sent: set TGFLOW_ALERTS__WEBHOOK_URL to receive alerts"
    # Straight to the transport: httpx's client logs every request URL (at DEBUG here), and this one is a secret.
    request = httpx.Request("POST", url, json=body,
                            extensions={"timeout": httpx.Timeout(settings.alerts.timeout_seconds).as_dict()})
    try:
        async with httpx.AsyncHTTPTransport(retries=1) as transport:
            response = await transport.handle_async_request(request)
            await response.aread()
    except (httpx.HTTPError, ValueError) as exc:
        return f"not sent: the alert webhook did not answer ({type(exc).__name__})"
    if response.status_code >= 300:
        return f"not sent: the alert webhook answered HTTP {response.status_code}"
    return None


async def check_and_send(settings: Settings, store: Store, client: Client, now: datetime) -> dict[str, Any]:
    """One health check: evaluate, update the alert rows, send what is due. Safe to run twice."""
    shop = settings.totalgest.shop_id
    findings = await evaluate(settings, store, client, now)
    repeat = timedelta(hours=settings.alerts.repeat_hours)
    due = await asyncio.to_thread(astore.apply_findings, store, shop, findings, now, repeat)
    error = None
    if due:
        error = await deliver(settings, payload(shop, due, settings.shop_key))
        await asyncio.to_thread(astore.mark_delivered, store, shop, due, now, error)
    return {"firing": sorted(findings), "sent": [d.key for d in due] if due and error is None else [],
            "delivery_error": error}
