"""The TotalGest simulator over real HTTP: it must honour the contract the client is written against."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tgflow.sim import (
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)
from tgflow.sim.server import ServerThread
from tgflow.sim.totalgest import TotalGestSim, create_app, ean13

CREDS = {"shop_id": DEMO_TG_SHOP_ID, "owner_id": DEMO_TG_OWNER_ID, "username": DEMO_TG_USERNAME,
         "password": DEMO_TG_PASSWORD}
SHOP = f"/shops/{DEMO_TG_SHOP_ID}"
ADDRESS = {"name": "Reto Keller", "street": "Bahnhofstrasse 1", "zip": "8001", "city": "Zürich", "country": "CH"}


@pytest.fixture
def sim() -> TotalGestSim:
    return TotalGestSim(articles=300, seed=1)


@pytest.fixture
def base(sim: TotalGestSim) -> Iterator[str]:
    with ServerThread(create_app(sim)) as server:
        yield server.url


@pytest.fixture
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{base}/api/v1", timeout=10) as client:
        token = client.post("/auth/token", json=CREDS).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _all(http: httpx.Client, path: str, **params: Any) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        page = http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def _order(sim: TotalGestSim, customer_id: int, **overrides: Any) -> dict[str, Any]:
    a, b = sim.article("ART-00001"), sim.article("ART-00002")
    assert a and b
    lines = [
        {"article_code": a["code"], "quantity": "2", "unit_price_gross": a["price_gross"], "vat_rate": "8.10"},
        {"article_code": b["code"], "quantity": "1", "unit_price_gross": b["price_gross"],
         "discount_gross": "1.00", "vat_rate": b["vat_rate"]},
    ]
    total = 2 * Decimal(a["price_gross"]) + Decimal(b["price_gross"]) - 1 + Decimal("9.00")
    order = {"external_ref": "F360-10042", "order_date": "2026-11-28T15:04:05+00:00", "customer_id": customer_id,
             "currency": "CHF", "payment_method": "TW", "billing": ADDRESS, "shipping": ADDRESS, "lines": lines,
             "shipping_gross": "9.00", "total_gross": str(total)}
    order.update(overrides)
    return order


def _customer(http: httpx.Client) -> int:
    res = http.post(f"{SHOP}/customers", json={"email": "Reto@Example.ch", "billing": ADDRESS})
    assert res.status_code == 201, res.text
    return res.json()["id"]


def test_seed_catalog_is_deterministic_and_wellformed() -> None:
    one, two = TotalGestSim(articles=50, seed=3), TotalGestSim(articles=50, seed=3)
    a = one.article("ART-00007")
    assert a is not None and a["name"] == two.article("ART-00007")["name"]  # type: ignore[index]
    assert a["currency"] == "CHF" and a["unit"] == "pz" and a["updated_at"].endswith("+00:00")
    assert Decimal(a["price_gross"]).as_tuple().exponent == -2
    for i in range(1, 51):
        ean = one.article(f"ART-{i:05d}")["ean"]  # type: ignore[index]
        assert ean is None or ean == ean13(ean[:12])
    assert ean13("400638133393") == "4006381333931"


def test_login_errors(base: str) -> None:
    with httpx.Client(base_url=f"{base}/api/v1") as client:
        res = client.post("/auth/token", json={**CREDS, "shop_id": "9999"})
        assert res.status_code == 404 and res.json()["error"] == "unknown_shop"
        res = client.post("/auth/token", json={**CREDS, "password": "nope"})
        assert res.status_code == 401 and res.json()["error"] == "invalid_credentials"
        ok = client.post("/auth/token", json=CREDS).json()
        assert ok["token_type"] == "Bearer" and ok["expires_in"] == 3600
        res = client.get(f"{SHOP}", headers={"Authorization": "Bearer bogus"})
        assert res.status_code == 401 and res.json()["error"] == "invalid_token"
        res = client.get("/shops/7/vat-codes", headers={"Authorization": f"Bearer {ok['access_token']}"})
        assert res.status_code == 403 and res.json()["error"] == "forbidden"
        assert client.get("/nope").json()["error"] == "not_found"


def test_token_expiry(sim: TotalGestSim, http: httpx.Client) -> None:
    shop = http.get(SHOP)
    assert shop.json() == {"id": DEMO_TG_SHOP_ID, "name": "Velo Demo AG", "currency": "CHF"}
    sim.expire_tokens()
    res = http.get(SHOP)
    assert res.status_code == 401 and res.json()["error"] == "token_expired"
    sim.set_faults(token_ttl_seconds=0.0001)
    token = http.post("/auth/token", json=CREDS).json()["access_token"]
    res = http.get(SHOP, headers={"Authorization": f"Bearer {token}"})
    assert res.json()["error"] == "token_expired"


def test_articles_paginate_each_once_in_order(http: httpx.Client) -> None:
    items = _all(http, f"{SHOP}/articles", limit=7)
    assert len(items) == 300 and len({a["code"] for a in items}) == 300
    keys = [(a["updated_at"], a["id"]) for a in items]
    assert keys == sorted(keys)
    assert any(a["active"] is False for a in items)


def test_bad_listing_params(http: httpx.Client) -> None:
    for params in ({"cursor": "garbage!"}, {"limit": "0"}, {"limit": "501"}, {"updated_since": "yesterday"},
                   {"updated_since": "2026-11-01T00:00:00"}):
        res = http.get(f"{SHOP}/articles", params=params)
        assert res.status_code == 400 and res.json()["error"] == "bad_request", params


def test_updated_since_after_touch_and_delete(sim: TotalGestSim, http: httpx.Client) -> None:
    newest = max(a["updated_at"] for a in _all(http, f"{SHOP}/articles", limit=500))
    sim.touch_articles(["ART-00010", "ART-00020"], price_gross="12.50", active=False)
    sim.delete_article("ART-00030")
    changed = _all(http, f"{SHOP}/articles", updated_since=newest, limit=1)
    assert {a["code"] for a in changed} >= {"ART-00010", "ART-00020"}
    assert [a["code"] for a in changed][-2:] == ["ART-00010", "ART-00020"]
    assert changed[-1]["price_gross"] == "12.50" and changed[-1]["active"] is False
    everything = _all(http, f"{SHOP}/articles", limit=500)
    assert len(everything) == 299 and "ART-00030" not in {a["code"] for a in everything}


def test_stock_pagination_and_sellable(sim: TotalGestSim, http: httpx.Client) -> None:
    rows = _all(http, f"{SHOP}/stock", limit=111)
    assert len(rows) == 300 * 3
    assert len({(r["article_code"], r["warehouse_id"]) for r in rows}) == 900
    keys = [(r["updated_at"], r["article_id"], sim.warehouses.index(r["warehouse_id"])) for r in rows]
    assert keys == sorted(keys)
    sim.set_stock("ART-00005", "MAIN", "4")
    sim.set_stock("ART-00005", "STORE", "-2")
    sim.set_stock("ART-00005", "OUTLET", "3")
    assert sim.sellable("ART-00005") == Decimal(7)
    assert sim.sellable("ART-00005", ["MAIN", "STORE"]) == Decimal(4)
    last = _all(http, f"{SHOP}/stock", updated_since=max(r["updated_at"] for r in rows), limit=1000)
    assert [(r["warehouse_id"], r["available"]) for r in last][-3:] == [("MAIN", "4"), ("STORE", "-2"),
                                                                          ("OUTLET", "3")]


def test_reference_lists(http: httpx.Client) -> None:
    vat = {v["code"]: v["rate"] for v in http.get(f"{SHOP}/vat-codes").json()}
    assert vat == {"N": "8.1", "R": "2.6", "S": "3.8"}
    codes = [p["code"] for p in http.get(f"{SHOP}/payment-methods").json()]
    assert codes == ["CC", "PP", "TW", "RE", "VB", "NN"]


def test_customers_lookup_and_validation(sim: TotalGestSim, http: httpx.Client) -> None:
    first, second = _customer(http), _customer(http)
    assert first != second  # duplicates are not rejected
    found = http.get(f"{SHOP}/customers", params={"email": "reto@example.CH"}).json()
    assert [c["id"] for c in found] == [first, second]
    res = http.post(f"{SHOP}/customers", json={"billing": {"name": "X"}})
    assert res.status_code == 422
    fields = {d["field"] for d in res.json()["details"]}
    assert {"email", "billing.street", "billing.zip", "billing.city", "billing.country"} <= fields
    assert len(sim.customers()) == 2


def test_order_validation_details(sim: TotalGestSim, http: httpx.Client) -> None:
    customer = _customer(http)
    order = _order(sim, customer)
    order["lines"][1]["article_code"] = "NOPE-1"
    cents_off = str(Decimal(order["total_gross"]) + Decimal("0.01"))
    res = http.post(f"{SHOP}/orders", json={**order, "total_gross": cents_off})
    assert res.status_code == 422
    body = res.json()
    assert body["error"] == "validation_error"
    by_field = {d["field"]: d["message"] for d in body["details"]}
    assert set(by_field) == {"lines[1].article_code", "total_gross"}
    assert order["total_gross"] in by_field["total_gross"] and cents_off in by_field["total_gross"]
    res = http.post(f"{SHOP}/orders", json=_order(sim, 999, payment_method="XX", lines=[]))
    fields = {d["field"] for d in res.json()["details"]}
    assert {"customer_id", "payment_method", "lines"} <= fields
    assert sim.orders() == []


def test_valid_order_created_and_found(sim: TotalGestSim, http: httpx.Client) -> None:
    sim.touch_articles(["ART-00002"], active=False)  # inactive articles are still known
    order = _order(sim, _customer(http))
    res = http.post(f"{SHOP}/orders", json=order)
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["number"].startswith("OV-") and created["number"].endswith("-00001")
    assert created["external_ref"] == "F360-10042" and created["created_at"].endswith("+00:00")
    assert sim.orders() == [created]
    assert http.get(f"{SHOP}/orders", params={"external_ref": "F360-10042"}).json() == [created]
    assert http.get(f"{SHOP}/orders/{created['id']}").json() == created
    missing = http.get(f"{SHOP}/orders/999")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert http.post(f"{SHOP}/orders", json=order).json()["number"].endswith("-00002")  # no dedup


def test_rate_limit_burst_and_stats(sim: TotalGestSim, http: httpx.Client) -> None:
    sim.reset_stats()
    sim.set_faults(rate_limit_burst=2, retry_after_seconds=3)
    for _ in range(2):
        res = http.get(SHOP)
        assert res.status_code == 429 and res.headers["Retry-After"] == "3"
        assert res.json()["error"] == "rate_limited"
    assert http.get(SHOP).status_code == 200
    stats = sim.stats()
    assert stats["total"] == 3 and stats["by_status"] == {"429": 2, "200": 1}
    assert stats["by_route"] == {"GET /shops/{shop_id}": 3}


def test_error_rate_gives_5xx_and_admin_is_exempt(sim: TotalGestSim, base: str, http: httpx.Client) -> None:
    httpx.put(f"{base}/_admin/faults", json={"error_rate": 1.0}).raise_for_status()
    for _ in range(5):
        res = http.get(f"{SHOP}/articles")
        assert res.status_code in (500, 503) and res.json()["error"] in ("server_error", "unavailable")
    assert httpx.get(f"{base}/_admin/articles/ART-00001").json()["code"] == "ART-00001"
    with pytest.raises(ValueError):
        sim.set_faults(bogus=1)
    sim.set_faults()
    assert http.get(f"{SHOP}/articles", params={"limit": 1}).status_code == 200


def test_error_after_commit_keeps_effect(sim: TotalGestSim, http: httpx.Client) -> None:
    customer = _customer(http)
    sim.set_faults(error_after_commit_rate=1.0)
    res = http.post(f"{SHOP}/orders", json=_order(sim, customer))
    assert res.status_code == 500
    assert len(sim.orders()) == 1


def test_admin_surface(sim: TotalGestSim, base: str) -> None:
    with httpx.Client(base_url=f"{base}/_admin") as admin:
        admin.post("/articles/touch", json={"codes": ["ART-00003"], "changes": {"name": "Kettenöl 50 ml"}})
        assert admin.get("/articles/ART-00003").json()["name"] == "Kettenöl 50 ml"
        raw = admin.post("/articles", json={"code": "", "name": "Broken", "price_gross": "abc"}).json()
        assert raw["id"] == 301 and raw["updated_at"].endswith("+00:00")
        admin.post("/stock", json={"article_code": "ART-00004", "warehouse_id": "MAIN", "available": "0"})
        admin.delete("/articles/ART-00004").raise_for_status()
        assert admin.get("/articles/ART-00004").status_code == 404
        admin.post("/expire-tokens").raise_for_status()
        assert admin.get("/orders").json() == [] and admin.get("/customers").json() == []
        admin.post("/stats/reset").raise_for_status()
        assert admin.get("/stats").json()["total"] == 0


def test_large_catalog_first_page() -> None:
    big = TotalGestSim(articles=50_000, seed=2)
    with ServerThread(create_app(big)) as server, httpx.Client(base_url=f"{server.url}/api/v1") as client:
        token = client.post("/auth/token", json=CREDS).json()["access_token"]
        page = client.get(f"{SHOP}/articles", params={"limit": 500},
                          headers={"Authorization": f"Bearer {token}"}).json()
        assert len(page["items"]) == 500 and page["next_cursor"]
        nxt = client.get(f"{SHOP}/articles", params={"limit": 500, "cursor": page["next_cursor"]},
                         headers={"Authorization": f"Bearer {token}"}).json()
        assert (nxt["items"][0]["updated_at"], nxt["items"][0]["id"]) > (page["items"][-1]["updated_at"],
                                                                         page["items"][-1]["id"])


def test_timeout_fault_delays_but_answers(sim: TotalGestSim, http: httpx.Client) -> None:
    sim.set_faults(timeout_rate=1.0, timeout_seconds=0.3, slow_ms=10)
    with pytest.raises(httpx.ReadTimeout):
        http.get(SHOP, timeout=0.1)
    res = http.get(SHOP, timeout=5)
    assert res.status_code == 200 and res.elapsed.total_seconds() >= 0.3


# ---- 1.1: status, invoice, shipments, order changes, cancellation, credit notes ------------------------------


def _placed(sim: TotalGestSim, http: httpx.Client, ref: str = "F360-10042") -> dict[str, Any]:
    res = http.post(f"{SHOP}/orders", json=_order(sim, _customer(http), external_ref=ref))
    assert res.status_code == 201, res.text
    return res.json()


def test_order_lifecycle_open_invoiced_partly_then_fully_shipped(sim: TotalGestSim, base: str,
                                                                 http: httpx.Client) -> None:
    order = _placed(sim, http)
    assert (order["status"], order["invoice_number"], order["shipments"]) == ("open", None, [])
    with httpx.Client(base_url=f"{base}/_admin") as admin:
        first = admin.post(f"/orders/{order['id']}/ship", json={
            "carrier": "Swiss Post", "tracking_number": "99.00.1", "tracking_url": "https://post.ch/t/99.00.1",
            "lines": [{"article_code": "ART-00001", "quantity": "1"}]})
        assert first.status_code == 200, first.text
        too_many = admin.post(f"/orders/{order['id']}/ship",
                              json={"lines": [{"article_code": "ART-00001", "quantity": "2"}]})
        assert too_many.status_code == 400 and "left to ship" in too_many.json()["message"]
        admin.post(f"/orders/{order['id']}/ship", json={"carrier": "DPD", "tracking_number": "DPD-2"}).raise_for_status()
    partly = first.json()
    assert partly["status"] == "invoiced" and partly["invoice_number"].startswith("FA-")
    now = http.get(f"{SHOP}/orders/{order['id']}").json()
    assert now["status"] == "shipped" and now["invoice_number"] == partly["invoice_number"]
    assert [(s["tracking_number"], s["lines"]) for s in now["shipments"]] == [
        ("99.00.1", [{"article_code": "ART-00001", "quantity": "1"}]),
        ("DPD-2", [{"article_code": "ART-00001", "quantity": "1"}, {"article_code": "ART-00002", "quantity": "1"}]),
    ]
    assert now["shipments"][0]["tracking_url"] == "https://post.ch/t/99.00.1"


def test_order_changes_page_by_cursor_and_an_order_comes_back_after_each_change(sim: TotalGestSim, http: httpx.Client) -> None:
    orders = [_placed(sim, http, ref=f"F360-{i}") for i in range(5)]
    since = http.get(f"{SHOP}/orders/{orders[-1]['id']}").json()["updated_at"]
    sim.invoice_order(orders[1]["id"])
    sim.ship_order(orders[3]["id"])
    sim.invoice_order(orders[1]["id"])  # already invoiced: no change
    everything = _all(http, f"{SHOP}/order-changes", limit=2)
    assert [o["id"] for o in everything] == [1, 3, 5, 2, 4]  # each order once, at its latest change
    keys = [(o["updated_at"], o["id"]) for o in everything]
    assert keys == sorted(keys)
    recent = _all(http, f"{SHOP}/order-changes", updated_since=since)  # inclusive
    assert [(o["id"], o["status"]) for o in recent] == [(5, "open"), (2, "invoiced"), (4, "shipped")]
    sim.ship_order(orders[1]["id"])
    after = _all(http, f"{SHOP}/order-changes", updated_since=everything[-1]["updated_at"])
    assert [(o["id"], o["status"]) for o in after] == [(4, "shipped"), (2, "shipped")]  # 2 again, changed
    assert http.get(f"{SHOP}/order-changes", params={"cursor": "garbage"}).status_code == 400
    assert http.get(f"{SHOP}/order-changes", params={"limit": 501}).status_code == 400


def test_cancel_open_order_is_idempotent_and_invoiced_is_not_cancellable(sim: TotalGestSim,
                                                                          http: httpx.Client) -> None:
    open_order, invoiced = _placed(sim, http, "F360-1"), _placed(sim, http, "F360-2")
    sim.invoice_order(invoiced["id"])
    for _ in range(2):
        res = http.post(f"{SHOP}/orders/{open_order['id']}/cancel", json={"reason": "customer changed mind"})
        assert res.status_code == 200 and res.json()["status"] == "cancelled"
    assert sim.cancel_reason(open_order["id"]) == "customer changed mind"
    refused = http.post(f"{SHOP}/orders/{invoiced['id']}/cancel", json={"reason": "late"})
    assert refused.status_code == 409 and refused.json()["error"] == "not_cancellable"
    assert http.get(f"{SHOP}/orders/{invoiced['id']}").json()["status"] == "invoiced"
    missing = http.post(f"{SHOP}/orders/999/cancel", json={"reason": "x"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert http.post(f"{SHOP}/orders/{open_order['id']}/cancel", json={}).status_code == 400


def _credit(order: dict[str, Any], ref: str, amount: str, *, code: str | None = "ART-00001",
            restock: bool = False) -> dict[str, Any]:
    return {"order_id": order["id"], "external_ref": ref, "reason": "return", "restock": restock,
            "lines": [{"article_code": code, "quantity": "1", "amount_gross": amount, "vat_rate": "8.1"}],
            "total_gross": amount}


def test_credit_notes_up_to_what_is_left_found_by_ref_and_restocked(sim: TotalGestSim, base: str,
                                                                     http: httpx.Client) -> None:
    order = _placed(sim, http)
    sim.ship_order(order["id"])
    price = sim.article("ART-00001")["price_gross"]
    stock_before = sim.sellable("ART-00001", ["MAIN"])
    first = http.post(f"{SHOP}/credit-notes", json=_credit(order, "F360-10042-R1", price, restock=True))
    assert first.status_code == 201, first.text
    note = first.json()
    assert note["number"].startswith("NC-") and note["external_ref"] == "F360-10042-R1"
    assert sim.sellable("ART-00001", ["MAIN"]) == stock_before + 1
    assert http.get(f"{SHOP}/credit-notes", params={"external_ref": "F360-10042-R1"}).json() == [note]
    assert http.get(f"{SHOP}/credit-notes", params={"external_ref": "nope"}).json() == []
    left = Decimal(order["total_gross"]) - Decimal(price)
    over = http.post(f"{SHOP}/credit-notes",
                     json=_credit(order, "F360-10042-R2", str(left + Decimal("0.01")), code=None))
    assert over.status_code == 422 and over.json()["error"] == "validation_error"
    assert [d["field"] for d in over.json()["details"]] == ["total_gross"]
    assert str(left) in over.json()["details"][0]["message"]
    rest = http.post(f"{SHOP}/credit-notes", json=_credit(order, "F360-10042-R2", str(left), code=None))
    assert rest.status_code == 201, rest.text
    again = http.post(f"{SHOP}/credit-notes", json=_credit(order, "F360-10042-R2", str(left), code=None))
    assert again.status_code == 422  # nothing left; a duplicate ref alone is not refused, the amount is
    bad_sum = _credit(order, "X", "1.00") | {"total_gross": "2.00"}
    assert http.post(f"{SHOP}/credit-notes", json=bad_sum).status_code == 422
    unknown = http.post(f"{SHOP}/credit-notes", json=_credit(order | {"id": 999}, "X", "1.00"))
    assert unknown.status_code == 404
    with httpx.Client(base_url=f"{base}/_admin") as admin:
        assert [n["external_ref"] for n in admin.get("/credit-notes").json()] == ["F360-10042-R1", "F360-10042-R2"]


def test_external_ref_of_credit_notes_is_not_unique(sim: TotalGestSim, http: httpx.Client) -> None:
    order = _placed(sim, http)
    for _ in range(2):
        assert http.post(f"{SHOP}/credit-notes", json=_credit(order, "F360-10042-R1", "1.00")).status_code == 201
    assert len(http.get(f"{SHOP}/credit-notes", params={"external_ref": "F360-10042-R1"}).json()) == 2


def test_faults_apply_to_the_new_routes_and_lost_acknowledgements_keep_the_effect(sim: TotalGestSim,
                                                                                   http: httpx.Client) -> None:
    order = _placed(sim, http)
    sim.set_faults(rate_limit_burst=1)
    assert http.get(f"{SHOP}/order-changes").status_code == 429
    sim.set_faults(error_rate=1.0)
    assert http.get(f"{SHOP}/credit-notes", params={"external_ref": "x"}).status_code in (500, 503)
    sim.set_faults(error_after_commit_rate=1.0)
    assert http.post(f"{SHOP}/credit-notes", json=_credit(order, "R1", "1.00")).status_code == 500
    assert http.post(f"{SHOP}/orders/{order['id']}/cancel", json={"reason": "x"}).status_code == 500
    sim.set_faults()
    assert [n["external_ref"] for n in sim.credit_notes()] == ["R1"]
    assert http.get(f"{SHOP}/orders/{order['id']}").json()["status"] == "cancelled"
    stats = sim.stats()["by_route"]
    assert stats["POST /shops/{shop_id}/orders/{order_id}/cancel"] == 1
    assert stats["GET /shops/{shop_id}/order-changes"] == 1
