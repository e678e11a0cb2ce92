"""Product import TotalGest -> Framework360 end to end: real worker, real Temporal dev server, both simulators.

Every assertion is about what the Framework360 simulator (or the status store) holds afterwards.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from tgflow.clients.framework360 import Framework360Client, IntegrationStatus
from tgflow.service.products import start_import
from tgflow.store import products as pstore

CODES = [f"ART-{i:05d}" for i in range(1, 301)]


async def run_import(client, settings, *, full: bool = False):
    return await start_import(client, settings, full=full, wait=True,
                              workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")


def reserved_in_shop(f360) -> dict[str, int]:
    """Units of completed shop orders not (yet) registered in TotalGest, per SKU."""
    out: dict[str, int] = {}
    for order in f360.orders():
        status = ((order.get("integrations") or {}).get("totalgest") or {}).get("status")
        if order["status"] != "completed" or status == "linked":
            continue
        for line in order["line_items"]:
            if line.get("sku"):
                out[line["sku"]] = out.get(line["sku"], 0) + int(line["quantity"])
    return out


def expected_stock(tg, f360, code: str, warehouses=None) -> int:
    return max(0, tg.sellable(code, warehouses) - reserved_in_shop(f360).get(code, 0))


def assert_mirrors(tg, f360, code: str, warehouses=None) -> None:
    article = tg.article(code)
    product = f360.product_by_sku(code)
    assert product is not None, f"{code} missing in Framework360"
    assert product["name"] == article["name"].strip()
    assert product["description"] == (article["description"] or None)
    assert product["short_description"] == (article["short_description"] or None)
    assert Decimal(product["price"]) == Decimal(article["price_gross"]).quantize(Decimal("0.01"))
    assert Decimal(product["vat_rate"]) == Decimal(article["vat_rate"])
    assert product["ean"] == (article["ean"] or None)
    assert product["status"] == ("published" if article["active"] else "draft")
    assert product["manage_stock"] is True
    assert product["stock_quantity"] == expected_stock(tg, f360, code, warehouses), code
    assert product["integrations"]["totalgest"]["status"] == "linked"


def writes(f360) -> dict[str, int]:
    s = f360.stats()
    return {k: s[k] for k in ("batch_calls", "products_created", "products_updated", "product_integration_puts")}


async def test_first_run_mirrors_catalog_second_writes_nothing_then_exactly_the_touched(
        client, settings, tg_sim, f360_sim, store, worker):
    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.products.article_page_size = 120  # several pages and batches

    report = await run_import(client, settings)
    assert (report.created, report.errors, report.articles_read) == (300, 0, 300), report
    assert len(f360.products()) == 300
    for code in CODES:
        assert_mirrors(tg, f360, code)
    assert len(pstore.list_links(store, settings.totalgest.shop_id, status="linked")) == 300
    cursors = {c["name"]: c["value"] for c in pstore.list_cursors(store, settings.totalgest.shop_id)}
    assert cursors["articles"] is not None and cursors["articles"].utcoffset().total_seconds() == 0
    assert cursors["articles"] < report.started_at  # moved back by the overlap

    f360.reset_stats()
    report = await run_import(client, settings)
    assert writes(f360) == {"batch_calls": 0, "products_created": 0, "products_updated": 0,
                            "product_integration_puts": 0}
    assert (report.created, report.updated, report.stock_updated, report.errors) == (0, 0, 0, 0)

    reserved = reserved_in_shop(f360)
    touched = ["ART-00007", "ART-00100", "ART-00250"]
    stocked = [c for c in CODES[150:] if c not in reserved][:2]
    tg.touch_articles(touched[:2], name="Renamed article")
    tg.touch_articles(touched[2:], price_gross="123.45")
    for code in stocked:
        tg.set_stock(code, tg.warehouses[0], tg.sellable(code, [tg.warehouses[0]]) + 37)
    f360.reset_stats()
    report = await run_import(client, settings)
    w = writes(f360)
    assert w["products_updated"] == 5 and w["products_created"] == 0 and w["product_integration_puts"] == 0, w
    assert (report.updated, report.stock_updated, report.errors) == (3, 2, 0), report
    for code in touched + stocked:
        assert_mirrors(tg, f360, code)
    assert f360.product_by_sku("ART-00007")["name"] == "Renamed article"


async def test_bad_articles_inactive_and_rejected_skus(client, settings, tg_sim, f360_sim, store, worker):
    tg, f360 = tg_sim.sim, f360_sim.sim
    shop = settings.totalgest.shop_id
    tg.touch_articles(["ART-00010"], price_gross="abc")
    tg.touch_articles(["ART-00011"], vat_rate="7.7")
    tg.touch_articles(["ART-00012"], active=False)
    nameless = tg.upsert_article({"code": None, "name": "No code here", "price_gross": "5.00",
                                  "vat_code": "N", "vat_rate": tg.vat_rates["N"]})
    f360.reject_skus({"ART-00020": "image required"})

    report = await run_import(client, settings)
    assert report.errors == 4, report.error_samples
    text = "\n".join(report.error_samples)
    assert "ART-00010: price_gross 'abc' is not a number" in text
    assert "ART-00011: vat_rate 7.7" in text
    assert "ART-00020: Framework360 refused it: validation_error: image required" in text
    assert f"TotalGest article {nameless['id']} has no code" in text
    assert f360.product_by_sku("ART-00010") is None and f360.product_by_sku("ART-00020") is None
    assert f360.product_by_sku("ART-00012")["status"] == "draft"
    assert report.created == 297  # 300 + nameless - 4 errors
    errors = {link.sku: link.last_error for link in pstore.list_links(store, shop, status="error")}
    assert set(errors) >= {"ART-00010", "ART-00011", "ART-00020"} and len(errors) == 4

    # The next run tries the refused SKU again without the article changing in TotalGest.
    f360.reject_skus({})
    tg.touch_articles(["ART-00010"], price_gross="10.00")
    report = await run_import(client, settings)
    assert report.errors == 2, report.error_samples  # 7.7 % VAT and the article without code remain
    assert_mirrors(tg, f360, "ART-00020")
    assert_mirrors(tg, f360, "ART-00010")

    # A linked product whose article turns bad shows the reason in its status column.
    tg.touch_articles(["ART-00030"], price_gross="-3")
    report = await run_import(client, settings)
    status = f360.product_by_sku("ART-00030")["integrations"]["totalgest"]
    assert status["status"] == "error" and "negative" in status["message"]


async def test_unexported_orders_reserve_stock(client, settings, tg_sim, f360_sim, store, worker):
    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.totalgest.warehouses = [tg.warehouses[0], tg.warehouses[1]]
    await run_import(client, settings)
    for code in CODES[:50]:
        assert_mirrors(tg, f360, code, settings.totalgest.warehouses)

    order = f360.create_order(status="completed", lines=2)
    skus = [line["sku"] for line in order["line_items"]]
    before = {sku: f360.product_by_sku(sku)["stock_quantity"] for sku in skus}
    f360.reset_stats()
    report = await run_import(client, settings)
    assert report.stock_updated == len([s for s in skus if before[s] > 0])
    for line in order["line_items"]:
        sku = line["sku"]
        assert f360.product_by_sku(sku)["stock_quantity"] == max(0, before[sku] - line["quantity"])
        assert_mirrors(tg, f360, sku, settings.totalgest.warehouses)

    # Once TotalGest has the order (linked), the reservation goes away again.
    async with Framework360Client(settings.f360) as api:
        await api.set_order_status(order["id"], IntegrationStatus(status="linked", remote_id="1"))
    await run_import(client, settings)
    for sku in skus:
        assert f360.product_by_sku(sku)["stock_quantity"] == before[sku]


async def test_full_mode_drafts_products_of_deleted_articles(client, settings, tg_sim, f360_sim, store, worker):
    tg, f360 = tg_sim.sim, f360_sim.sim
    await run_import(client, settings)
    tg.delete_article("ART-00005")
    report = await run_import(client, settings)  # incremental runs cannot see deletions
    assert report.drafted == 0 and f360.product_by_sku("ART-00005")["status"] == "published"
    report = await run_import(client, settings, full=True)
    assert report.drafted == 1 and report.articles_read == 299 and report.errors == 0
    product = f360.product_by_sku("ART-00005")
    assert product is not None and product["status"] == "draft"  # never deleted
    f360.reset_stats()
    report = await run_import(client, settings, full=True)
    assert report.drafted == 0 and writes(f360)["products_updated"] == 0


async def test_totalgest_faults_still_complete_correctly(client, settings, tg_sim, f360_sim, store, worker):
    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.products.article_page_size = 40
    settings.products.stock_page_size = 200
    settings.products.retry_initial_seconds = 0.1
    settings.products.retry_max_seconds = 0.5
    settings.totalgest.timeout_seconds = 1.0

    tg.set_faults(error_rate=0.3, timeout_rate=0.05, timeout_seconds=1.5)
    tg.reset_stats()
    started = time.monotonic()
    report = await run_import(client, settings)
    assert report.errors == 0 and report.created == 300, report
    for code in CODES:
        assert_mirrors(tg, f360, code)
    assert time.monotonic() - started < 60
    # Resumed, not started over: 8 pages of 40 need 8 good answers; a ~35% fault rate costs a few
    # more requests, while restarting the pass after each fault would cost dozens of pages.
    page_requests = tg.stats()["by_route"]["GET /shops/{shop_id}/articles"]
    print(f"article page requests with faults: {page_requests} for 8 pages")
    assert 8 <= page_requests <= 24

    tg.set_faults(rate_limit_burst=3, retry_after_seconds=1)
    tg.expire_tokens()
    tg.touch_articles(["ART-00042"], name="After the storm")
    report = await run_import(client, settings)
    assert report.errors == 0 and report.updated == 1, report
    assert_mirrors(tg, f360, "ART-00042")
    tg.set_faults()


async def test_stock_rows_are_stored_in_writes_of_several_pages(
        client, settings, tg_sim, f360_sim, store, worker, monkeypatch):
    """The stock phase stores its rows a few pages at a time (fewer, larger store writes), and every
    warehouse level still arrives: each product's stock in Framework360 is what TotalGest sells."""
    from tgflow.activities.products import stock as stock_phase

    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.products.stock_page_size = 100
    monkeypatch.setattr(stock_phase, "STOCK_ROWS_PER_WRITE", 250)
    stored: list[int] = []
    apply_stock_rows = pstore.apply_stock_rows

    def counting(store_, shop, rows, *args):
        stored.append(len(rows))
        return apply_stock_rows(store_, shop, rows, *args)

    monkeypatch.setattr(pstore, "apply_stock_rows", counting)
    tg.reset_stats()
    report = await run_import(client, settings)
    assert (report.created, report.errors) == (300, 0), report
    pages = tg.stats()["by_route"]["GET /shops/{shop_id}/stock"]
    assert report.stock_rows_read == sum(stored) > 250
    assert len(stored) == -(-pages // 3) < pages  # a write every 3 pages of 100 rows (≥ 250), the rest at the end
    for code in CODES:
        assert_mirrors(tg, f360, code)


@pytest.mark.soak
async def test_fifty_thousand_articles_import(client, settings, f360_sim, store, worker):
    """Benchmark-ish soak: 50,000 articles in one run (duration noted in the report, not asserted)."""
    from tgflow.sim.server import ServerThread
    from tgflow.sim.totalgest import TotalGestSim, create_app

    sim = TotalGestSim(articles=50_000, seed=3)
    with ServerThread(create_app(sim)) as server:
        settings.totalgest.endpoint = server.url + "/api/v1"
        f360_sim.sim.reject_skus({})
        started = time.monotonic()
        report = await run_import(client, settings)
        elapsed = time.monotonic() - started
        print(f"\n50k import: {elapsed:.1f}s, report {report.model_dump()}")
        assert report.created == 50_000 and report.errors == 0
        assert len(f360_sim.sim.products()) == 50_000


async def test_cli_import_products_list_and_cursor(client, settings, tmp_path, tg_sim, f360_sim, store, worker):
    import asyncio
    import json
    import os
    import subprocess
    import sys

    from tgflow.config import save_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env["TGFLOW_CONFIG"] = str(save_settings(settings, tmp_path / "cli.toml"))

    def tgflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tgflow", *args], env=env, capture_output=True, text=True,
                              timeout=90)

    tg_sim.sim.touch_articles(["ART-00003"], price_gross="abc")
    done = await asyncio.to_thread(tgflow, "import-products", "--wait", "--json")
    assert done.returncode == 1, done.stderr  # one product had an error
    report = json.loads(done.stdout)
    assert report["created"] == 299 and report["errors"] == 1
    assert report["error_samples"] == ["ART-00003: price_gross 'abc' is not a number"]

    errors = await asyncio.to_thread(tgflow, "products", "list", "--status", "error", "--json")
    rows = json.loads(errors.stdout)
    assert [(r["sku"], r["column"]) for r in rows] == [("ART-00003", "Error: price_gross 'abc' is not a number")]
    linked = json.loads((await asyncio.to_thread(tgflow, "products", "list", "--status", "linked", "--json")).stdout)
    assert len(linked) == 299 and {r["column"] for r in linked} == {"Linked"}

    shown = json.loads((await asyncio.to_thread(tgflow, "products", "cursor", "show", "--json")).stdout)
    assert {c["name"] for c in shown if c["value"]} == {"articles", "stock"}
    reset = await asyncio.to_thread(tgflow, "products", "cursor", "reset", "--json")
    assert json.loads(reset.stdout) == {"reset": ["articles", "stock"]}
    assert all(c["value"] is None for c in pstore.list_cursors(store, settings.totalgest.shop_id))

    tg_sim.sim.touch_articles(["ART-00003"], price_gross="3.00")
    started = await asyncio.to_thread(tgflow, "import-products", "--json")
    from tgflow.contracts.products import ProductImportReport

    handle = client.get_workflow_handle(json.loads(started.stdout)["workflow_id"], result_type=ProductImportReport)
    final = await handle.result()
    assert final.errors == 0 and final.created == 1 and final.articles_read == 300
    assert f360_sim.sim.product_by_sku("ART-00003")["integrations"]["totalgest"]["status"] == "linked"


async def test_permanent_failure_fails_the_run_with_one_reason_and_keeps_cursors(
        client, settings, tg_sim, f360_sim, store, worker):
    from temporalio.client import WorkflowFailureError

    f360_sim.sim.set_module_active(False)
    with pytest.raises(WorkflowFailureError) as info:
        await run_import(client, settings)
    assert "module_inactive" in str(info.value.cause)
    shop = settings.totalgest.shop_id
    assert all(c["value"] is None for c in pstore.list_cursors(store, shop))
    run = pstore.last_runs(store, shop)[0]
    assert run.status == "failed" and "module_inactive" in run.errors_json
