"""Order export Framework360 -> TotalGest against both simulators and a real worker: what ends up where."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from decimal import Decimal

from tgflow.contracts.ids import order_export_workflow_id, order_queue_workflow_id
from tgflow.contracts.orders import OrderExportInput
from tgflow.service.orders import enqueue_orders, export_orders_now, reconcile_now
from tgflow.store import orders as ostore
from tgflow.workflows.order_export import OrderExportWorkflow

SHOP = "1001"


def fast(settings) -> None:
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0


async def export_one(client, settings, order_id: int):
    return await client.execute_workflow(
        OrderExportWorkflow.run,
        OrderExportInput(shop_id=SHOP, f360_order_id=order_id, retry_initial_seconds=0.2, retry_max_seconds=1.0),
        id=f"{order_export_workflow_id(SHOP, order_id)}-{uuid.uuid4().hex[:6]}", task_queue=settings.temporal.task_queue)


def tg_orders_by_ref(tg_sim) -> Counter:
    return Counter(o["external_ref"] for o in tg_sim.sim.orders())


async def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def history_text(client, workflow_id: str) -> str:
    """The history as JSON plus every payload decoded (payloads are base64 in the JSON)."""
    import base64
    import re

    text = (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()
    decoded = [base64.b64decode(m).decode("utf-8", "ignore") for m in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', text)]
    return text + "\n" + "\n".join(decoded)


def assert_no_private_data(text: str, orders: list[dict], settings) -> None:
    private = {settings.totalgest.password.get_secret_value(), settings.f360.api_key.get_secret_value(),
               settings.f360.webhook_secret.get_secret_value()}
    for o in orders:
        private.add(o["customer"]["email"])
        for addr in (o["billing_address"], o["shipping_address"]):
            private.update([addr["address_1"], f'{addr["first_name"]} {addr["last_name"]}', addr["last_name"],
                            addr["phone"] or "no-phone"])
    assert "F360-" in text  # the decoding worked: order numbers are there
    for value in private:
        assert value not in text, f"history holds private data ({value[:3]}…)"


async def test_happy_path_full_details_arrive_and_status_column_is_linked(client, settings, worker, tg_sim, f360_sim, store):
    order = f360_sim.sim.create_order(lines=3, payment_code="paypal")
    result = await export_one(client, settings, order["id"])
    assert result.status == "linked" and result.f360_number == order["number"]

    [tg_order] = [o for o in tg_sim.sim.orders() if o["external_ref"] == order["number"]]
    assert tg_order["number"] == result.tg_order_number
    assert tg_order["payment_method"] == "PP" and tg_order["currency"] == "CHF"
    assert Decimal(tg_order["total_gross"]) == Decimal(order["total"])
    assert Decimal(tg_order["shipping_gross"]) == Decimal(order["shipping_total"])
    assert tg_order["order_date"].startswith(order["completed_at"][:19])
    assert [(ln["article_code"], Decimal(ln["quantity"]), Decimal(ln["unit_price_gross"]), Decimal(ln["discount_gross"]),
             Decimal(ln["vat_rate"]), ln["description"]) for ln in tg_order["lines"]] == [
        (li["sku"], Decimal(li["quantity"]), Decimal(li["unit_price"]), Decimal(li["discount"]),
         Decimal(li["vat_rate"]), li["name"]) for li in order["line_items"]]
    b = order["billing_address"]
    assert tg_order["billing"]["name"] == f'{b["first_name"]} {b["last_name"]}' and tg_order["billing"]["zip"] == b["postcode"]
    [customer] = [c for c in tg_sim.sim.customers() if c["email"] == order["customer"]["email"]]
    assert tg_order["customer_id"] == customer["id"]

    status = f360_sim.sim.order(order["id"])["integrations"]["totalgest"]
    assert status["status"] == "linked" and status["remote_id"] == result.tg_order_number
    link = ostore.get_link(store, SHOP, order["id"])
    assert link.status == "linked" and link.tg_order_number == result.tg_order_number and link.attempts == 1

    # re-export: no second order, reported as already linked
    again = await export_one(client, settings, order["id"])
    assert again.status == "already_linked" and again.tg_order_number == result.tg_order_number
    assert tg_orders_by_ref(tg_sim)[order["number"]] == 1
    assert len([c for c in tg_sim.sim.customers() if c["email"] == order["customer"]["email"]]) == 1


async def test_created_but_not_recorded_is_not_duplicated(client, settings, worker, deps, tg_sim, f360_sim, store):
    """As if a worker died between the TotalGest create and the record: the next export finds the order."""
    from tgflow.activities.orders import OrderActivities
    from tgflow.contracts.orders import ExportActivityInput

    order = f360_sim.sim.create_order(lines=2)
    first = await OrderActivities(deps).export_order(ExportActivityInput(shop_id=SHOP, f360_order_id=order["id"]))
    assert ostore.get_link(store, SHOP, order["id"]).status == "pending"
    report = await export_orders_now(client, settings, [order["id"]])
    assert report.succeeded == 1 and report.linked[0].tg_order_number == first.tg_order_number
    assert tg_orders_by_ref(tg_sim)[order["number"]] == 1


async def test_same_new_customer_in_two_simultaneous_orders_makes_one_customer(client, settings, worker, tg_sim, f360_sim):
    email = f"new.{uuid.uuid4().hex[:6]}@example.ch"
    ids = [f360_sim.sim.create_order(email=email)["id"] for _ in range(3)]
    report = await export_orders_now(client, settings, ids)
    assert report.succeeded == 3, report
    customers = [c for c in tg_sim.sim.customers() if c["email"] == email]
    assert len(customers) == 1
    assert {o["customer_id"] for o in tg_sim.sim.orders()} == {customers[0]["id"]}


async def test_bad_orders_fail_fast_with_reasons_and_do_not_block_others(client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    sim = f360_sim.sim
    bad = {
        "unknown_sku": sim.create_order(problem="unknown_sku", lines=2),
        "bad_payment": sim.create_order(problem="bad_payment"),
        "bad_total": sim.create_order(problem="bad_total"),
        "processing": sim.create_order(status="processing"),
        "no_sku": sim.create_order(problem="no_sku", lines=2),
    }
    good = [sim.create_order() for _ in range(3)]
    started = time.monotonic()
    report = await export_orders_now(client, settings, [o["id"] for o in [*bad.values(), *good]] + [99999])
    assert time.monotonic() - started < 30
    assert report.succeeded == 3 and report.failed == 6 and report.total == 9
    reasons = {f.order_id: f.reason for f in report.failures}
    assert "line 1 (SKU NOPE-404" in reasons[bad["unknown_sku"]["id"]] and "unknown in TotalGest" in reasons[bad["unknown_sku"]["id"]]
    assert "'bitcoin'" in reasons[bad["bad_payment"]["id"]] and "TGFLOW_PAYMENT_METHODS" in reasons[bad["bad_payment"]["id"]]
    assert "difference +0.01" in reasons[bad["bad_total"]["id"]]
    assert "'processing', not 'completed'" in reasons[bad["processing"]["id"]]
    assert "has no SKU" in reasons[bad["no_sku"]["id"]]
    assert "no order with id 99999" in reasons[99999]
    assert {f.number for f in report.failures if f.order_id != 99999} == {o["number"] for o in bad.values()}
    refs = tg_orders_by_ref(tg_sim)
    assert all(refs[o["number"]] == 0 for o in bad.values()) and all(refs[o["number"]] == 1 for o in good)
    for o in bad.values():
        status = sim.order(o["id"])["integrations"]["totalgest"]
        assert status["status"] == "error" and status["message"] == reasons[o["id"]]
        link = ostore.get_link(store, SHOP, o["id"])
        assert link.status == "failed" and link.last_error == reasons[o["id"]]

    # fix the cause (the order is completed now) and export again: it works
    sim.set_order_status(bad["processing"]["id"], "completed")
    again = await export_orders_now(client, settings, [bad["processing"]["id"]])
    assert again.succeeded == 1 and refs[bad["processing"]["number"]] == 0
    assert tg_orders_by_ref(tg_sim)[bad["processing"]["number"]] == 1
    assert [a.outcome for a in ostore.attempts(store, SHOP, bad["processing"]["id"])] == ["failed", "linked"]


async def test_batch_with_faults_through_the_queue_arrives_exactly_once(client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    settings.orders.queue_continue_after_events = 300  # exercise continue-as-new on the way
    orders = [f360_sim.sim.create_order() for _ in range(100)]
    tg_sim.sim.set_faults(error_rate=0.1, error_after_commit_rate=0.1, rate_limit_burst=5, retry_after_seconds=1)
    f360_sim.sim.set_faults(error_rate=0.05)
    ids = [o["id"] for o in orders]
    await enqueue_orders(client, settings, ids[:50])
    await enqueue_orders(client, settings, ids[25:])  # overlapping ids are ignored or re-found
    numbers = {o["number"] for o in orders}
    try:
        await wait_for(lambda: sum(1 for link in ostore.list_links(store, SHOP, "linked") if link.f360_number in numbers)
                       == len(numbers), timeout=120, what="100 linked orders")
        # The store is written before the status column (whose PUT may still be retrying a 5xx).
        await wait_for(lambda: all(f360_sim.sim.order(i)["integrations"]["totalgest"]["status"] == "linked"
                                   for i in ids), timeout=60, what="100 linked status columns")
        refs = tg_orders_by_ref(tg_sim)
        assert {n: refs[n] for n in numbers} == {n: 1 for n in numbers}
        customers = Counter(c["email"].lower() for c in tg_sim.sim.customers())
        assert max(customers.values()) == 1
        assert all(f360_sim.sim.order(i)["integrations"]["totalgest"]["status"] == "linked" for i in ids)
        desc = await client.get_workflow_handle(order_queue_workflow_id(SHOP)).describe()
        assert desc.run_id != desc.raw_description.workflow_execution_info.first_run_id  # continued as new
        backlog = await client.get_workflow_handle(order_queue_workflow_id(SHOP)).query("backlog")
        assert backlog["queued"] == 0

        text = await history_text(client, order_queue_workflow_id(SHOP))
        for order_id in ids[:10]:
            text += await history_text(client, order_export_workflow_id(SHOP, order_id))
        assert_no_private_data(text, orders, settings)
    finally:
        tg_sim.sim.set_faults()
        f360_sim.sim.set_faults()
        await client.get_workflow_handle(order_queue_workflow_id(SHOP)).terminate("test done")


async def test_an_export_waiting_out_a_retry_after_frees_its_queue_slot(client, settings, worker, tg_sim, f360_sim, store):
    """One slot (max_concurrent 1): the first order's first TotalGest call is answered 429 with Retry-After 5 s.
    While that export waits, the queue exports the second order, so the second lands in TotalGest first; the
    first follows after its wait; each exactly once. (Before, the waiting export held the slot: first, then second.)"""
    fast(settings)
    settings.orders.max_concurrent = 1
    warm = f360_sim.sim.create_order()
    await export_one(client, settings, warm["id"])  # login and reference data read: the 429 meets the order's own call
    first, second = f360_sim.sim.create_order(), f360_sim.sim.create_order()
    tg_sim.sim.reset_stats()
    tg_sim.sim.set_faults(rate_limit_burst=1, retry_after_seconds=5)
    try:
        await enqueue_orders(client, settings, [first["id"], second["id"]])
        await wait_for(lambda: {first["number"], second["number"]} <= set(tg_orders_by_ref(tg_sim)),
                       timeout=60, what="both orders in TotalGest")
        assert tg_sim.sim.stats()["by_status"].get("429") == 1  # the first order's call was refused once
        created = {o["external_ref"]: o["id"] for o in tg_sim.sim.orders()}
        assert created[second["number"]] < created[first["number"]]  # exported during the first one's wait
        refs = tg_orders_by_ref(tg_sim)
        assert (refs[first["number"]], refs[second["number"]]) == (1, 1)
        await wait_for(lambda: {link.f360_number for link in ostore.list_links(store, SHOP, "linked")}
                       >= {first["number"], second["number"]}, what="both orders linked in the store")
        backlog = await client.get_workflow_handle(order_queue_workflow_id(SHOP)).query("backlog")
        assert (backlog["running"], backlog["waiting"], backlog["queued"]) == (0, 0, 0)
    finally:
        tg_sim.sim.set_faults()
        await client.get_workflow_handle(order_queue_workflow_id(SHOP)).terminate("test done")


async def test_webhooks_off_reconciliation_exports_every_completed_order(client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    sim = f360_sim.sim
    sim.set_webhooks(enabled=False)
    for _ in range(10):
        sim.create_order()
    completed = {o["number"] for o in sim.orders() if o["status"] == "completed"}
    try:
        first = await reconcile_now(client, settings)
        assert first.enqueued == len(completed)
        await wait_for(lambda: set(tg_orders_by_ref(tg_sim)) >= completed, timeout=60, what="all completed exported")
        await wait_for(lambda: all(sim.order(o["id"])["integrations"]["totalgest"]["status"] == "linked"
                                   for o in sim.orders() if o["status"] == "completed"), what="F360 linked")
        assert set(tg_orders_by_ref(tg_sim).values()) == {1}
        # next run: nothing to do; an order completed since is picked up
        late = sim.create_order()
        second = await reconcile_now(client, settings)
        assert second.enqueued == 1
        await wait_for(lambda: tg_orders_by_ref(tg_sim)[late["number"]] == 1, what="late order exported")
        assert_no_private_data(await history_text(client, order_queue_workflow_id(SHOP)), sim.orders(), settings)
    finally:
        await client.get_workflow_handle(order_queue_workflow_id(SHOP)).terminate("test done")


async def run_cli(settings, tmp_path, *args: str) -> tuple[int, str, str]:
    import os
    import sys

    from tgflow.config import save_settings

    path = save_settings(settings, tmp_path / "cli.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"TGFLOW_CONFIG": str(path)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tgflow", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_cli_export_report_and_status_column(client, settings, worker, tg_sim, f360_sim, tmp_path):
    fast(settings)
    good = f360_sim.sim.create_order()
    bad = f360_sim.sim.create_order(problem="bad_payment")
    code, out, err = await run_cli(settings, tmp_path, "export-orders", str(good["id"]), str(bad["id"]), "--json")
    assert code == 1 and out, err
    report = json.loads(out)
    assert report["succeeded"] == 1 and report["failed"] == 1
    assert report["failures"][0]["number"] == bad["number"] and "bitcoin" in report["failures"][0]["reason"]
    code, out, err = await run_cli(settings, tmp_path, "export-orders", str(good["id"]))
    assert code == 0 and "already linked" in out, (out, err)
    code, out, _ = await run_cli(settings, tmp_path, "orders", "list", "--json")
    rows = {r["number"]: r for r in json.loads(out)}
    tg_number = next(o["number"] for o in tg_sim.sim.orders() if o["external_ref"] == good["number"])
    assert rows[good["number"]]["column"] == f"Linked {tg_number}"
    assert rows[bad["number"]]["column"].startswith("Failed: ") and "TGFLOW_PAYMENT_METHODS" in rows[bad["number"]]["column"]
    code, out, _ = await run_cli(settings, tmp_path, "orders", "list", "--status", "failed")
    assert code == 0 and bad["number"] in out and good["number"] not in out
    code, out, _ = await run_cli(settings, tmp_path, "orders", "show", bad["number"], "--json")
    assert code == 0 and [a["outcome"] for a in json.loads(out)["attempt_history"]] == ["failed"]


async def test_same_new_customer_exported_by_two_workers_at_once_makes_one_customer(settings, store, tg_sim, f360_sim):
    """Two workers (each its own activities, clients and in-process locks) sharing one status store export two
    orders of one new e-mail at the same moment, TotalGest answering slowly: one customer, both orders on it."""
    from tgflow.activities import Deps
    from tgflow.activities.orders import OrderActivities
    from tgflow.contracts.orders import ExportActivityInput

    email = f"twice.{uuid.uuid4().hex[:6]}@example.ch"
    ids = [f360_sim.sim.create_order(email=email)["id"] for _ in range(2)]
    tg_sim.sim.set_faults(slow_ms=150)  # look-up and create overlap between the two workers without the claim
    workers = [Deps(settings, store), Deps(settings, store)]
    try:
        results = await asyncio.gather(*(OrderActivities(deps).export_order(
            ExportActivityInput(shop_id=SHOP, f360_order_id=order_id)) for deps, order_id in zip(workers, ids)))
    finally:
        tg_sim.sim.set_faults()
        for deps in workers:
            await deps.aclose()
    customers = [c for c in tg_sim.sim.customers() if c["email"] == email]
    assert len(customers) == 1, customers
    assert [r.tg_customer_id for r in results] == [customers[0]["id"]] * 2
    assert sorted(o["external_ref"] for o in tg_sim.sim.orders()
                  if o["customer_id"] == customers[0]["id"]) == sorted(r.f360_number for r in results)
