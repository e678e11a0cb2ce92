"""`tgflow products show SKU` and `tgflow products retry`: find why a product failed, fix the cause in
the simulator, re-drive it, and find it linked in Framework360."""

from __future__ import annotations

import asyncio
import json

from tests.test_metrics import IMPORT_TIMEOUT, cli_env, tgflow_cli
from tgflow.clients.framework360 import Framework360Client, ProductUpdate
from tgflow.service.products import start_import
from tgflow.store import products as pstore


async def test_show_then_retry_failed_after_the_cause_is_fixed(client, settings, tmp_path, tg_sim, f360_sim,
                                                                 store, worker):
    f360_sim.sim.reject_skus({"ART-00007": "EAN 7612345000071 already used by another product"})
    report = await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    assert report.created == 299 and report.errors == 1
    assert f360_sim.sim.product_by_sku("ART-00007") is None
    env = cli_env(settings, tmp_path)

    shown = await asyncio.to_thread(tgflow_cli, env, "products", "show", "ART-00007", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["status"] == "error" and data["f360_product_id"] is None
    assert data["tg_article_id"] == tg_sim.sim.article("ART-00007")["id"]
    assert "EAN 7612345000071 already used" in data["error"] and data["attempts"] == 1
    assert data["retried_next_run"] is True
    imp = data["last_import"]
    assert imp["workflow_id"] == "product-import-1001-manual" and imp["status"] == "completed"
    assert imp["url"].endswith("/namespaces/default/workflows/product-import-1001-manual")
    text = await asyncio.to_thread(tgflow_cli, env, "products", "show", "ART-00007")
    assert text.returncode == 0 and "Error: Framework360 refused it" in text.stdout
    assert "tgflow products retry ART-00007" in text.stderr
    missing = await asyncio.to_thread(tgflow_cli, env, "products", "show", "NOPE-1")
    assert missing.returncode == 2 and "no product with SKU NOPE-1" in missing.stderr

    # The cause is fixed in Framework360: re-drive every failed product and wait for the outcome.
    f360_sim.sim.reject_skus({})
    retried = await asyncio.to_thread(tgflow_cli, env, "products", "retry", "--failed", "--wait", "--json")
    assert retried.returncode == 0, retried.stderr
    out = json.loads(retried.stdout)
    assert out["retried"] == ["ART-00007"] and out["unknown"] == [] and out["catalog_reread"] is False
    assert out["results"] == [{"sku": "ART-00007", "status": "linked", "error": None,
                               "f360_product_id": f360_sim.sim.product_by_sku("ART-00007")["id"]}]
    product = f360_sim.sim.product_by_sku("ART-00007")
    assert product["integrations"]["totalgest"]["status"] == "linked"
    assert len(f360_sim.sim.products()) == 300
    link = pstore.load_links(store, settings.totalgest.shop_id, ["ART-00007"])["ART-00007"]
    assert link.status == "linked" and link.last_error is None

    nothing = await asyncio.to_thread(tgflow_cli, env, "products", "retry", "--failed", "--json")
    assert nothing.returncode == 0 and json.loads(nothing.stdout)["retried"] == []
    usage = await asyncio.to_thread(tgflow_cli, env, "products", "retry")
    assert usage.returncode == 2 and "--failed" in usage.stderr


async def test_retry_rewrites_a_product_changed_by_hand_and_reports_unknown_skus(
        client, settings, tmp_path, tg_sim, f360_sim, store, worker):
    await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    truth = f360_sim.sim.product_by_sku("ART-00010")
    # Someone edits the price in the shop's admin: TotalGest did not change, so imports leave it alone.
    async with Framework360Client(settings.f360) as f360:
        await f360.batch_products(update=[ProductUpdate(id=truth["id"], price="1.00")])
    again = await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    assert again.updated == 0 and f360_sim.sim.product_by_sku("ART-00010")["price"] == "1.00"

    env = cli_env(settings, tmp_path)
    retried = await asyncio.to_thread(tgflow_cli, env, "products", "retry", "ART-00010", "NOPE-1", "--wait", "--json")
    assert retried.returncode == 1, retried.stderr  # one SKU unknown
    out = json.loads(retried.stdout)
    assert out["retried"] == ["ART-00010"] and out["unknown"] == ["NOPE-1"] and out["catalog_reread"] is True
    assert out["results"][0]["status"] == "linked"
    assert out["import"]["updated"] >= 1
    assert "NOPE-1" in retried.stderr
    assert f360_sim.sim.product_by_sku("ART-00010")["price"] == truth["price"]
    assert len(f360_sim.sim.products()) == 300


async def test_the_stored_name_follows_the_article_and_a_full_import_fills_names_missing_since_the_upgrade(
        client, settings, tmp_path, tg_sim, f360_sim, store, worker):
    shop = settings.totalgest.shop_id
    f360_sim.sim.reject_skus({"ART-00007": "EAN 7612345000071 already used by another product"})
    await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    links = pstore.load_links(store, shop, ["ART-00001", "ART-00002", "ART-00007"])
    # Linked: the name Framework360 shows; refused: the name the import tried to write.
    assert links["ART-00001"].name == f360_sim.sim.product_by_sku("ART-00001")["name"]
    assert links["ART-00007"].name == tg_sim.sim.article("ART-00007")["name"].strip()

    # A renamed article: the next (incremental) import writes the new name to Framework360 and to the store.
    tg_sim.sim.touch_articles(["ART-00002"], name="Kaffeetasse Nordlicht")
    f360_sim.sim.reject_skus({})
    await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    assert f360_sim.sim.product_by_sku("ART-00002")["name"] == "Kaffeetasse Nordlicht"
    assert pstore.load_links(store, shop, ["ART-00002"])["ART-00002"].name == "Kaffeetasse Nordlicht"

    # Links stored before names were (the upgrade): an incremental import leaves them, --full fills them
    # without writing anything to Framework360.
    pstore.save_links(store, shop, {"ART-00001": {"name": None}, "ART-00003": {"name": None}})
    await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    assert pstore.load_links(store, shop, ["ART-00001"])["ART-00001"].name is None
    env = cli_env(settings, tmp_path, TGFLOW_F360__BASE_URL="http://127.0.0.1:9/api/v1")
    listed = await asyncio.to_thread(tgflow_cli, env, "products", "list", "--json", "--limit", "3")
    assert listed.returncode == 0, listed.stderr
    assert [(r["sku"], r["name"]) for r in json.loads(listed.stdout)] == [
        ("ART-00001", None), ("ART-00002", "Kaffeetasse Nordlicht"), ("ART-00003", None)]
    f360_sim.sim.reset_stats()
    report = await asyncio.wait_for(start_import(client, settings, full=True, wait=True), IMPORT_TIMEOUT)
    assert report.updated == 0 and report.created == 0 and f360_sim.sim.stats()["products_updated"] == 0
    filled = pstore.load_links(store, shop, ["ART-00001", "ART-00003"])
    assert filled["ART-00001"].name == f360_sim.sim.product_by_sku("ART-00001")["name"]
    assert filled["ART-00003"].name == f360_sim.sim.product_by_sku("ART-00003")["name"]
