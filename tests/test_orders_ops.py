"""Operator tools of the order export: metrics of a real worker process, `tgflow orders retry`,
`tgflow drift-report` (and its former name `tgflow reconcile`). Every check is about what the simulators (and the status store) hold."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from tests.test_metrics import WorkerProcess, cli_env, scrape_until, tgflow_cli, total
from tgflow.clients._http import SAFE_MAX_RETRY_AFTER_SECONDS
from tgflow.service.orders import export_orders_now
from tgflow.sim.server import free_port
from tgflow.store import orders as ostore

SHOP = "1001"


def fast(settings) -> None:
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0


def tg_refs(tg_sim) -> Counter:
    return Counter(o["external_ref"] for o in tg_sim.sim.orders())


def add_article(tg, code: str) -> None:
    """The cause of an `unknown SKU` failure, fixed in TotalGest: an article with that code."""
    article = dict(tg.article("ART-00001"))
    article.pop("id", None)
    tg.upsert_article(article | {"code": code, "name": f"Article {code}"})


async def test_worker_metrics_count_order_outcomes_retries_and_latency(client, settings, tmp_path, tg_sim, f360_sim):
    fast(settings)
    port = free_port()
    good = [f360_sim.sim.create_order() for _ in range(5)]
    bad = f360_sim.sim.create_order(problem="unknown_sku")
    with WorkerProcess(settings, tmp_path, TGFLOW_METRICS__PORT=str(port)) as worker:
        # A Retry-After the client does not wait out itself (longer than SAFE_MAX_RETRY_AFTER_SECONDS): the export
        # step fails once and is retried after it (counted as an order retry).
        tg_sim.sim.set_faults(rate_limit_burst=1, retry_after_seconds=int(SAFE_MAX_RETRY_AFTER_SECONDS) + 1)
        report = await export_orders_now(client, settings, [o["id"] for o in [*good, bad]])
        tg_sim.sim.set_faults()
        assert report.succeeded == 5 and report.failed == 1, report
        samples = await scrape_until(port, lambda s: total(s, "tgflow_orders") >= 6
                                     and total(s, "tgflow_order_export_latency_seconds_count") >= 5)
        assert total(samples, "tgflow_orders", outcome="linked") == 5
        assert total(samples, "tgflow_orders", outcome="failed") == 1
        assert total(samples, "tgflow_order_retries") >= 1
        assert total(samples, "tgflow_rate_limit_waits", api="TotalGest") == 1
        assert total(samples, "tgflow_order_export_latency_seconds_count") == 5
        # Latency is measured from the order's completion in the shop: positive, in seconds (buckets 1 s … 1 day).
        assert 0 < total(samples, "tgflow_order_export_latency_seconds_sum") < 5 * 600
        buckets = {float(lab["le"]) for n, lab, _ in samples if n == "tgflow_order_export_latency_seconds_bucket"}
        assert {60.0, 3600.0, 86400.0} <= buckets, buckets

        # Exporting them again creates nothing and counts `already_linked`.
        again = await export_orders_now(client, settings, [o["id"] for o in good])
        assert again.already_linked == 5
        after = await scrape_until(port, lambda s: total(s, "tgflow_orders", outcome="already_linked") >= 5)
        assert total(after, "tgflow_orders", outcome="already_linked") == 5
        assert total(after, "tgflow_orders", outcome="linked") == 5
        assert total(after, "tgflow_order_export_latency_seconds_count") == 5
        assert all(tg_refs(tg_sim)[o["number"]] == 1 for o in good)
        worker.stop()


async def test_orders_retry_failed_after_fixing_the_cause(client, settings, tmp_path, worker, tg_sim, f360_sim, store):
    fast(settings)
    env = cli_env(settings, tmp_path)
    sim = f360_sim.sim
    bad = sim.create_order(problem="unknown_sku", lines=2)
    good = sim.create_order()
    report = await export_orders_now(client, settings, [bad["id"], good["id"]])
    assert report.failed == 1 and "NOPE-404" in report.failures[0].reason

    # Nothing fixed yet: the retry fails again with the same reason, exit code 1.
    proc = await asyncio.to_thread(tgflow_cli, env, "orders", "retry", "--failed", "--wait", "--json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["failed"] == 1 and out["failures"][0]["number"] == bad["number"]
    assert tg_refs(tg_sim)[bad["number"]] == 0

    add_article(tg_sim.sim, "NOPE-404")
    proc = await asyncio.to_thread(tgflow_cli, env, "orders", "retry", "--failed", "--wait", "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out = json.loads(proc.stdout)
    assert out["total"] == 1 and out["succeeded"] == 1 and out["linked"][0]["number"] == bad["number"]
    assert tg_refs(tg_sim)[bad["number"]] == 1 and tg_refs(tg_sim)[good["number"]] == 1
    tg_order = next(o for o in tg_sim.sim.orders() if o["external_ref"] == bad["number"])
    assert tg_order["lines"][0]["article_code"] == "NOPE-404"
    status = sim.order(bad["id"])["integrations"]["totalgest"]
    assert status["status"] == "linked" and status["remote_id"] == tg_order["number"]
    link = ostore.get_link(store, SHOP, bad["id"])
    assert link.status == "linked" and [a.outcome for a in ostore.attempts(store, SHOP, bad["id"])] == [
        "failed", "failed", "linked"]

    # Nothing failed any more; naming an order by number re-drives it and reports it already linked.
    proc = await asyncio.to_thread(tgflow_cli, env, "orders", "retry", "--failed", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["total"] == 0
    proc = await asyncio.to_thread(tgflow_cli, env, "orders", "retry", bad["number"], "--wait")
    assert proc.returncode == 0 and "1 already linked" in proc.stdout, (proc.stdout, proc.stderr)
    assert tg_refs(tg_sim)[bad["number"]] == 1
    # Usage errors are one line and exit 2.
    proc = await asyncio.to_thread(tgflow_cli, env, "orders", "retry")
    assert proc.returncode == 2 and "--failed" in proc.stderr


async def test_reconcile_reports_each_drift_and_fix_clears_it(client, settings, tmp_path, worker, tg_sim, f360_sim,
                                                              store):
    from decimal import Decimal

    from tgflow.clients.framework360 import Framework360Client, IntegrationStatus, ProductInput, ProductUpdate
    from tgflow.service.products import start_import

    fast(settings)
    tg, f360 = tg_sim.sim, f360_sim.sim
    env = cli_env(settings, tmp_path)
    # A synced baseline: the catalog imported, every completed shop order exported, the stock settled.
    await start_import(client, settings, wait=True, workflow_id="reconcile-baseline-1")
    completed = [o["id"] for o in f360.orders() if o["status"] == "completed"]
    baseline = await export_orders_now(client, settings, completed)
    assert baseline.failed == 0, baseline.failures
    await start_import(client, settings, wait=True, workflow_id="reconcile-baseline-2")
    proc = await asyncio.to_thread(tgflow_cli, env, "drift-report", "--json")
    clean = json.loads(proc.stdout)
    assert proc.returncode == 0 and clean["drift"] == 0, clean
    assert clean["orders_checked"] == len(completed) and clean["products_checked"] == 300

    # Drift on both sides.
    products = {p["sku"]: p for p in f360.products()}
    async with Framework360Client(settings.f360) as api:
        await api.batch_products(update=[
            ProductUpdate(id=products["ART-00003"]["id"], price=Decimal("1.23")),
            ProductUpdate(id=products["ART-00004"]["id"], stock_quantity=products["ART-00004"]["stock_quantity"] + 5),
            ProductUpdate(id=products["ART-00005"]["id"], ean="0000000000000"),
        ], create=[ProductInput(sku="ONLY-F360", name="Shop only", price=Decimal("5.00"), vat_rate=Decimal("8.1"),
                                status="published")])
        relinked = completed[0]
        await api.set_order_status(relinked, IntegrationStatus(status="not_linked"))
    add_article(tg, "ART-NEW01")
    missing = f360.create_order(lines=1)  # completed, never exported (no webhook receiver here)

    proc = await asyncio.to_thread(tgflow_cli, env, "reconcile", "--json")
    assert proc.returncode == 1, proc.stderr
    r = json.loads(proc.stdout)
    assert [d["number"] for d in r["missing_in_totalgest"]] == [missing["number"]]
    assert [(d["order_id"], d["f360_column"]) for d in r["not_linked"]] == [(relinked, "not_linked")]
    diffs = {(d["sku"], f["field"]): (f["framework360"], f["totalgest"]) for d in r["products"] for f in d["diffs"]}
    assert diffs[("ART-00003", "price")][0] == "1.23"
    assert Decimal(diffs[("ART-00003", "price")][1]) == Decimal(tg.article("ART-00003")["price_gross"])
    assert diffs[("ART-00004", "stock")][0] == str(products["ART-00004"]["stock_quantity"] + 5)
    assert diffs[("ART-00005", "ean")] == ("0000000000000", tg.article("ART-00005")["ean"] or None)
    # The unexported order reserves its SKU's stock (as the import would): that shows as stock drift too.
    sku = missing["line_items"][0]["sku"]
    assert {k for k in diffs} <= {("ART-00003", "price"), ("ART-00004", "stock"), ("ART-00005", "ean"),
                                  (sku, "stock")}, diffs
    assert r["only_in_totalgest"] == ["ART-NEW01"] and r["only_in_framework360"] == ["ONLY-F360"]
    # Human output names each of them too.
    proc = await asyncio.to_thread(tgflow_cli, env, "reconcile")
    for text in (missing["number"], "ART-00003", "ART-00004", "ART-00005", "ART-NEW01", "ONLY-F360",
                 "missing in TotalGest", "status column not linked"):
        assert text in proc.stdout, (text, proc.stdout)

    # --fix re-drives every fixable drift and waits; the shop-only product needs a person.
    proc = await asyncio.to_thread(tgflow_cli, env, "drift-report", "--fix", "--json", timeout=120)
    fixed = json.loads(proc.stdout)["fixed"]
    assert fixed["orders"]["succeeded"] == 1 and fixed["orders"]["already_linked"] == 1, fixed
    assert fixed["import"]["errors"] == 0 and "ONLY-F360" in fixed["not_fixable"][0]
    assert tg_refs(tg_sim)[missing["number"]] == 1
    assert tg_refs(tg_sim)[f360.order(relinked)["number"]] == 1
    assert f360.order(relinked)["integrations"]["totalgest"]["status"] == "linked"
    assert f360.product_by_sku("ART-NEW01") is not None
    assert Decimal(f360.product_by_sku("ART-00003")["price"]) == Decimal(tg.article("ART-00003")["price_gross"])

    async with Framework360Client(settings.f360) as api:  # the person drafts the shop-only product
        await api.batch_products(update=[ProductUpdate(id=f360.product_by_sku("ONLY-F360")["id"], status="draft")])
    proc = await asyncio.to_thread(tgflow_cli, env, "reconcile", "--json")
    after = json.loads(proc.stdout)
    assert proc.returncode == 0 and after["drift"] == 0, after
    proc = await asyncio.to_thread(tgflow_cli, env, "reconcile", "--since", "yesterday")
    assert proc.returncode == 2 and "--since" in proc.stderr
