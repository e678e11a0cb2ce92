"""Reserved stock is one rule: the import writes the stock the drift report expects.

Both used to compute it on their own and disagreed when linked orders filled the cap: the import
capped Framework360's unlinked orders first and then dropped those the status store knows as
exported, so an order beyond the cap that TotalGest really lacks reserved nothing; the report
filtered first. The rule now filters, then caps (``reserved_stock``)."""

from __future__ import annotations

import uuid

from tgflow.service.drift import build_report
from tgflow.service.products import start_import
from tgflow.store import orders as ostore


async def test_import_and_drift_report_reserve_the_same_orders(client, settings, tg_sim, f360_sim, store, worker):
    tg, f360 = tg_sim.sim, f360_sim.sim
    shop = settings.totalgest.shop_id
    # Only the two orders below are completed shop orders.
    for order in f360.orders():
        if order["status"] == "completed":
            f360.set_order_status(order["id"], "cancelled")
    exported = f360.create_order(lines=1)  # in TotalGest: the status store knows it, its column lags
    ostore.record_result(store, shop, exported["id"], outcome="linked", number=exported["number"],
                         tg_order_id=1, tg_order_number="TG-1")
    unexported = f360.create_order(lines=2)  # not in TotalGest
    reserved: dict[str, int] = {}
    for line in unexported["line_items"]:
        reserved[line["sku"]] = reserved.get(line["sku"], 0) + int(line["quantity"])
    assert any(tg.sellable(sku) > 0 for sku in reserved)  # the reservation shows in the stock written
    settings.products.reserve_max_orders = 1  # room for one order: the exported one must not take it

    report = await start_import(client, settings, wait=True, workflow_id=f"reserve-{uuid.uuid4().hex[:8]}")
    assert report.errors == 0, report.error_samples

    # What Framework360 shows: sellable stock minus the unexported order's lines, nothing for the exported one.
    for sku in {*reserved, *(line["sku"] for line in exported["line_items"])}:
        want = max(0, int(tg.sellable(sku)) - reserved.get(sku, 0))
        assert f360.product_by_sku(sku)["stock_quantity"] == want, sku
    # And the drift report, by the same rule, finds the stock right.
    drift = await build_report(settings, store=store, orders=False)
    assert drift.products_checked == 300 and drift.products == [], drift.products
