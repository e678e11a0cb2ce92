"""Cancellations and refunds Framework360 → TotalGest against both simulators and a real worker:
what arrives in TotalGest (credit notes, cancelled orders, stock), exactly once, and what a person sees."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

import httpx
import pytest
from temporalio.client import WorkflowFailureError

from tests.test_order_export import assert_no_private_data, export_one, fast, history_text, wait_for
from tgflow.clients.framework360 import sign
from tgflow.service.adjustments import retry_failed_adjustments, start_adjustment, start_adjustments
from tgflow.store import adjustments as astore
from tgflow.webhook import create_app

SHOP = "1001"


@pytest.fixture(autouse=True)
def fresh_order_ids(f360_sim):
    """Workflow ids are business keys and the Temporal server lives for the whole session: start this test's
    shop orders at ids no other test used, as a real shop's would be."""
    f360_sim.sim._next_order_id = 1000 + uuid.uuid4().int % 10**8


def notes_by_ref(tg_sim) -> Counter:
    return Counter(n["external_ref"] for n in tg_sim.sim.credit_notes())


def tg_order_of(tg_sim, number: str) -> dict:
    [order] = [o for o in tg_sim.sim.orders() if o["external_ref"] == number]
    return order


async def exported(client, settings, f360_sim, **kw) -> dict:
    order = f360_sim.sim.create_order(**kw)
    assert (await export_one(client, settings, order["id"])).status == "linked"
    return order


async def handle(client, settings, order_id: int):
    return await (await start_adjustments(client, settings, order_id)).result()


async def test_refund_of_lines_becomes_one_credit_note_by_sku_and_a_second_run_adds_nothing(
        client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    order = await exported(client, settings, f360_sim, lines=3)
    first = order["line_items"][0]
    refund = f360_sim.sim.refund_order(order["id"], line_items=[{"line_item_id": first["id"], "quantity": 1}],
                                       restock=True)
    before = tg_sim.sim.sellable(first["sku"])
    result = await handle(client, settings, order["id"])
    [done] = result.results
    assert done.status == "done" and done.tg_credit_note_number

    ref = f"{order['number']}-R{refund['id']}"
    [note] = [n for n in tg_sim.sim.credit_notes() if n["external_ref"] == ref]
    assert note["order_id"] == tg_order_of(tg_sim, order["number"])["id"] and note["restock"] is True
    assert [(li["article_code"], Decimal(li["quantity"]), Decimal(li["amount_gross"]), Decimal(li["vat_rate"]))
            for li in note["lines"]] == [(first["sku"], Decimal(1), Decimal(refund["amount"]),
                                          Decimal(first["vat_rate"]))]
    assert tg_sim.sim.sellable(first["sku"]) == before + 1
    row = {r.key: r for r in astore.for_order(store, SHOP, order["id"])}[f"R{refund['id']}"]
    assert row.status == "done" and row.tg_credit_note_number == note["number"]

    # the same event again (a redelivered webhook, a reconciliation): nothing new in TotalGest
    again = await handle(client, settings, order["id"])
    assert again.results == []
    assert notes_by_ref(tg_sim)[ref] == 1
    text = await history_text(client, f"order-refund-{SHOP}-{order['id']}-{refund['id']}")
    assert_no_private_data(text, [order], settings)


async def test_amount_only_refund_is_split_across_vat_rates_summing_exactly(client, settings, worker, tg_sim,
                                                                            f360_sim):
    fast(settings)
    order = await exported(client, settings, f360_sim, lines=4)
    refund = f360_sim.sim.refund_order(order["id"], amount="10.01", reason="goodwill")
    await handle(client, settings, order["id"])
    [note] = [n for n in tg_sim.sim.credit_notes() if n["external_ref"] == f"{order['number']}-R{refund['id']}"]
    assert all(li["article_code"] is None for li in note["lines"]) and note["restock"] is False
    assert sum(Decimal(li["amount_gross"]) for li in note["lines"]) == Decimal(note["total_gross"]) == Decimal("10.01")
    rates = {Decimal(li["vat_rate"]) for li in order["line_items"]}
    assert {Decimal(li["vat_rate"]) for li in note["lines"]} <= rates


async def test_cancel_of_an_open_order_cancels_it_in_totalgest(client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    order = await exported(client, settings, f360_sim)
    f360_sim.sim.cancel_order(order["id"])
    result = await handle(client, settings, order["id"])
    assert [r.status for r in result.results] == ["done"]
    assert tg_order_of(tg_sim, order["number"])["status"] == "cancelled"
    assert tg_sim.sim.credit_notes() == []
    assert astore.keys_of(store, SHOP, order["id"]) == {"cancel": "done"}


async def test_cancel_of_a_partly_shipped_order_credits_everything_left_restocking_what_did_not_ship(
        client, settings, worker, tg_sim, f360_sim):
    fast(settings)
    order = await exported(client, settings, f360_sim, lines=2)
    tg = tg_order_of(tg_sim, order["number"])
    shipped_code = tg["lines"][0]["article_code"]
    other_code = tg["lines"][1]["article_code"]
    tg_sim.sim.ship_order(tg["id"], lines=[{"article_code": shipped_code, "quantity": tg["lines"][0]["quantity"]}])
    refund = f360_sim.sim.refund_order(order["id"], amount="5.00")  # credited first, then the rest
    f360_sim.sim.cancel_order(order["id"])
    stock_before = tg_sim.sim.sellable(other_code)
    result = await handle(client, settings, order["id"])
    assert [(r.kind, r.status) for r in result.results] == [("refund", "done"), ("cancel", "done")]
    assert tg_order_of(tg_sim, order["number"])["status"] == "invoiced"  # not cancellable: credited instead
    notes = {n["external_ref"]: n for n in tg_sim.sim.credit_notes()}
    assert set(notes) == {f"{order['number']}-R{refund['id']}", f"{order['number']}-C"}
    assert sum(Decimal(n["total_gross"]) for n in notes.values()) == Decimal(tg["total_gross"])
    cancel = notes[f"{order['number']}-C"]
    assert cancel["restock"] is True
    assert {li["article_code"] for li in cancel["lines"] if li["article_code"]} == {other_code}
    assert tg_sim.sim.sellable(other_code) == stock_before + Decimal(tg["lines"][1]["quantity"])


async def test_refund_larger_than_left_fails_with_reason_and_retry_redrives_after_the_fix(
        client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    order = await exported(client, settings, f360_sim, lines=2)
    line = order["line_items"][0]
    # the SKU was changed in the shop after the export: TotalGest's order does not have it
    f360_sim.sim.patch_order(order["id"], lambda o: o["line_items"][0].update(sku="GONE-1"))
    refund = f360_sim.sim.refund_order(order["id"], line_items=[{"line_item_id": line["id"], "quantity": 1}])
    result = await handle(client, settings, order["id"])
    [failed] = result.results
    assert failed.status == "failed" and "SKU GONE-1 is not on TotalGest order" in failed.reason
    [row] = astore.failed(store, SHOP)
    assert row.f360_number == order["number"] and "GONE-1" in row.last_error
    assert tg_sim.sim.credit_notes() == []
    # a second event does not re-run a failed one by itself; the retry does, once the cause is fixed
    assert (await handle(client, settings, order["id"])).results == []
    f360_sim.sim.patch_order(order["id"], lambda o: o["line_items"][0].update(sku=line["sku"]))
    [h] = await retry_failed_adjustments(client, settings, store)
    assert (await h.result()).status == "done"
    assert notes_by_ref(tg_sim) == Counter({f"{order['number']}-R{refund['id']}": 1})
    assert astore.failed(store, SHOP) == []

    # more than is left to credit: TotalGest refuses, the reason names total_gross
    tg = tg_order_of(tg_sim, order["number"])
    other = f360_sim.sim.refund_order(order["id"], amount="1.00")
    by_hand = str(Decimal(tg["total_gross"]) - Decimal(refund["amount"]))  # a person credited the rest in TotalGest
    tg_sim.sim._create_credit_note({"order_id": tg["id"], "external_ref": "BY-HAND", "reason": "by hand",
                                    "restock": False, "total_gross": by_hand, "lines": [
                                        {"article_code": None, "quantity": "1", "vat_rate": line["vat_rate"],
                                         "amount_gross": by_hand}]})
    handle_ = await start_adjustment(client, settings, order["id"], "refund", other["id"])
    with pytest.raises(WorkflowFailureError):
        await handle_.result()
    [row] = astore.failed(store, SHOP)
    assert row.refund_id == other["id"] and "exceeds what order" in row.last_error
    assert f"{order['number']}-R{other['id']}" not in notes_by_ref(tg_sim)


async def test_totalgest_5xx_and_lost_acknowledgements_still_credit_exactly_once(client, settings, worker, tg_sim,
                                                                                 f360_sim):
    fast(settings)
    orders = [await exported(client, settings, f360_sim, lines=2) for _ in range(4)]
    refunds = [f360_sim.sim.refund_order(o["id"], amount="3.00") for o in orders]
    for o in orders[:2]:
        f360_sim.sim.cancel_order(o["id"])  # both open in TotalGest: cancelled there
    tg_sim.sim.invoice_order(tg_order_of(tg_sim, orders[1]["number"])["id"])  # invoiced: credited instead
    tg_sim.sim.set_faults(error_rate=0.3, error_after_commit_rate=0.4)
    for o in orders:
        await handle(client, settings, o["id"])
    tg_sim.sim.set_faults()
    refs = notes_by_ref(tg_sim)
    assert all(refs[f"{o['number']}-R{r['id']}"] == 1 for o, r in zip(orders, refunds))
    assert refs[f"{orders[1]['number']}-C"] == 1 and f"{orders[0]['number']}-C" not in refs
    assert tg_order_of(tg_sim, orders[0]["number"])["status"] == "cancelled"
    assert sum(refs.values()) == 5


async def test_webhooks_and_redeliveries_start_the_handling_once(client, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    order = await exported(client, settings, f360_sim)
    refund = f360_sim.sim.refund_order(order["id"], amount="2.00")
    app = create_app(settings, client, store=store)
    secret = settings.f360.webhook_secret.get_secret_value()
    body = (b'{"id": "evt_r1", "type": "order.refunded", "created_at": "2026-01-01T00:00:00+00:00", '
            b'"site_id": "x", "data": {"order_id": %d}}' % order["id"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
        for _ in range(3):  # delivered three times
            response = await http.post("/webhooks/framework360", content=body,
                                       headers={"X-F360-Signature": sign(secret, body)})
            assert response.status_code == 202
    ref = f"{order['number']}-R{refund['id']}"
    await wait_for(lambda: astore.keys_of(store, SHOP, order["id"]).get(f"R{refund['id']}") == "done",
                   what="the refund credited")
    # a new app (restarted receiver: its memory of event ids is gone) gets it again: still one credit note
    app = create_app(settings, client, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
        assert (await http.post("/webhooks/framework360", content=body,
                                headers={"X-F360-Signature": sign(secret, body)})).status_code == 202
    await (await start_adjustments(client, settings, order["id"])).result()
    assert notes_by_ref(tg_sim) == Counter({ref: 1})


async def test_reconciliation_catches_lost_cancel_and_refund_webhooks(client, settings, worker, tg_sim, f360_sim,
                                                                      store):
    from tgflow.service.orders import reconcile_now

    fast(settings)
    cancelled = await exported(client, settings, f360_sim)
    refunded = await exported(client, settings, f360_sim, lines=2)
    untouched = await exported(client, settings, f360_sim)
    # no webhook reaches tgflow (none subscribed): only the reconciliation can notice
    f360_sim.sim.cancel_order(cancelled["id"])
    refund = f360_sim.sim.refund_order(refunded["id"], amount="4.00")
    result = await reconcile_now(client, settings)
    assert result.adjustments == 2
    await wait_for(lambda: astore.keys_of(store, SHOP, cancelled["id"]) == {"cancel": "done"}
                   and astore.keys_of(store, SHOP, refunded["id"]) == {f"R{refund['id']}": "done"},
                   what="cancel and refund handled")
    assert tg_order_of(tg_sim, cancelled["number"])["status"] == "cancelled"
    assert notes_by_ref(tg_sim) == Counter({f"{refunded['number']}-R{refund['id']}": 1})
    assert astore.keys_of(store, SHOP, untouched["id"]) == {}
    # the next run reads the same orders again (overlap): nothing new in TotalGest
    await reconcile_now(client, settings)
    assert notes_by_ref(tg_sim) == Counter({f"{refunded['number']}-R{refund['id']}": 1})


async def test_an_order_cancelled_before_export_is_never_exported_and_not_a_failure(client, settings, worker, tg_sim,
                                                                                   f360_sim, store):
    from tgflow.service.orders import export_orders_now
    from tgflow.store import orders as ostore

    fast(settings)
    order = f360_sim.sim.create_order()
    f360_sim.sim.cancel_order(order["id"])  # before the queue got to it
    result = await export_one(client, settings, order["id"])
    assert result.status == "cancelled"
    assert [o for o in tg_sim.sim.orders() if o["external_ref"] == order["number"]] == []
    link = ostore.get_link(store, SHOP, order["id"])
    assert link.status == "cancelled" and link.last_error is None
    assert ostore.list_links(store, SHOP, "failed") == []
    assert [a.outcome for a in ostore.attempts(store, SHOP, order["id"])] == ["cancelled"]
    status = f360_sim.sim.order(order["id"])["integrations"]["totalgest"]
    assert status["status"] == "not_linked" and status["message"] == "cancelled in the shop before export"
    report = await export_orders_now(client, settings, [order["id"]])
    assert report.failed == 0 and report.succeeded == 0 and [c.number for c in report.cancelled] == [order["number"]]
    assert [o for o in tg_sim.sim.orders() if o["external_ref"] == order["number"]] == []


async def test_refused_refund_in_orders_show_list_status_and_retry_human_and_json(client, settings, tmp_path, worker,
                                                                                  tg_sim, f360_sim, store):
    """What a person sees of cancellations/refunds (`orders show`, `orders list --status failed`, `status`) and
    `orders retry` re-driving a refused refund once its cause is fixed: one credit note in TotalGest."""
    import asyncio
    import json
    import re

    from tests.test_cli_human import each, fits, hints, pipe, run_hint
    from tests.test_metrics import cli_env

    def fits_but_links(out) -> None:  # the Web UI link is never folded (a link to click or paste)
        if out.mode == "pipe":
            assert not [ln for ln in out.stdout.splitlines() if len(ln) > 80 and not ln.startswith("Web UI:")]

    fast(settings)
    env = cli_env(settings, tmp_path)
    good = await exported(client, settings, f360_sim, lines=2)
    bad = await exported(client, settings, f360_sim, lines=2)
    done_refund = f360_sim.sim.refund_order(good["id"], amount="4.00", reason="goodwill")
    line = bad["line_items"][0]
    f360_sim.sim.patch_order(bad["id"], lambda o: o["line_items"][0].update(sku="GONE-9"))
    bad_refund = f360_sim.sim.refund_order(bad["id"], line_items=[{"line_item_id": line["id"], "quantity": 1}])
    await asyncio.gather(handle(client, settings, good["id"]), handle(client, settings, bad["id"]))
    [note] = tg_sim.sim.credit_notes()
    assert note["external_ref"] == f"{good['number']}-R{done_refund['id']}"

    # orders show: the table of cancellations/refunds, with the credit note and the reason
    shown = json.loads((await pipe(env, "orders", "show", good["number"], "--json")).stdout)
    [adj] = shown["adjustments"]
    assert (adj["kind"], adj["refund_id"], adj["status"], adj["tg_credit_note_number"], adj["reason"]) == (
        "refund", done_refund["id"], "done", note["number"], None)
    assert shown["adjustment_error"] is None and shown["column"].startswith("Linked")
    for out in await each(env, "orders", "show", good["number"]):
        assert out.code == 0, out
        fits_but_links(out)
        flat = " ".join(out.stdout.split())
        assert "Cancellation and refunds" in flat and note["number"] in flat and "done" in flat, flat
        assert not [h for h in hints(out.stdout) if "retry" in h]
    shown = json.loads((await pipe(env, "orders", "show", bad["number"], "--json")).stdout)
    [adj] = shown["adjustments"]
    assert (adj["kind"], adj["refund_id"], adj["status"], adj["tg_credit_note_number"]) == (
        "refund", bad_refund["id"], "failed", None)
    assert "GONE-9" in adj["reason"] and shown["column"].startswith(f"Refund {bad_refund['id']} failed: ")
    for out in await each(env, "orders", "show", bad["number"]):
        assert out.code == 0, out
        fits_but_links(out)
        flat = " ".join(out.stdout.split())
        assert "failed" in flat and "GONE-9" in flat and str(bad_refund["id"]) in flat, flat
        assert hints(out.stdout) == [f"tgflow orders retry {bad['number']} --wait"], out.stdout

    # orders list --status failed: the refused refund puts the linked order there, with its reason
    listed = json.loads((await pipe(env, "orders", "list", "--status", "failed", "--json")).stdout)
    assert [o["number"] for o in listed] == [bad["number"]]
    assert listed[0]["status"] == "linked"  # the reason, without repeating the refund and the order it names
    assert listed[0]["adjustment_error"].startswith(f"Refund {bad_refund['id']} failed: SKU GONE-9 is not on"), listed
    for out in await each(env, "orders", "list", "--status", "failed"):
        assert out.code == 0, out
        fits(out)
        [row] = [ln for ln in out.stdout.splitlines() if bad["number"] in ln and "│" in ln]
        assert row.split("│")[3].strip().startswith("Refund") and good["number"] not in out.stdout, out.stdout
        if out.mode == "tty":  # in a pipe at 80 columns the reason is cut with "…" (`orders show` has it)
            assert f"Refund {bad_refund['id']} failed" in row and "GONE-9" in row, row
        assert f"`tgflow orders show {bad['number']}`" in out.stdout

    # status: the counts and the oldest refused one, in JSON and for people
    status = json.loads((await pipe(env, "status", "--json")).stdout)
    assert status["adjustments"] == {"pending": 0, "done": 1, "skipped": 0, "failed": 1}
    assert status["oldest_failed_adjustment"]["number"] == bad["number"]
    for out in await each(env, "status"):
        assert out.code == 1, out
        flat = " ".join(out.stdout.split())
        assert re.search(r"cancels/refunds\s*│\s*1\s*│\s*0\s*│\s*1\s*│", out.stdout), out.stdout
        assert f"oldest refused refund {bad_refund['id']} of order {bad['number']}" in flat and "GONE-9" in flat

    # retry before the fix: refused again (exit 1, the reason), nothing credited
    again = await pipe(env, "orders", "retry", "--failed", "--wait", "--json")
    assert again.code == 1, again
    [redriven] = json.loads(again.stdout)["adjustments"]
    assert redriven["status"] == "failed" and "GONE-9" in redriven["reason"]
    assert len(tg_sim.sim.credit_notes()) == 1
    # the cause fixed in the shop: the hint of `orders show`, as pasted, credits it once
    f360_sim.sim.patch_order(bad["id"], lambda o: o["line_items"][0].update(sku=line["sku"]))
    fixed = await run_hint(env, f"tgflow orders retry {bad['number']} --wait")
    assert fixed.code == 0, fixed
    assert f"refund {bad_refund['id']} of {bad['number']}" in fixed.stderr and "credit note" in fixed.stderr, fixed
    assert notes_by_ref(tg_sim) == Counter({f"{good['number']}-R{done_refund['id']}": 1,
                                            f"{bad['number']}-R{bad_refund['id']}": 1})
    assert astore.keys_of(store, SHOP, bad["id"]) == {f"R{bad_refund['id']}": "done"}
    listed = json.loads((await pipe(env, "orders", "list", "--status", "failed", "--json")).stdout)
    assert listed == []
    nothing = await pipe(env, "orders", "retry", "--failed", "--json")
    assert nothing.code == 0 and json.loads(nothing.stdout)["total"] == 0
    assert len(tg_sim.sim.credit_notes()) == 2
