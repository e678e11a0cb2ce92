"""Scale-out: two ``tgflow worker`` processes on one task queue and a PostgreSQL status database share
an order export (200 orders) and a catalog import (300 articles) running at the same time; one worker
is SIGKILLed half-way. Afterwards every order is in TotalGest exactly once, every product in
Framework360 matches TotalGest, and PostgreSQL shows everything linked.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from tests.test_metrics import WorkerProcess
from tests.test_product_import import CODES, assert_mirrors
from tgflow.contracts.ids import order_export_workflow_id, order_queue_workflow_id
from tgflow.service.orders import enqueue_orders
from tgflow.service.products import start_import
from tgflow.store import Store
from tgflow.store import orders as ostore
from tgflow.store import products as pstore

SHOP = "1001"
ORDERS = 200


def _linked(store: Store, numbers: set[str]) -> int:
    return sum(1 for link in ostore.list_links(store, SHOP, "linked") if link.f360_number in numbers)


async def test_two_workers_on_postgres_share_exports_and_import_and_survive_a_kill(
        client, settings, tg_sim, f360_sim, postgres_url, tmp_path):
    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.database_url = postgres_url
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0
    settings.orders.attempt_timeout_seconds = 4.0  # the dead worker's in-flight attempts are retried soon
    settings.products.retry_initial_seconds = 0.2
    settings.products.retry_max_seconds = 1.0
    settings.products.heartbeat_timeout_seconds = 4.0  # the import pass resumes on the survivor soon
    settings.products.article_page_size = 30  # many pages: the kill can land inside the import pass
    store = Store(postgres_url)

    orders = [f360.create_order() for _ in range(ORDERS)]
    numbers = {o["number"] for o in orders}
    tg.set_faults(slow_ms=15)  # keep work in flight when the kill lands
    started = time.monotonic()
    with WorkerProcess(settings, tmp_path, "--log-level", "INFO") as first, \
            WorkerProcess(settings, tmp_path, "--log-level", "INFO") as second:
        try:
            await enqueue_orders(client, settings, [o["id"] for o in orders])
            handle = await start_import(client, settings, workflow_id=f"scale-out-import-{uuid.uuid4().hex[:8]}")

            deadline = time.monotonic() + 40
            while _linked(store, numbers) < ORDERS // 5 or len(f360.products()) < 60:
                assert time.monotonic() < deadline, first.log_text()[-2000:]
                await asyncio.sleep(0.1)
            first.proc.kill()  # SIGKILL: no graceful shutdown, in-flight activities are lost
            first.proc.wait(10)
            assert _linked(store, numbers) < ORDERS  # the kill landed mid-run

            report = await asyncio.wait_for(handle.result(), 60)
            assert report.errors == 0, report
            deadline = time.monotonic() + 60
            while (done := _linked(store, numbers)) < ORDERS:
                assert second.proc.poll() is None, second.log_text()[-2000:]
                assert time.monotonic() < deadline, f"{done} linked; {second.log_text()[-2000:]}"
                await asyncio.sleep(0.25)

            tg.set_faults()
            # The orders are in TotalGest now: a short second import releases the stock they had reserved.
            settle = await start_import(client, settings, wait=True,
                                        workflow_id=f"scale-out-settle-{uuid.uuid4().hex[:8]}")
            assert settle.errors == 0, settle
        finally:
            tg.set_faults()
            await client.get_workflow_handle(order_queue_workflow_id(SHOP)).terminate("test done")
    elapsed = time.monotonic() - started

    # Every order exactly once in TotalGest, one customer per e-mail, the shop's column says linked.
    refs = Counter(o["external_ref"] for o in tg.orders())
    assert {n: refs[n] for n in numbers} == {n: 1 for n in numbers}
    emails = Counter(c["email"].lower() for c in tg.customers())
    assert max(emails.values()) == 1
    assert all(f360.order(o["id"])["integrations"]["totalgest"]["status"] == "linked" for o in orders)
    # Every product correct: fields and stock as TotalGest says, no SKU twice.
    skus = Counter(p["sku"] for p in f360.products())
    assert set(skus) == set(CODES) and max(skus.values()) == 1
    for code in CODES:
        assert_mirrors(tg, f360, code)
    # The shared PostgreSQL status store agrees.
    links = {link.f360_number: link for link in ostore.list_links(store, SHOP)}
    assert all(links[n].status == "linked" and links[n].tg_order_number for n in numbers)
    products = pstore.list_links(store, SHOP)
    assert len(products) == len(CODES) and {p.status for p in products} == {"linked"}
    store.close()
    # The two workers shared the exports: export tasks were run by both processes (an export is a local
    # activity run inside the workflow task of the worker that completed it, or an activity after an outage).
    identities = set()
    for order in orders[:40]:
        history = await client.get_workflow_handle(order_export_workflow_id(SHOP, order["id"])).fetch_history()
        identities |= {e.activity_task_started_event_attributes.identity for e in history.events
                       if e.HasField("activity_task_started_event_attributes")}
        identities |= {e.workflow_task_completed_event_attributes.identity for e in history.events
                       if e.HasField("workflow_task_completed_event_attributes")}
    assert {f"{first.proc.pid}@" in i for i in identities} == {True, False}, identities
    assert elapsed < 90, f"scale-out run took {elapsed:.0f} s"
