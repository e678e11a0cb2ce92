"""Record real Temporal histories of every workflow type the worker registers, for the replay test.

Run from the repository root (takes about a minute; it starts and stops everything it needs):

    .venv/bin/python tests/data/record_histories.py            # writes tests/data/histories/*.json
    .venv/bin/python tests/data/record_histories.py --out DIR  # elsewhere
    .venv/bin/python tests/data/record_histories.py --out DIR --suffix _v2   # names like export_linked_v2.json
    .venv/bin/python tests/data/record_histories.py --only shipment_fulfilled adjustment_refund_refused
                                                               # writes those files only, leaves the others

It starts a real Temporal dev server (the ``temporal`` binary from the venv), the TotalGest and
Framework360 simulators on loopback, a SQLite status store in a temporary folder and a tgflow worker,
then drives each scenario below and writes one ``WorkflowHistory.to_json()`` file per scenario. Running
workflows are captured while running (a history without its close event), exactly what a worker of a
newer release must pick up and replay after a deployment.

``tests/test_replay_histories.py`` replays every file of the folder with the current workflows.
Record from the release whose running workflows must keep replaying (before changing workflow code),
commit the files, and never re-record them to make a replay test pass: that would hide the
non-determinism the test exists to find. New scenarios may be added with a new file name, and recorded
alone with ``--only NAME...`` (history names, without ``.json``): only those files are written, the recorded
ones stay as they are. Groups of scenarios that declare their names in ``GROUPS`` are run only when one of
their names is asked for; the others run whenever a name no group declares is asked for.

Before writing, the script checks that no history holds a credential or a customer's personal data
(e-mail, name, street, phone of every order of the simulator), as tests/chaos/test_secrets_and_pii.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tgflow import search_attributes
from tgflow.activities import Deps
from tgflow.config import Settings
from tgflow.contracts.ids import order_export_workflow_id, order_queue_workflow_id
from tgflow.contracts.orders import OrderExportInput
from tgflow.service.monitoring import _WORKFLOWS as OPS_WORKFLOWS
from tgflow.service.monitoring import _attrs as ops_attrs
from tgflow.service.orders import enqueue_orders, reconcile_input, start_export
from tgflow.service.products import start_import
from tgflow.sim import (
    DEMO_F360_API_KEY,
    DEMO_F360_WEBHOOK_SECRET,
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)
from tgflow.sim.framework360 import Framework360Sim
from tgflow.sim.framework360 import create_app as f360_app
from tgflow.sim.server import ServerThread
from tgflow.sim.totalgest import TotalGestSim
from tgflow.sim.totalgest import create_app as tg_app
from tgflow.store import Store
from tgflow.worker import build_worker
from tgflow.workflows.order_export import OrderExportWorkflow
from tgflow.workflows.order_helpers import child_search_attributes, export_summary
from tgflow.workflows.orders import OrderReconcileWorkflow

DEFAULT_OUT = Path(__file__).resolve().parent / "histories"
TASK_QUEUE = "tgflow-record"


def settings_for(tg_url: str, f360_url: str, temporal: str, db: str) -> Settings:
    s = Settings(
        totalgest={"shop_id": DEMO_TG_SHOP_ID, "owner_id": DEMO_TG_OWNER_ID, "endpoint": tg_url + "/api/v1",
                   "username": DEMO_TG_USERNAME, "password": DEMO_TG_PASSWORD, "timeout_seconds": 3.0},
        f360={"base_url": f360_url + "/api/v1", "api_key": DEMO_F360_API_KEY,
              "webhook_secret": DEMO_F360_WEBHOOK_SECRET, "timeout_seconds": 3.0},
        temporal={"address": temporal, "task_queue": TASK_QUEUE},
        database_url=f"sqlite:///{db}",
    )
    s.orders.retry_initial_seconds = 0.2
    s.orders.retry_max_seconds = 1.0
    s.products.retry_initial_seconds = 0.2
    s.products.retry_max_seconds = 1.0
    return s


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


async def event_types(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [json.loads(history.to_json())["events"][i]["eventType"] for i in range(len(history.events))]


class Recorder:
    def __init__(self, client: Client, out: Path, suffix: str = "", only: set[str] | None = None) -> None:
        self.client = client
        self.out = out
        self.suffix = suffix
        self.only = only
        self.histories: dict[str, str] = {}

    async def save(self, name: str, workflow_id: str, run_id: str | None = None) -> None:
        if self.only is not None and name not in self.only:
            return
        history = await self.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        self.histories[name] = history.to_json()
        print(f"  {name}: {history.workflow_id}, {len(history.events)} events")

    def decoded_text(self) -> str:
        parts = []
        for text in self.histories.values():
            parts.append(text)
            parts += [base64.b64decode(m).decode("utf-8", "ignore")
                      for m in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', text)]
        return "\n".join(parts)

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name, text in self.histories.items():
            (self.out / f"{name}{self.suffix}.json").write_text(json.dumps(json.loads(text), indent=1) + "\n")


def private_values(orders: list[dict]) -> set[str]:
    values: set[str] = set()
    for o in orders:
        values.add(o["customer"]["email"])
        values.add(o["customer"]["email"].split("@")[0])
        for addr in (o["billing_address"], o["shipping_address"]):
            values.update([addr["address_1"], f'{addr["first_name"]} {addr["last_name"]}', addr["last_name"]])
            if addr.get("phone"):
                values.add(addr["phone"])
    return {v for v in values if v and len(v) >= 4}


async def record(out: Path, suffix: str = "", only: set[str] | None = None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tgflow-record-"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"), data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL, ui=False, dev_server_log_level="error")
    tg, f360 = TotalGestSim(articles=300, seed=1), Framework360Sim(orders=20, seed=1)
    try:
        with ServerThread(tg_app(tg)) as tg_srv, ServerThread(f360_app(f360)) as f360_srv:
            client = env.client
            settings = settings_for(tg_srv.url, f360_srv.url, client.service_client.config.target_host,
                                    str(tmp / "tgflow.db"))
            shop = settings.totalgest.shop_id
            store = Store(settings.database_url)
            deps = Deps(settings, store)
            rec = Recorder(client, out, suffix, only)
            try:
                async with build_worker(client, settings, deps):
                    for group in groups_to_run(only):
                        await group(rec, client, settings, tg, f360, shop)
            finally:
                await deps.aclose()
                store.close()
    finally:
        f360.close()
        await env.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    if only is not None and only - set(rec.histories):
        raise SystemExit(f"not written: no scenario records {sorted(only - set(rec.histories))}")
    text = rec.decoded_text()
    secrets = [DEMO_TG_PASSWORD, DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET]
    leaks = sorted(v for v in private_values(f360.orders()) | set(secrets) | {"Recorded Requester"} if v in text)
    emails = re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text)
    if "F360-" not in text or leaks or emails:
        raise SystemExit(f"not written: the histories hold private data or credentials ({len(leaks)} values, "
                         f"{len(emails)} e-mail-like strings) or could not be decoded")
    rec.write()
    print(f"wrote {len(rec.histories)} histories to {out} (no credential, no customer data)")


async def scenarios(rec: Recorder, client: Client, settings: Settings, tg, f360, shop: str) -> None:
    async def start_one(order_id: int, **params) -> WorkflowHandle:
        return await client.start_workflow(
            OrderExportWorkflow.run,
            OrderExportInput(shop_id=shop, f360_order_id=order_id, retry_initial_seconds=0.2, retry_max_seconds=1.0,
                             **params),
            id=order_export_workflow_id(shop, order_id), task_queue=TASK_QUEUE,
            search_attributes=child_search_attributes(shop), static_summary=export_summary(shop, order_id))

    async def export_outcome(handle: WorkflowHandle) -> str:
        """``failed`` whether the export completes with it (before ``failed-export-fails-workflow``) or fails."""
        try:
            return (await handle.result()).status
        except WorkflowFailureError as err:
            assert getattr(err.cause, "type", None) == "OrderExportFailed", err
            return "failed"

    async def has_event(handle: WorkflowHandle, event: str, count: int = 1) -> bool:
        return (await event_types(handle)).count(event) >= count

    # ---- OrderExportWorkflow ----
    print("OrderExportWorkflow")
    order = f360.create_order(lines=2)
    h = await start_one(order["id"])
    assert (await h.result()).status == "linked"
    await rec.save("export_linked", h.id, h.result_run_id)
    h = await start_one(order["id"])  # the same order again: found by external_ref
    assert (await h.result()).status == "already_linked"
    await rec.save("export_already_linked", h.id, h.result_run_id)

    bad = f360.create_order(problem="unknown_sku")
    h = await start_one(bad["id"])
    assert await export_outcome(h) == "failed"
    await rec.save("export_failed_unknown_sku", h.id, h.result_run_id)

    tg.set_faults(error_rate=1.0)  # TotalGest answers 5xx to everything
    try:
        retrying = f360.create_order()
        h = await start_one(retrying["id"])
        # the quick local attempts are used up, the regular activity is retrying on the server
        await until("the export to fall back to a regular activity",
                    lambda: has_event(h, "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"))
        await rec.save("export_retrying_running", h.id, h.result_run_id)
        await h.terminate("recorded")

        gave_up = f360.create_order()
        h = await start_one(gave_up["id"], retry_for_hours=2 / 3600)  # 2 s of patience
        assert await export_outcome(h) == "failed"
        await rec.save("export_gave_up_after_retries", h.id, h.result_run_id)
    finally:
        tg.set_faults()

    # ---- OrderQueueWorkflow ----
    print("OrderQueueWorkflow")
    settings.orders.max_concurrent = 2
    tg.set_faults(error_rate=1.0)
    queued = [f360.create_order()["id"] for _ in range(6)]
    try:
        for i in range(0, 6, 2):  # three signals
            qh = await enqueue_orders(client, settings, queued[i:i + 2])
        await until("two exports running, four queued",
                    lambda: has_event(qh, "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED", 2))
        await until("the three signals", lambda: has_event(qh, "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", 3))
        backlog = await qh.query("backlog")
        assert backlog["running"] == 2 and backlog["queued"] == 4, backlog
        run_id = (await qh.describe()).run_id
        await rec.save("queue_backlog_running", qh.id, run_id)
    finally:
        tg.set_faults()
    await until("the backlog exported",
                lambda: has_event(qh, "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED", 6), timeout=120)
    await rec.save("queue_drained_running", qh.id, run_id)
    await qh.terminate("recorded")

    settings.orders.queue_continue_after_events = 20
    settings.orders.max_concurrent = 10
    more = [f360.create_order()["id"] for _ in range(5)]
    qh = await enqueue_orders(client, settings, more)
    first_run = (await qh.describe()).run_id
    first = client.get_workflow_handle(qh.id, run_id=first_run)

    async def continued() -> bool:
        return (await first.describe()).status.name == "CONTINUED_AS_NEW"
    await until("the queue to continue as new", continued, timeout=120)
    await rec.save("queue_continued_as_new", qh.id, first_run)
    await qh.terminate("recorded")
    settings.orders.queue_continue_after_events = None

    # ---- ExportOrdersWorkflow ----
    print("ExportOrdersWorkflow")
    ids = [f360.create_order()["id"], f360.create_order()["id"], f360.create_order(problem="bad_payment")["id"],
           order["id"]]
    bh = await start_export(client, settings, ids, workflow_id=f"order-bulk-export-{shop}-recorded")
    report = await bh.result()
    assert (report.succeeded, report.already_linked, report.failed) == (2, 1, 1), report
    await rec.save("bulk_export_mixed", bh.id, bh.result_run_id)

    # ---- OrderReconcileWorkflow ----
    print("OrderReconcileWorkflow")
    rc = await client.start_workflow(OrderReconcileWorkflow.run, reconcile_input(settings),
                                     id=f"order-reconcile-{shop}-recorded", task_queue=TASK_QUEUE)
    assert (await rc.result()).enqueued >= 1
    await rec.save("reconcile_completed", rc.id, rc.result_run_id)
    try:
        await client.get_workflow_handle(order_queue_workflow_id(shop)).terminate("recorded")
    except Exception:
        pass

    # ---- ProductImportWorkflow ----
    print("ProductImportWorkflow")
    tg.set_faults(slow_ms=40)  # slow enough to catch the pass while it heartbeats
    try:
        ih = await start_import(client, settings, full=True)

        async def heartbeating() -> bool:
            pending = (await ih.describe()).raw_description.pending_activities
            return any(p.activity_type.name == "product_import_pass" and p.heartbeat_details.payloads
                       for p in pending)
        await until("the import pass to heartbeat", heartbeating)
        run_id = (await ih.describe()).run_id
        await rec.save("product_import_mid_pass", ih.id, run_id)
        # a second import while this one runs steps aside
        sk = await start_import(client, settings, workflow_id=f"product-import-{shop}-overlap")
        assert (await sk.result()).status == "skipped"
        await rec.save("product_import_skipped", sk.id, sk.result_run_id)
    finally:
        tg.set_faults()
    report = await ih.result()
    assert report.status.startswith("completed"), report
    await rec.save("product_import_completed", ih.id, run_id)

    f360.set_module_active(False)  # Framework360's e-commerce module off: the pass fails for good
    try:
        fh = await start_import(client, settings, workflow_id=f"product-import-{shop}-failing")
        try:
            await fh.result()
            raise SystemExit("the import with the module off did not fail")
        except Exception as err:
            if isinstance(err, SystemExit):
                raise
        await rec.save("product_import_failed", fh.id, fh.result_run_id)
    finally:
        f360.set_module_active(True)

    # ---- DriftReportWorkflow, HealthCheckWorkflow ----
    print("DriftReportWorkflow, HealthCheckWorkflow")
    for which, name in (("drift", "drift_report_completed"), ("health", "health_check_completed")):
        run, params, kind, _ = OPS_WORKFLOWS[which]
        w = await client.start_workflow(run, params(shop_id=shop), id=f"{which}-{shop}-recorded", task_queue=TASK_QUEUE,
                                        search_attributes=ops_attrs(settings, kind))
        await w.result()
        await rec.save(name, w.id, w.result_run_id)

    # ---- ExportRequestWorkflow (the shop's "Send to TotalGest") ----
    print("ExportRequestWorkflow")
    from tgflow.service.export_requests import start_export_request

    ids = [f360.create_order()["id"], f360.create_order(problem="unknown_sku")["id"], f360.create_order()["id"]]
    store = Store(settings.database_url)
    try:
        eh = await start_export_request(client, settings, store, request_id="req_recorded",
                                        order_ids=ids, requested_by="Recorded Requester")
        result = await eh.result()
    finally:
        store.close()
    assert (result.sent, result.failed, result.level) == (2, 1, "warning"), result
    await rec.save("export_request_warning", eh.id, eh.result_run_id)


async def export_for_record(client: Client, settings: Settings, f360, tg, order: dict, name: str) -> dict:
    """Export one shop order (a bulk export of one) and return its TotalGest order."""
    bh = await start_export(client, settings, [order["id"]],
                            workflow_id=f"order-bulk-export-{settings.totalgest.shop_id}-{name}")
    assert (await bh.result()).succeeded == 1
    [tg_order] = [o for o in tg.orders() if o["external_ref"] == order["number"]]
    return tg_order


async def shipment_scenarios(rec: Recorder, client: Client, settings: Settings, tg, f360, shop: str) -> None:
    # ---- ShipmentImportWorkflow, OrderShipmentWorkflow ----
    print("ShipmentImportWorkflow, OrderShipmentWorkflow")
    from tgflow.contracts.ids import shipment_workflow_id
    from tgflow.contracts.shipments import ShipmentSyncResult
    from tgflow.service.shipments import start_import as start_shipment_import

    settings.shipments.retry_initial_seconds = 0.2
    settings.shipments.retry_max_seconds = 1.0
    order = f360.create_order(lines=2)
    tg_order = await export_for_record(client, settings, f360, tg, order, "recorded-to-ship")
    shipped = tg.ship_order(tg_order["id"], carrier="Swiss Post", tracking_number="99.00.1.RECORDED1")
    [parcel] = shipped["shipments"]
    ih = await start_shipment_import(client, settings)
    report = await ih.result()
    assert (report.status, report.fulfilled, report.failed) == ("completed", 1, 0), report
    assert [f["tracking_number"] for f in f360.order(order["id"])["fulfillments"]] == ["99.00.1.RECORDED1"]
    await rec.save("shipment_import_completed", ih.id, ih.result_run_id)
    sh = client.get_workflow_handle(shipment_workflow_id(shop, parcel["id"]), result_type=ShipmentSyncResult)
    assert (await sh.result()).status == "fulfilled"
    await rec.save("shipment_fulfilled", sh.id)


async def adjustment_scenarios(rec: Recorder, client: Client, settings: Settings, tg, f360, shop: str) -> None:
    # ---- OrderAdjustmentsWorkflow, OrderAdjustmentWorkflow ----
    print("OrderAdjustmentsWorkflow, OrderAdjustmentWorkflow")
    from tgflow.contracts.ids import adjustment_workflow_id
    from tgflow.service.adjustments import start_adjustments

    order = f360.create_order(lines=2)
    tg_order = await export_for_record(client, settings, f360, tg, order, "recorded-to-adjust")
    refund = f360.refund_order(order["id"], amount="5.00")
    f360.cancel_order(order["id"])
    ah = await start_adjustments(client, settings, order["id"])
    result = await ah.result()
    assert [(r.kind, r.status) for r in result.results] == [("refund", "done"), ("cancel", "done")], result
    assert [n["external_ref"] for n in tg.credit_notes() if n["order_id"] == tg_order["id"]] == [
        f"{order['number']}-R{refund['id']}"]
    assert tg.orders()[tg_order["id"] - 1]["status"] == "cancelled"
    await rec.save("adjustments_refund_and_cancel", ah.id, ah.result_run_id)
    await rec.save("adjustment_refund_credited", adjustment_workflow_id(shop, order["id"], "refund", refund["id"]))
    await rec.save("adjustment_cancelled", adjustment_workflow_id(shop, order["id"], "cancel"))

    # more than is left to credit: a person credited the whole order by hand in TotalGest, TotalGest refuses
    order = f360.create_order(lines=1)
    tg_order = await export_for_record(client, settings, f360, tg, order, "recorded-refused")
    rate = tg_order["lines"][0]["vat_rate"]
    tg._create_credit_note({"order_id": tg_order["id"], "external_ref": "BY-HAND", "reason": "by hand",
                            "restock": False, "total_gross": tg_order["total_gross"], "lines": [
                                {"article_code": None, "quantity": "1", "vat_rate": rate,
                                 "amount_gross": tg_order["total_gross"]}]})
    refund = f360.refund_order(order["id"], amount="1.00")
    ah = await start_adjustments(client, settings, order["id"])
    result = await ah.result()
    [failed] = result.results
    assert failed.status == "failed" and "exceeds what order" in (failed.reason or ""), result
    assert [n["external_ref"] for n in tg.credit_notes() if n["order_id"] == tg_order["id"]] == ["BY-HAND"]
    await rec.save("adjustments_refund_refused", ah.id, ah.result_run_id)
    await rec.save("adjustment_refund_refused", adjustment_workflow_id(shop, order["id"], "refund", refund["id"]))


#: The groups of scenarios, run in this order against one server and one pair of simulators, with the names of
#: the histories each records (``None``: not declared; such a group runs for any name no group declares).
GROUPS: list[tuple[Callable[..., Awaitable[None]], tuple[str, ...] | None]] = [
    (scenarios, None),
    (shipment_scenarios, ("shipment_import_completed", "shipment_fulfilled")),
    (adjustment_scenarios, ("adjustments_refund_and_cancel", "adjustment_refund_credited", "adjustment_cancelled",
                            "adjustments_refund_refused", "adjustment_refund_refused")),
]


def groups_to_run(only: set[str] | None) -> list[Callable[..., Awaitable[None]]]:
    declared = {name for _, names in GROUPS for name in names or ()}
    undeclared = only is None or bool(only - declared)
    return [group for group, names in GROUPS
            if only is None or (names is None and undeclared) or (names is not None and only & set(names))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--suffix", default="", help="appended to each file name (e.g. _v2), to add a release's "
                        "histories beside the older ones")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="record and write only these histories (names "
                        "without .json, e.g. shipment_fulfilled); the other files are left as recorded")
    args = parser.parse_args()
    asyncio.run(record(args.out, args.suffix, set(args.only) if args.only else None))


if __name__ == "__main__":
    main()
