"""Parcels TotalGest -> Framework360 against both simulators and a real worker: what the shop shows.

Each TotalGest shipment of an exported order becomes exactly one Framework360 fulfillment (one customer
e-mail), whatever is read twice, lost or retried; orders tgflow did not export are left alone."""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal

from tgflow.activities.shipments import ShipmentActivities
from tgflow.clients.framework360 import Framework360Client, FulfillmentInput
from tgflow.contracts.ids import order_export_workflow_id
from tgflow.contracts.orders import OrderExportInput
from tgflow.service.shipments import retry_failed, start_import
from tgflow.store import orders as ostore
from tgflow.store import shipments as sstore
from tgflow.workflows.order_export import OrderExportWorkflow

SHOP = "1001"


def fast(settings) -> None:
    settings.shipments.retry_initial_seconds = 0.1
    settings.shipments.retry_max_seconds = 0.5
    settings.orders.retry_initial_seconds = 0.1
    settings.orders.retry_max_seconds = 0.5


async def exported_order(client, settings, f360_sim, tg_sim, lines: int = 3) -> tuple[dict, dict]:
    """A completed shop order exported by tgflow: (Framework360 order, TotalGest order)."""
    order = f360_sim.sim.create_order(lines=lines, payment_code="paypal")
    result = await client.execute_workflow(
        OrderExportWorkflow.run,
        OrderExportInput(shop_id=SHOP, f360_order_id=order["id"], retry_initial_seconds=0.1, retry_max_seconds=0.5),
        id=f"{order_export_workflow_id(SHOP, order['id'])}-{uuid.uuid4().hex[:6]}", task_queue=settings.temporal.task_queue)
    assert result.status == "linked"
    [tg_order] = [o for o in tg_sim.sim.orders() if o["external_ref"] == order["number"]]
    return order, tg_order


async def run_import(client, settings):
    return await start_import(client, settings, wait=True)


def fulfillments(f360_sim, order_id: int) -> list[dict]:
    return f360_sim.sim.order(order_id)["fulfillments"]


def status_message(f360_sim, order_id: int) -> str | None:
    return f360_sim.sim.order(order_id)["integrations"]["totalgest"]["message"]


async def test_partial_shipment_in_two_parcels_each_one_fulfillment_one_email(client, settings, worker, tg_sim, f360_sim,
                                                                            store):
    fast(settings)
    order, tg_order = await exported_order(client, settings, f360_sim, tg_sim, lines=3)
    first_code = tg_order["lines"][0]["article_code"]
    first_qty = tg_order["lines"][0]["quantity"]
    rest = [{"article_code": ln["article_code"], "quantity": ln["quantity"]} for ln in tg_order["lines"][1:]]

    # Invoiced only: the status column says so.
    tg_sim.sim.invoice_order(tg_order["id"])
    report = await run_import(client, settings)
    assert report.status == "completed" and report.fulfilled == 0
    invoice = tg_sim.sim.orders()[tg_order["id"] - 1]["invoice_number"]
    assert invoice.startswith("FA-")
    assert status_message(f360_sim, order["id"]) == f"invoiced {invoice}"
    link = ostore.get_link(store, SHOP, order["id"])
    assert (link.tg_status, link.tg_invoice_number, link.tg_shipping) == ("invoiced", invoice, None)

    # Parcel 1: the first line only -> a partial fulfillment of that line item.
    tg_sim.sim.ship_order(tg_order["id"], carrier="Swiss Post", tracking_number="99.00.1.PARCEL1",
                          tracking_url="https://track.example/1", lines=[{"article_code": first_code,
                                                                          "quantity": first_qty}])
    report = await run_import(client, settings)
    assert report.fulfilled == 1 and report.failed == 0, report
    [f1] = fulfillments(f360_sim, order["id"])
    assert (f1["carrier"], f1["tracking_number"], f1["tracking_url"]) == (
        "Swiss Post", "99.00.1.PARCEL1", "https://track.example/1")
    first_item = next(li for li in order["line_items"] if li["sku"] == first_code)
    assert f1["line_items"] == [{"line_item_id": first_item["id"], "quantity": int(Decimal(first_qty))}]
    assert f360_sim.sim.order(order["id"])["fulfillment_status"] == "partial"
    assert f360_sim.sim.emails_sent(order["id"]) == 1
    assert status_message(f360_sim, order["id"]) == "partly shipped"
    assert ostore.get_link(store, SHOP, order["id"]).tg_shipping == "partly shipped"

    # Parcel 2: the rest -> the order is fulfilled, two parcels, two e-mails.
    tg_sim.sim.ship_order(tg_order["id"], carrier="DHL", tracking_number="JD0002PARCEL2", lines=rest)
    report = await run_import(client, settings)
    assert report.fulfilled == 1 and report.already_fulfilled == 1, report
    f_all = fulfillments(f360_sim, order["id"])
    assert [f["tracking_number"] for f in f_all] == ["99.00.1.PARCEL1", "JD0002PARCEL2"]
    assert {li["line_item_id"]: li["quantity"] for li in f_all[1]["line_items"]} == {
        li["id"]: li["quantity"] for li in order["line_items"] if li["sku"] != first_code}
    assert f360_sim.sim.order(order["id"])["fulfillment_status"] == "fulfilled"
    assert f360_sim.sim.emails_sent(order["id"]) == 2
    assert status_message(f360_sim, order["id"]) == "shipped"

    # The same changes read again (the cursor's overlap window): nothing sent twice.
    report = await run_import(client, settings)
    assert report.fulfilled == 0 and report.already_fulfilled == 2 and report.changes_read >= 1, report
    assert len(fulfillments(f360_sim, order["id"])) == 2 and f360_sim.sim.emails_sent(order["id"]) == 2
    links = sstore.shipments_of(store, SHOP, order["id"])
    assert [(sl.status, sl.f360_fulfillment_id) for sl in links] == [("fulfilled", f["id"]) for f in f_all]


async def test_orders_tgflow_did_not_export_are_left_alone(client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    order, tg_order = await exported_order(client, settings, f360_sim, tg_sim, lines=1)
    # An order typed into TotalGest by hand (same articles, another reference): not tgflow's.
    body = {k: copy.deepcopy(v) for k, v in tg_order.items()
            if k not in ("id", "number", "created_at", "updated_at", "status", "invoice_number", "shipments")}
    body["external_ref"] = "PHONE-ORDER-1"
    other = tg_sim.sim._create_order(body)
    tg_sim.sim.ship_order(other["id"], tracking_number="NOT-OURS-1")
    report = await run_import(client, settings)
    assert report.not_exported >= 1 and report.fulfilled == 0
    assert all(not o["fulfillments"] for o in f360_sim.sim.orders())
    assert f360_sim.sim.stats()["customer_emails"] == 0
    assert sstore.load_shipments(store, SHOP, [s["id"] for s in tg_sim.sim.orders()[other["id"] - 1]["shipments"]]) == {}


async def test_exactly_once_under_framework360_5xx_lost_answers_and_totalgest_5xx(client, settings, worker, tg_sim,
                                                                                f360_sim, store):
    fast(settings)
    pairs = [await exported_order(client, settings, f360_sim, tg_sim, lines=2) for _ in range(3)]
    for _, tg_order in pairs:
        first = tg_order["lines"][0]
        tg_sim.sim.ship_order(tg_order["id"], lines=[{"article_code": first["article_code"],
                                                      "quantity": first["quantity"]}])
        tg_sim.sim.ship_order(tg_order["id"])  # the rest, a second parcel
    # Every fulfillment POST is stored and its answer lost; a third of all Framework360 and TotalGest calls 5xx.
    f360_sim.sim.set_faults(error_rate=0.3, error_after_commit_rate=1.0)
    tg_sim.sim.set_faults(error_rate=0.3)
    report = await run_import(client, settings)
    f360_sim.sim.set_faults()
    tg_sim.sim.set_faults()
    assert report.failed == 0 and report.fulfilled + report.already_fulfilled == 6, report
    for order, tg_order in pairs:
        tg_now = tg_sim.sim.orders()[tg_order["id"] - 1]
        shop_order = f360_sim.sim.order(order["id"])
        assert sorted(f["tracking_number"] for f in shop_order["fulfillments"]) == sorted(
            s["tracking_number"] for s in tg_now["shipments"])
        assert shop_order["fulfillment_status"] == "fulfilled"
        assert f360_sim.sim.emails_sent(order["id"]) == 2
    # The faults did happen: every parcel's first POST lost its answer (500 after the fulfillment was stored).
    assert f360_sim.sim.stats()["by_status"].get("500", 0) >= 6


async def test_refused_parcel_is_recorded_for_a_person_and_retry_sends_it_once(client, settings, worker, tg_sim,
                                                                             f360_sim, store):
    fast(settings)
    order, tg_order = await exported_order(client, settings, f360_sim, tg_sim, lines=1)
    # Someone already marked the whole order shipped in the shop by hand: nothing is left to ship.
    async with Framework360Client(settings.f360) as f360:
        from datetime import datetime, timezone

        await f360.create_fulfillment(order["id"], FulfillmentInput(
            carrier="Hand", tracking_number="BY-HAND", shipped_at=datetime.now(timezone.utc), notify_customer=False))
    tg_sim.sim.ship_order(tg_order["id"], tracking_number="REAL-PARCEL")
    report = await run_import(client, settings)
    assert report.status == "completed_with_errors" and report.failed == 1
    assert "more of" in report.error_samples[0] and "left to ship" in report.error_samples[0]
    [failed] = sstore.failed_shipments(store, SHOP)
    assert failed.f360_order_id == order["id"] and "left to ship" in failed.last_error
    assert [f["tracking_number"] for f in fulfillments(f360_sim, order["id"])] == ["BY-HAND"]

    # Read again by the next run: still waiting for a person, nothing sent.
    report = await run_import(client, settings)
    assert report.fulfilled == 0 and len(sstore.failed_shipments(store, SHOP)) == 1

    # The person removes the hand-made fulfillment and re-drives: one parcel, one e-mail.
    f360_sim.sim.patch_order(order["id"], lambda o: (o["fulfillments"].clear(), o.update(fulfillment_status="unfulfilled")))
    results = await retry_failed(client, settings, store, [order["id"]])
    assert [r.status for r in results] == ["fulfilled"]
    assert [f["tracking_number"] for f in fulfillments(f360_sim, order["id"])] == ["REAL-PARCEL"]
    assert f360_sim.sim.emails_sent(order["id"]) == 1
    assert sstore.failed_shipments(store, SHOP) == []
    # Re-driving again sends nothing (the fulfillment is found).
    assert await retry_failed(client, settings, store, [order["id"]]) == []
    assert len(fulfillments(f360_sim, order["id"])) == 1


def test_activity_names_are_registered():
    names = {getattr(fn, "__temporal_activity_definition").name for fn in (
        ShipmentActivities.begin_import, ShipmentActivities.import_pass, ShipmentActivities.finish_import,
        ShipmentActivities.sync_shipment, ShipmentActivities.record_failure)}
    assert names == {"shipment_import_begin", "shipment_import_pass", "shipment_import_finish", "sync_shipment",
                     "record_shipment_failure"}


async def test_cli_import_shipments_and_a_failed_parcel_in_orders_status_and_retry(client, settings, worker, tg_sim,
                                                                                  f360_sim, store, tmp_path):
    import asyncio
    import json

    from tests.test_metrics import cli_env, tgflow_cli

    fast(settings)
    env = cli_env(settings, tmp_path, COLUMNS="300")
    ok_order, ok_tg = await exported_order(client, settings, f360_sim, tg_sim, lines=1)
    bad_order, bad_tg = await exported_order(client, settings, f360_sim, tg_sim, lines=1)
    tg_sim.sim.ship_order(ok_tg["id"], tracking_number="CLI-OK-1")
    # The shop order was cancelled meanwhile: Framework360 cannot show the parcel; a person must look.
    f360_sim.sim.patch_order(bad_order["id"], lambda o: o.update(status="cancelled"))
    tg_sim.sim.ship_order(bad_tg["id"], tracking_number="CLI-BAD-1")

    done = await asyncio.to_thread(tgflow_cli, env, "import-shipments", "--wait", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["fulfilled"] == 1 and report["failed"] == 1
    assert "is cancelled" in report["error_samples"][0]
    assert [f["tracking_number"] for f in fulfillments(f360_sim, ok_order["id"])] == ["CLI-OK-1"]
    assert fulfillments(f360_sim, bad_order["id"]) == []

    again = await asyncio.to_thread(tgflow_cli, env, "import-shipments", "--wait")
    assert again.returncode == 0, again.stderr  # the failed parcel waits for a person; nothing new failed
    assert "parcels already there" in again.stdout and "completed" in again.stdout
    started = await asyncio.to_thread(tgflow_cli, env, "import-shipments", "--json")
    assert started.returncode == 0 and json.loads(started.stdout)["workflow_id"] == "shipment-import-1001-manual"
    text = await asyncio.to_thread(tgflow_cli, env, "import-shipments")
    assert text.returncode == 0 and "shipment-import-1001-manual" in text.stdout

    failed = await asyncio.to_thread(tgflow_cli, env, "orders", "list", "--status", "failed", "--json")
    [row] = json.loads(failed.stdout)
    assert row["order_id"] == bad_order["id"] and row["status"] == "linked" and "is cancelled" in row["parcel_error"]
    assert row["column"].startswith(f"Linked {bad_tg['number']} · shipped") and "· Parcel failed: parcel " in row["column"]
    listed = await asyncio.to_thread(tgflow_cli, env, "orders", "list")
    assert "shipped" in listed.stdout and "Parcel failed" in listed.stdout
    shown = await asyncio.to_thread(tgflow_cli, env, "orders", "show", str(bad_order["id"]), "--json")
    [parcel] = json.loads(shown.stdout)["parcels"]
    assert parcel["status"] == "failed" and "is cancelled" in parcel["reason"]
    shown_text = await asyncio.to_thread(tgflow_cli, env, "orders", "show", str(ok_order["id"]))
    assert "Parcels" in shown_text.stdout and "CLI-OK-1" in shown_text.stdout and "fulfilled" in shown_text.stdout
    status = await asyncio.to_thread(tgflow_cli, env, "status", "--json")
    data = json.loads(status.stdout)
    assert data["parcels"]["failed"] == 1 and data["parcels"]["fulfilled"] == 1
    assert data["oldest_failed_parcel"]["order_id"] == bad_order["id"] and status.returncode == 1
    status_text = await asyncio.to_thread(tgflow_cli, env, "status")
    assert "oldest failed parcel of order" in status_text.stdout

    # The person reopens the shop order; `orders retry` re-drives the parcel: one fulfillment, one e-mail.
    f360_sim.sim.patch_order(bad_order["id"], lambda o: o.update(status="completed"))
    retried = await asyncio.to_thread(tgflow_cli, env, "orders", "retry", str(bad_order["id"]), "--wait", "--json")
    assert retried.returncode == 0, retried.stderr
    assert [f["tracking_number"] for f in fulfillments(f360_sim, bad_order["id"])] == ["CLI-BAD-1"]
    assert f360_sim.sim.emails_sent(bad_order["id"]) == 1
    cleared = await asyncio.to_thread(tgflow_cli, env, "orders", "list", "--status", "failed", "--json")
    assert json.loads(cleared.stdout) == []


async def test_demo_shipping_ships_a_two_line_order_in_two_parcels_and_the_import_shows_both(
        client, settings, worker, tg_sim, f360_sim, store):
    import random

    fast(settings)
    order, tg_order = await exported_order(client, settings, f360_sim, tg_sim, lines=2)
    rng = random.Random(3)
    first = tg_sim.sim.ship_some(rng)
    assert first["status"] == "invoiced" and len(first["shipments"]) == 1
    assert [ln["article_code"] for ln in first["shipments"][0]["lines"]] == [tg_order["lines"][0]["article_code"]]
    second = tg_sim.sim.ship_some(rng)
    assert second["status"] == "shipped" and len(second["shipments"]) == 2
    assert tg_sim.sim.ship_some(rng) is None  # nothing left to ship
    report = await run_import(client, settings)
    assert report.fulfilled == 2
    assert f360_sim.sim.order(order["id"])["fulfillment_status"] == "fulfilled"
