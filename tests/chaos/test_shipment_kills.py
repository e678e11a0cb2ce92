"""The shipment import with its worker SIGKILLed mid-run (twice) and Framework360 slow: every TotalGest parcel
still ends as exactly one Framework360 fulfillment and one customer e-mail."""

from __future__ import annotations

import asyncio

from tests.chaos.conftest import KillableWorker, wait_for
from tgflow.service.orders import export_orders_now
from tgflow.service.shipments import start_import


def fulfilled_count(f360, order_ids: list[int]) -> int:
    return sum(len(f360.order(i)["fulfillments"]) for i in order_ids)


async def test_worker_killed_during_the_shipment_import_sends_each_parcel_once(client, settings, tg_sim, f360_sim,
                                                                               tmp_path):
    tg, f360 = tg_sim.sim, f360_sim.sim
    for section in (settings.orders, settings.shipments):
        section.retry_initial_seconds = 0.2
        section.retry_max_seconds = 1.0
    settings.orders.attempt_timeout_seconds = 3.0
    settings.shipments.heartbeat_timeout_seconds = 2.0  # a killed pass resumes from its last page soon
    settings.shipments.attempt_timeout_seconds = 3.0  # a fulfillment in flight on a killed worker is retried soon
    settings.shipments.page_size = 3
    worker = KillableWorker(settings, tmp_path)
    try:
        await asyncio.to_thread(worker.start)
        orders = [f360.create_order(lines=2) for _ in range(8)]
        report = await export_orders_now(client, settings, [o["id"] for o in orders])
        assert report.failed == 0
        tg_orders = [next(t for t in tg.orders() if t["external_ref"] == o["number"]) for o in orders]
        for t in tg_orders:  # two parcels each
            first = t["lines"][0]
            tg.ship_order(t["id"], lines=[{"article_code": first["article_code"], "quantity": first["quantity"]}])
            tg.ship_order(t["id"])
        f360.set_faults(slow_ms=150)  # keep fulfillments in flight when a kill lands
        ids = [o["id"] for o in orders]
        handle = await start_import(client, settings)
        for k, at_least in enumerate((2, 7), start=1):
            await wait_for(lambda: fulfilled_count(f360, ids) >= at_least, timeout=90,
                           what=f"{at_least} fulfillments before kill {k}", every=0.05)
            worker.kill()
            await asyncio.to_thread(worker.start)
        result = await asyncio.wait_for(handle.result(), 180)
        f360.set_faults()
        assert result.failed == 0, result.error_samples
        for order, t in zip(orders, tg_orders):
            shipped = sorted(s["tracking_number"] for s in tg.orders()[t["id"] - 1]["shipments"])
            shop = f360.order(order["id"])
            assert sorted(f["tracking_number"] for f in shop["fulfillments"]) == shipped, order["number"]
            assert shop["fulfillment_status"] == "fulfilled"
            assert f360.emails_sent(order["id"]) == 2, order["number"]
        assert worker.kills == 2
        # A run after the storm reads everything again (cursor overlap) and sends nothing.
        again = await asyncio.wait_for(start_import(client, settings, wait=True), 120)
        assert again.fulfilled == 0 and again.already_fulfilled == 16
        assert sum(f360.emails_sent(i) for i in ids) == 16
    finally:
        worker.stop()
