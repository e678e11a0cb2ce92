"""Scenario 1 (and 7): the worker process SIGKILLed again and again - during a run of a few hundred order exports
and during a product import - and started again each time. Afterwards every order is in TotalGest exactly once,
one customer per e-mail, every product mirrors its article (fields and stock), and the cursors are consistent.

Run on a SQLite status database and on PostgreSQL (skips with the reason where PostgreSQL can't start)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.chaos.conftest import SHOP, KillableWorker, assert_exactly_once, order_counts, stop_queue, wait_for
from tests.test_product_import import CODES, assert_mirrors
from tgflow.service.orders import enqueue_orders
from tgflow.service.products import start_import
from tgflow.store import Store
from tgflow.store import orders as ostore
from tgflow.store import products as pstore


def linked_count(store, numbers: set[str]) -> int:
    return sum(1 for link in ostore.list_links(store, SHOP, "linked") if link.f360_number in numbers)


async def kill_and_restart_orders(worker: KillableWorker, store, numbers: set[str], kills: int) -> list[int]:
    """Kill the worker each time another share of the orders is linked; returns the linked count at each kill."""
    at = []
    step = len(numbers) // (kills + 1)
    for k in range(1, kills + 1):
        await wait_for(lambda: linked_count(store, numbers) >= k * step, timeout=90,
                       what=f"{k * step} linked orders before kill {k}", every=0.05)
        worker.kill()
        at.append(linked_count(store, numbers))
        await asyncio.to_thread(worker.start)
    return at


async def run_scenario(client, settings, tg_sim, f360_sim, tmp_path, *, orders_n: int, order_kills: int,
                       import_kills: int, label: str) -> None:
    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0
    settings.orders.attempt_timeout_seconds = 3.0  # attempts in flight on a killed worker are retried soon
    settings.products.retry_initial_seconds = 0.2
    settings.products.retry_max_seconds = 1.0
    settings.products.heartbeat_timeout_seconds = 2.0  # a killed pass resumes from its last heartbeat soon
    settings.products.article_page_size = 20
    settings.products.stock_page_size = 100
    store = Store(settings.database_url)
    worker = KillableWorker(settings, tmp_path)
    started = time.monotonic()
    try:
        # ---- orders: a few hundred exports through the shop's queue, the worker killed `order_kills` times
        orders = [f360.create_order() for _ in range(orders_n)]
        numbers = {o["number"] for o in orders}
        tg.set_faults(slow_ms=10)  # keep exports in flight when a kill lands
        await asyncio.to_thread(worker.start)
        await enqueue_orders(client, settings, [o["id"] for o in orders])
        at = await kill_and_restart_orders(worker, store, numbers, order_kills)
        assert all(n < len(numbers) for n in at), f"a kill landed after the run: {at}"
        await wait_for(lambda: linked_count(store, numbers) == len(numbers), timeout=120,
                       what=f"{len(numbers)} linked orders")
        await wait_for(lambda: all(f360.order(o["id"])["integrations"]["totalgest"]["status"] == "linked"
                                   for o in orders), timeout=30, what="Framework360 status linked")
        orders_time = time.monotonic() - started
        counts = order_counts(tg, f360, orders, label=f"[{label}] orders (worker killed at {at} linked, "
                                                      f"{orders_time:.1f}s)")
        assert_exactly_once(counts)
        await stop_queue(client)
        tg.set_faults()

        # ---- product import: 300 articles in pages of 20, slowed down, the worker killed `import_kills` times
        tg.touch_articles(CODES[:40], name="Renamed during chaos")
        tg.set_faults(slow_ms=150)  # slow enough that the pass is still running at the last kill
        handle = await start_import(client, settings, workflow_id=f"product-import-chaos-{uuid.uuid4().hex[:8]}")
        import_killed_running = 0
        for _ in range(import_kills):
            await asyncio.sleep(0.8)
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                import_killed_running += 1
            worker.kill()
            await asyncio.to_thread(worker.start)
        report = await asyncio.wait_for(handle.result(), 120)
        tg.set_faults()
        assert import_killed_running == import_kills, "the import ended before all kills landed: slow it down"
        products = f360.products()
        skus = [p["sku"] for p in products]
        bad = []
        for code in CODES:
            try:
                assert_mirrors(tg, f360, code)
            except AssertionError as exc:
                bad.append(f"{code}: {exc}")
        print(f"[{label}] products articles=300, in Framework360={len(set(skus))}, "
              f"duplicates={len(skus) - len(set(skus))}, wrong={len(bad)}, "
              f"import errors={report.errors}, worker killed {import_kills}x during the import")
        assert (len(products), len(set(skus)), report.errors, bad) == (300, 300, 0, [])
        assert len(pstore.list_links(store, SHOP, status="linked")) == 300

        # cursors: set after the successful pass, before its start (overlap), aware UTC
        cursors = {c["name"]: c["value"] for c in pstore.list_cursors(store, SHOP)}
        assert cursors["articles"] is not None and cursors["articles"].utcoffset().total_seconds() == 0
        assert cursors["articles"] < report.started_at
        # ... and consistent: the next incremental run finds nothing to write
        f360.reset_stats()
        again = await start_import(client, settings, wait=True, workflow_id=f"product-import-chaos-{uuid.uuid4().hex[:8]}")
        s = f360.stats()
        assert (s["products_created"], s["products_updated"], again.errors) == (0, 0, 0), (s, again)
        assert worker.alive(), worker.log_text()[-3000:]
        print(f"[{label}] {worker.kills} SIGKILLs, {worker.starts} worker starts, {time.monotonic() - started:.1f}s")
    finally:
        tg.set_faults()
        worker.stop()
        await stop_queue(client)
        store.close()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
async def test_worker_sigkilled_repeatedly_loses_and_duplicates_nothing(
        db, client, settings, tg_sim, f360_sim, tmp_path, request):
    if db == "postgresql":
        settings.database_url = request.getfixturevalue("postgres_url")
    if db == "sqlite":
        await run_scenario(client, settings, tg_sim, f360_sim, tmp_path, orders_n=300, order_kills=5,
                           import_kills=5, label=db)
    else:  # the same scenario, smaller: the point here is the status database
        await run_scenario(client, settings, tg_sim, f360_sim, tmp_path, orders_n=40, order_kills=1,
                           import_kills=1, label=db)


@pytest.mark.soak
async def test_soak_worker_sigkilled_many_times(client, settings, tg_sim, f360_sim, tmp_path):
    await run_scenario(client, settings, tg_sim, f360_sim, tmp_path, orders_n=1000, order_kills=15, import_kills=5,
                       label="soak")
