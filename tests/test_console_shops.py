"""The console with several shops (issue 15, VIEWS): lists and the overview cover every shop by default with a
shop column, a shop filter (a select; ``?shop=ID`` in the query string, also on ``/api/...``) narrows them to
one, and whatever acts on a shop needs it. A real console over loopback HTTP, the two shops of
tests/test_views_shops.py (their own simulators, one SQLite store holding rows of both, real Temporal)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.console_util import ADMIN, VIEWER, login, running_console
from tests.test_cli_human import pipe
from tests.test_views_shops import two_shops  # noqa: F401  (the fixture)
from tgflow.config import load_settings
from tgflow.store import Store


@pytest.fixture
def console(two_shops, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TGFLOW_CONFIG", str(two_shops.config))
    settings = load_settings()
    store = Store(two_shops.database_url)
    with running_console(settings, store) as server:
        yield server
    store.close()


async def test_api_lists_cover_every_shop_and_take_a_shop(console):
    async with httpx.AsyncClient(base_url=console.url, auth=VIEWER, timeout=60) as http:
        data = (await http.get("/api/orders")).json()
        assert data["total"] == 4 and data["shop"] is None
        assert [(o["shop"], o["number"], o["status"]) for o in data["orders"]] == [
            ("north", "N-2", "failed"), ("north", "N-1", "linked"), ("south", "S-9", "failed"),
            ("south", "S-1", "linked")]
        south = (await http.get("/api/orders", params={"shop": "south"})).json()
        assert south["total"] == 2 and south["shop"] == "south"
        assert [(o["number"], o["tg_order_number"], "shop" in o) for o in south["orders"]] == [
            ("S-9", None, False), ("S-1", "OV-S1", False)]
        failed = (await http.get("/api/orders", params={"status": "failed"})).json()
        assert [(o["shop"], o["number"], o["reason"]) for o in failed["orders"]] == [
            ("north", "N-2", "SKU N-404 is not in TotalGest"), ("south", "S-9", "SKU S-404 is not in TotalGest")]
        found = (await http.get("/api/orders", params={"q": "S-"})).json()
        assert [(o["shop"], o["number"]) for o in found["orders"]] == [("south", "S-9"), ("south", "S-1")]
        products = (await http.get("/api/products")).json()
        assert [(p["shop"], p["sku"], p["name"]) for p in products["products"]] == [
            ("north", "ART-1", "North cup"), ("north", "ART-2", "North mug"), ("south", "ART-1", "South cup"),
            ("south", "ART-3", "South plate")]
        north = (await http.get("/api/products", params={"shop": "north", "status": "error"})).json()
        assert [(p["sku"], p["error"]) for p in north["products"]] == [("ART-2", "VAT code X unknown")]
        r = await http.get("/api/orders", params={"shop": "nope"})
        assert r.status_code == 404 and r.json()["error"] == "no shop 'nope' is configured; the shops are: north, south"
        # one order, one product: of the shop named (the same order id 1 and SKU ART-1 exist in both)
        r = await http.get("/api/orders/1")
        assert r.status_code == 400
        assert r.json()["error"] == "2 shops are configured (north, south): choose one with ?shop=ID"
        assert (await http.get("/api/orders/1", params={"shop": "south"})).json()["number"] == "S-1"
        assert (await http.get("/api/orders/1", params={"shop": "north"})).json()["number"] == "N-1"
        assert (await http.get("/api/products/ART-1", params={"shop": "south"})).json()["name"] == "South cup"
        status = (await http.get("/api/status")).json()
        assert [(s["shop"], s["orders"]["failed"], s["services"]["totalgest"]["ok"]) for s in status["shops"]] == [
            ("north", 1, True), ("south", 1, False)]
        assert status["services"]["temporal"]["ok"] is True and status["healthy"] is False
        one = (await http.get("/api/status", params={"shop": "north"})).json()
        assert "shops" not in one and one["oldest_failed_order"]["number"] == "N-2"
    async with httpx.AsyncClient(base_url=console.url, auth=ADMIN, timeout=60) as http:
        r = await http.post("/api/orders/retry", json={})
        assert r.status_code == 400 and "choose one with ?shop=ID" in r.json()["error"]


async def test_pages_have_a_shop_filter_and_a_shop_column(console):
    async with httpx.AsyncClient(base_url=console.url, timeout=60) as http:
        assert (await login(http, *ADMIN)).status_code == 303
        page = (await http.get("/orders")).text
        assert re.search(r'<select name="shop"[^>]*>\s*<option value="" selected>every shop</option>', page)
        assert '<option value="north" >north</option>' in page and '<option value="south" >south</option>' in page
        rows = re.findall(r'<td class="nw shop">(\w+)</td>\s*<td class="nw"><a href="([^"]+)">([^<]+)</a>', page)
        assert rows == [("north", "/orders/N-2?shop=north", "N-2"), ("north", "/orders/N-1?shop=north", "N-1"),
                        ("south", "/orders/S-9?shop=south", "S-9"), ("south", "/orders/S-1?shop=south", "S-1")]
        assert "<th>Shop</th>" in page and "To send or retry orders, choose a shop." in page
        assert 'action="/orders/export' not in page  # no action across shops
        page = (await http.get("/orders", params={"shop": "south"})).text
        assert '<option value="south" selected>south</option>' in page and "<th>Shop</th>" not in page
        assert 'href="/orders/S-9?shop=south"' in page and "N-2" not in page
        assert 'action="/orders/export?shop=south"' in page and 'action="/orders/retry?shop=south"' in page
        assert '<input type="hidden" name="shop" value="south">' in page  # the status filter keeps the shop
        detail = await http.get("/orders/S-9", params={"shop": "south"})
        assert detail.status_code == 200 and "SKU S-404 is not in TotalGest" in detail.text
        assert 'href="/orders?shop=south"' in detail.text
        page = (await http.get("/products")).text
        cells = re.findall(r'<td class="nw shop">(\w+)</td>\s*<td><a href="([^"]+)">', page)
        assert cells == [("north", "/products/ART-1?shop=north"), ("north", "/products/ART-2?shop=north"),
                         ("south", "/products/ART-1?shop=south"), ("south", "/products/ART-3?shop=south")]
        product = (await http.get("/products/ART-1", params={"shop": "north"})).text
        assert "North cup" in product and "South cup" not in product
        overview = (await http.get("/")).text
        north, south = overview.index(">shop north</a> (TotalGest shop 2001)"), \
            overview.index(">shop south</a> (TotalGest shop 2002)")
        assert north < south
        assert 'href="/orders/N-2?shop=north"' in overview[north:south]
        assert 'href="/orders?status=failed&amp;shop=south"' in overview[south:]
        assert "refused the login" in overview[south:] and "refused the login" not in overview[north:south]
        page = await http.get("/schedules")
        assert page.status_code == 400 and "choose one with ?shop=ID" in page.text
        page = await http.get("/schedules", params={"shop": "north"})
        assert page.status_code == 200 and "product-import-2001" in page.text and "2002" not in page.text


async def test_console_users_are_the_deployments(two_shops):  # noqa: F811
    out = await pipe(two_shops.env, "console", "users", "--json")
    assert out.code == 0, out.text
    assert json.loads(out.stdout) == []


async def test_console_does_not_unpause_a_disabled_shops_schedules(two_shops, monkeypatch):  # noqa: F811
    """``enabled = false`` means what it says in the console too: an admin cannot unpause that shop's schedules
    there (the CLI refuses the same); another shop's unpause reaches Temporal as usual."""
    text = two_shops.config.read_text().replace('id = "south"', 'id = "south"\nenabled = false', 1)
    assert "enabled = false" in text
    two_shops.config.write_text(text)
    monkeypatch.setenv("TGFLOW_CONFIG", str(two_shops.config))
    settings = load_settings()
    assert [s.enabled for s in settings.shops()] == [True, False]
    store = Store(two_shops.database_url)
    try:
        with running_console(settings, store) as server:
            async with httpx.AsyncClient(base_url=server.url, auth=ADMIN, timeout=60) as http:
                r = await http.post("/api/schedules/reconcile/unpause", params={"shop": "south"}, json={})
                assert r.status_code == 409
                assert r.json()["error"] == ("shop south is disabled in settings (enabled = false): set enabled = "
                                             "true, then `tgflow schedule create --which all`")
                r = await http.post("/api/schedules/reconcile/unpause", params={"shop": "north"}, json={})
                assert r.status_code == 409 and "does not exist yet" in r.json()["error"]
    finally:
        store.close()
