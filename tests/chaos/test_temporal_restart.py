"""Scenario 2: the Temporal dev server itself (our own, persisted in a SQLite file) stopped in the middle of
order exports and started again on the same ports and file. The worker process is NOT restarted: it reconnects
by itself. A webhook arriving while Temporal is down gets 503 (Framework360 delivers again) and is enqueued
once it is back. Nothing is lost or duplicated."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx

from tests.chaos.conftest import SHOP, KillableWorker, assert_exactly_once, order_counts, stop_queue, wait_for
from tgflow.clients.framework360 import sign
from tgflow.service.orders import enqueue_orders
from tgflow.store import orders as ostore
from tgflow.webhook import create_app

PATH = "/webhooks/framework360"


def linked_count(store, numbers: set[str]) -> int:
    return sum(1 for link in ostore.list_links(store, SHOP, "linked") if link.f360_number in numbers)


def event(order_id: int, event_id: str) -> bytes:
    return json.dumps({"id": event_id, "type": "order.completed", "created_at": "2026-01-01T00:00:00+00:00",
                       "data": {"order_id": order_id}}).encode()


async def test_temporal_server_restarted_mid_export_loses_and_duplicates_nothing(
        settings, tg_sim, f360_sim, store, tmp_path, own_temporal):
    tg, f360 = tg_sim.sim, f360_sim.sim
    own_temporal.start()
    client = await own_temporal.connect()
    settings.temporal.address = own_temporal.address
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0
    settings.orders.attempt_timeout_seconds = 4.0
    worker = KillableWorker(settings, tmp_path)
    orders = [f360.create_order() for _ in range(80)]
    late = f360.create_order()  # its webhook arrives while Temporal is down
    numbers = {o["number"] for o in orders}
    tg.set_faults(slow_ms=20)
    secret = settings.f360.webhook_secret.get_secret_value()
    try:
        await asyncio.to_thread(worker.start)
        await enqueue_orders(client, settings, [o["id"] for o in orders])
        await wait_for(lambda: linked_count(store, numbers) >= 20, timeout=60, what="20 linked", every=0.05)

        own_temporal.stop(signal.SIGTERM)
        stopped_at = linked_count(store, numbers)
        down_since = time.monotonic()
        receiver = create_app(settings, client, store=store)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://r",
                                     timeout=30) as http:
            body = event(late["id"], "evt_late")
            headers = {"X-F360-Signature": sign(secret, body), "Content-Type": "application/json"}
            asked = time.monotonic()
            while_down = await http.post(PATH, content=body, headers=headers)
            answered_in = time.monotonic() - asked
            print(f"webhook while Temporal is down: {while_down.status_code} after {answered_in:.1f}s")
            assert while_down.status_code == 503, while_down.text
            assert answered_in < 25  # slow or not, a non-2xx/timeout makes Framework360 deliver again
            await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - down_since)))  # down for at least 3 s
            assert worker.alive(), "the worker exited while Temporal was down:\n" + worker.log_text()[-3000:]

            own_temporal.start()  # same ports, same database file
            await own_temporal.connect()
            redelivered = await http.post(PATH, content=body, headers=headers)
            deadline = time.monotonic() + 30
            while redelivered.status_code == 503 and time.monotonic() < deadline:  # until the client reconnects
                await asyncio.sleep(0.5)
                redelivered = await http.post(PATH, content=body, headers=headers)
            assert redelivered.status_code == 202 and redelivered.json()["status"] == "enqueued", redelivered.text
            assert (await http.get("/healthz")).status_code == 200

        everything = [*orders, late]
        all_numbers = numbers | {late["number"]}
        await wait_for(lambda: linked_count(store, all_numbers) == len(all_numbers), timeout=120,
                       what=f"{len(all_numbers)} linked after the restart")
        await wait_for(lambda: all(f360.order(o["id"])["integrations"]["totalgest"]["status"] == "linked"
                                   for o in everything), timeout=30, what="Framework360 status linked")
        await asyncio.sleep(1.0)  # anything late would show up as a duplicate now
        counts = order_counts(tg, f360, everything,
                              label=f"orders (Temporal stopped at {stopped_at} linked, restarted; worker kept running)")
        assert_exactly_once(counts)
        assert worker.starts == 1 and worker.alive(), "the worker reconnected by itself, without a restart"
    finally:
        tg.set_faults()
        worker.stop()
        try:
            await stop_queue(client)
        except Exception:
            pass
