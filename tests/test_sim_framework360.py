"""The Framework360 simulator over real HTTP: it must honour the contract the client is written against."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tgflow.sim import DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET
from tgflow.sim.framework360 import Framework360Sim, create_app
from tgflow.sim.server import ServerThread

AUTH = {"Authorization": f"Bearer {DEMO_F360_API_KEY}"}


@pytest.fixture
def sim() -> Iterator[Framework360Sim]:
    sim = Framework360Sim(orders=20, seed=1)
    yield sim
    sim.close()


@pytest.fixture
def api(sim: Framework360Sim) -> Iterator[httpx.Client]:
    with ServerThread(create_app(sim)) as server, \
            httpx.Client(base_url=f"{server.url}/api/v1", headers=AUTH, timeout=5) as client:
        yield client


def _product(sku: str, **extra: object) -> dict:
    return {"sku": sku, "name": f"Product {sku}", "price": "19.90", "vat_rate": "8.1", **extra}


def test_auth_required(api: httpx.Client) -> None:
    r = api.get("/site", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_api_key"
    r = httpx.get(f"{api.base_url}orders")
    assert r.status_code == 401 and r.json()["error"] == "invalid_api_key"


def test_site_and_module_inactive(api: httpx.Client, sim: Framework360Sim) -> None:
    site = api.get("/site").json()
    assert site["name"] == "Velo Demo Shop" and site["currency"] == "CHF"
    assert site["modules"] == {"ecommerce": True, "blog": True}
    sim.set_module_active(False)
    assert api.get("/site").json()["modules"]["ecommerce"] is False
    for method, path in [("GET", "/orders"), ("GET", "/products"), ("GET", "/orders/1"),
                         ("POST", "/products/batch")]:
        r = api.request(method, path, json={})
        assert r.status_code == 409 and r.json()["error"] == "module_inactive", path


def test_unknown_route_is_json_404(api: httpx.Client) -> None:
    r = api.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = api.get("/orders/999")
    assert r.status_code == 404 and r.json() == {"error": "not_found", "message": "no such order"}


def test_order_pagination_and_filters(api: httpx.Client, sim: Framework360Sim) -> None:
    seen: list[int] = []
    page = 1
    while True:
        body = api.get("/orders", params={"page": page, "per_page": 7}).json()
        assert body["total"] == 20 and body["per_page"] == 7
        if not body["items"]:
            break
        seen += [o["id"] for o in body["items"]]
        page += 1
    assert sorted(seen) == list(range(1, 21)) and len(seen) == 20
    keys = [(o["updated_at"], o["id"]) for o in sim.orders()]
    assert [o["id"] for o in sorted(sim.orders(), key=lambda o: (o["updated_at"], o["id"]))] == seen
    assert len(set(keys)) == 20

    completed = api.get("/orders", params={"status": "completed", "per_page": 100}).json()
    assert completed["items"] and all(o["status"] == "completed" and o["completed_at"] for o in completed["items"])
    statuses = {o["status"] for o in sim.orders()}
    assert "cancelled" in statuses and statuses & {"pending", "processing"}

    cutoff = api.get("/orders", params={"per_page": 100}).json()["items"][-1]["updated_at"]
    assert api.get("/orders", params={"updated_after": cutoff}).json()["total"] == 0
    new = sim.create_order()
    after = api.get("/orders", params={"updated_after": cutoff}).json()
    assert [o["id"] for o in after["items"]] == [new["id"]]

    for params in ({"per_page": 0}, {"per_page": 101}, {"page": 0}, {"status": "lost"},
                   {"updated_after": "yesterday"}):
        r = api.get("/orders", params=params)
        assert r.status_code == 400 and r.json()["error"] == "bad_request", params


def test_seeded_orders_are_realistic_and_add_up(api: httpx.Client) -> None:
    orders = api.get("/orders", params={"per_page": 100}).json()["items"]
    emails = [o["customer"]["email"] for o in orders]
    assert len(set(emails)) < len(emails), "some customer should return"
    assert any(o["customer"]["vat_number"] for o in orders) or any(o["billing_address"]["company"] for o in orders)
    for o in orders:
        assert o["currency"] == "CHF" and o["number"] == f"F360-{10000 + o['id']}"
        assert o["payment_method"]["code"] in {"stripe", "paypal", "twint", "invoice"}
        assert o["billing_address"]["country"] == "CH" and o["billing_address"]["postcode"].isdigit()
        assert 1 <= len(o["line_items"]) <= 5
        lines = Decimal(0)
        for li in o["line_items"]:
            assert isinstance(li["quantity"], int) and li["sku"].startswith("ART-")
            assert li["vat_rate"] in {"8.1", "2.6"}
            expected = li["quantity"] * Decimal(li["unit_price"]) - Decimal(li["discount"])
            assert Decimal(li["total"]) == expected
            assert len(li["unit_price"].split(".")[1]) == 2
            lines += Decimal(li["total"])
        assert o["shipping_total"] in {"0.00", "9.90"}
        assert Decimal(o["total"]) == lines + Decimal(o["shipping_total"])
    assert Framework360Sim(orders=20, seed=1).orders()[5]["line_items"] == orders_by_id(orders)[6]["line_items"]


def orders_by_id(orders: list[dict]) -> dict[int, dict]:
    return {o["id"]: o for o in orders}


def test_problem_orders(sim: Framework360Sim) -> None:
    bad = sim.create_order(problem="bad_total")
    lines = sum(Decimal(li["total"]) for li in bad["line_items"]) + Decimal(bad["shipping_total"])
    assert Decimal(bad["total"]) - lines == Decimal("0.01")
    assert any(li["sku"] == "NOPE-404" for li in sim.create_order(problem="unknown_sku")["line_items"])
    assert any(li["sku"] is None for li in sim.create_order(problem="no_sku")["line_items"])
    assert sim.create_order(problem="bad_payment")["payment_method"]["code"] == "bitcoin"
    pending = sim.create_order(status="pending", lines=3, email="x@example.ch")
    assert pending["completed_at"] is None and len(pending["line_items"]) == 3
    assert pending["customer"]["email"] == "x@example.ch"


def test_batch_products(api: httpx.Client, sim: Framework360Sim) -> None:
    r = api.post("/products/batch", json={"create": [_product("ART-00001"), _product("ART-00002", ean="7610000000001")]})
    assert r.status_code == 200
    created = r.json()["create"]
    assert [c["sku"] for c in created] == ["ART-00001", "ART-00002"] and r.json()["update"] == []

    sim.reject_skus({"ART-00004": "EAN checksum invalid"})
    r = api.post("/products/batch", json={
        "create": [_product("ART-00001"), _product("ART-00003"), _product("ART-00004"),
                   {"sku": "ART-00005", "name": "x", "price": "12,50", "vat_rate": "8.1"}, {"sku": "ART-00006"}],
        "update": [{"id": created[1]["id"], "price": "24.50", "stock_quantity": 7}, {"id": 99999, "name": "ghost"}],
    }).json()
    assert r["create"][0]["error"]["error"] == "duplicate_sku"
    assert r["create"][1]["sku"] == "ART-00003" and "error" not in r["create"][1]
    assert r["create"][2]["error"] == {"error": "validation_error", "message": "EAN checksum invalid"}
    assert r["create"][3]["error"]["error"] == "validation_error"
    assert r["create"][4]["error"]["error"] == "validation_error"
    assert r["update"][0] == {"id": created[1]["id"], "sku": "ART-00002"}
    assert r["update"][1]["error"]["error"] == "not_found"

    p = api.get(f"/products/{created[1]['id']}").json()
    assert p["price"] == "24.50" and p["stock_quantity"] == 7 and p["ean"] == "7610000000001"
    assert p["name"] == "Product ART-00002" and p["manage_stock"] is True and p["status"] == "published"
    listing = api.get("/products", params={"sku": "ART-00003"}).json()
    assert listing["total"] == 1 and listing["items"][0]["sku"] == "ART-00003"
    assert [p["id"] for p in api.get("/products").json()["items"]] == sorted(p["id"] for p in sim.products())

    stats = sim.stats()
    assert stats["batch_calls"] == 2 and stats["products_created"] == 3 and stats["products_updated"] == 1
    assert stats["by_route"]["POST /products/batch"] == 2


def test_batch_limits(api: httpx.Client) -> None:
    r = api.post("/products/batch", json={"create": [_product(f"S{i}") for i in range(101)]})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = api.post("/products/batch", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = api.post("/products/batch", json={"create": "nope"})
    assert r.status_code == 400


def test_many_products(api: httpx.Client, sim: Framework360Sim) -> None:
    for start in range(0, 2000, 100):
        r = api.post("/products/batch", json={"create": [_product(f"B-{i:06d}") for i in range(start, start + 100)]})
        assert all("id" in c for c in r.json()["create"])
    assert api.get("/products", params={"sku": "B-001999"}).json()["items"][0]["sku"] == "B-001999"
    last = api.get("/products", params={"page": 20, "per_page": 100}).json()
    assert last["total"] == 2000 and last["items"][-1]["sku"] == "B-001999"


def test_integration_status(api: httpx.Client, sim: Framework360Sim) -> None:
    pid = api.post("/products/batch", json={"create": [_product("ART-00010")]}).json()["create"][0]["id"]
    status = {"status": "linked", "remote_id": "4711", "message": None, "synced_at": "2025-01-02T03:04:05+00:00"}
    r = api.put(f"/products/{pid}/integrations/totalgest", json=status)
    assert r.status_code == 200 and r.json() == status
    assert api.get(f"/products/{pid}").json()["integrations"]["totalgest"] == status
    r = api.put("/orders/3/integrations/totalgest", json={"status": "error", "message": "unknown SKU"})
    assert r.status_code == 200
    assert api.get("/orders/3").json()["integrations"]["totalgest"]["message"] == "unknown SKU"
    assert api.put("/orders/3/integrations/totalgest", json={"status": "weird"}).status_code == 400
    assert api.put("/orders/999/integrations/totalgest", json={"status": "linked"}).status_code == 404
    stats = sim.stats()
    assert stats["product_integration_puts"] == 1 and stats["order_integration_puts"] == 1


class _Receiver:
    """A tiny webhook endpoint recording raw bodies and signatures."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[bytes, str]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            with self.lock:
                self.calls.append((body, request.headers.get("x-f360-signature", "")))
                if len(self.calls) <= self.fail_first:
                    return JSONResponse({}, status_code=503)
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def wait(self, n: int, timeout: float = 5.0) -> list[tuple[bytes, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= n:
                    return list(self.calls)
            time.sleep(0.02)
        raise AssertionError(f"expected {n} webhook calls, got {len(self.calls)}")


def _subscribe(api: httpx.Client, url: str) -> None:
    r = api.post("/webhooks", json={"url": url, "events": ["order.completed", "order.updated"],
                                    "secret": DEMO_F360_WEBHOOK_SECRET})
    assert r.status_code == 201 and r.json()["id"]


def _verify(body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(DEMO_F360_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_webhook_delivery_signed_and_duplicated(api: httpx.Client, sim: Framework360Sim) -> None:
    assert api.post("/webhooks", json={"url": "http://x/", "events": ["order.completed"], "secret": "short"}) \
        .status_code == 400
    receiver = _Receiver()
    with ServerThread(receiver.app) as hook_server:
        _subscribe(api, f"{hook_server.url}/hook")
        order = sim.create_order()
        body, sig = receiver.wait(1)[0]
        assert _verify(body, sig) and not _verify(body + b" ", sig)
        event = json.loads(body)
        assert event["type"] == "order.completed" and event["data"] == {"order_id": order["id"]}
        assert event["id"].startswith("evt_") and "+00:00" in event["created_at"]

        sim.set_order_status(order["id"], "refunded")
        assert json.loads(receiver.wait(2)[1][0])["type"] == "order.updated"

        sim.set_webhooks(duplicate_rate=1.0)
        sim.create_order()
        calls = receiver.wait(4)
        assert json.loads(calls[2][0])["id"] == json.loads(calls[3][0])["id"]

        sim.set_webhooks(enabled=False)
        sim.create_order()
        time.sleep(0.3)
        assert len(receiver.calls) == 4
    assert sim.stats()["webhook_deliveries"] == 4


def test_webhook_retried_after_failure(api: httpx.Client, sim: Framework360Sim) -> None:
    receiver = _Receiver(fail_first=1)
    with ServerThread(receiver.app) as hook_server:
        _subscribe(api, f"{hook_server.url}/hook")
        sim.create_order()
        first, second = receiver.wait(2)
        assert first[0] == second[0]
    stats = sim.stats()
    assert stats["webhook_failures"] == 1 and stats["webhook_deliveries"] == 1


def test_rate_limit_burst_and_errors(api: httpx.Client, sim: Framework360Sim) -> None:
    sim.set_faults(rate_limit_burst=2, retry_after_seconds=3)
    for _ in range(2):
        r = api.get("/orders")
        assert r.status_code == 429 and r.headers["Retry-After"] == "3" and r.json()["error"] == "rate_limited"
    assert api.get("/orders").status_code == 200
    sim.set_faults(error_rate=1.0)
    assert api.get("/orders").status_code in (500, 503)
    sim.set_faults(timeout_rate=1.0, timeout_seconds=0.2)
    t0 = time.monotonic()
    assert api.get("/site").status_code == 200 and time.monotonic() - t0 >= 0.2
    sim.set_faults()
    assert api.get("/orders").status_code == 200
    stats = sim.stats()
    assert stats["by_status"]["429"] == 2 and stats["total"] == 6
    sim.reset_stats()
    assert sim.stats()["total"] == 0


def test_admin_surface(sim: Framework360Sim) -> None:
    with ServerThread(create_app(sim)) as server, httpx.Client(base_url=f"{server.url}/_admin") as admin:
        sim.set_faults(error_rate=1.0)
        assert len(admin.get("/orders").json()) == 20
        created = admin.post("/orders", json={"problem": "bad_payment", "status": "processing"})
        assert created.status_code == 201 and created.json()["payment_method"]["code"] == "bitcoin"
        assert len(admin.post("/orders", json={"count": 2}).json()) == 2
        assert admin.post("/orders/21/status", json={"status": "completed"}).json()["completed_at"]
        assert admin.get("/orders/21").json()["status"] == "completed"
        assert admin.post("/orders/999/status", json={"status": "completed"}).status_code == 404
        assert admin.put("/module", json={"active": False}).status_code == 200
        sim.set_faults()
        r = httpx.get(f"{server.url}/api/v1/products", headers=AUTH)
        assert r.status_code == 409
        assert admin.put("/faults", json={"bogus": 1}).status_code == 400
        assert admin.put("/reject-skus", json={"A": "no"}).status_code == 200
        assert admin.put("/webhooks", json={"enabled": False}).status_code == 200
        assert admin.get("/stats").json()["total"] == 1
        assert admin.post("/stats/reset").status_code == 200
        assert admin.get("/products/NOPE").status_code == 404
        assert admin.post("/demo-traffic", json={"every_seconds": 0.05, "bad_share": 0.5}).status_code == 200
        time.sleep(0.3)
        assert admin.delete("/demo-traffic").status_code == 200
        assert len(sim.orders()) > 24


# ---- 1.1: fulfillments, cancellations, refunds, "Send to TotalGest", notifications, batch status -----------


def _open_order(sim: Framework360Sim, lines: int = 2) -> dict:
    return sim.create_order(status="processing", lines=lines)


def _parcel(tracking: str, **extra: object) -> dict:
    return {"carrier": "Swiss Post", "tracking_number": tracking, "shipped_at": "2026-12-01T09:00:00+01:00", **extra}


def test_fulfillments_partial_then_full_and_one_email_per_notified_parcel(api: httpx.Client,
                                                                          sim: Framework360Sim) -> None:
    order = _open_order(sim)
    first_line, second_line = order["line_items"]
    r = api.post(f"/orders/{order['id']}/fulfillments", json=_parcel(
        "99.00.1", tracking_url="https://post.ch/t/99.00.1",
        line_items=[{"line_item_id": first_line["id"], "quantity": first_line["quantity"]}]))
    assert r.status_code == 201, r.text
    assert r.json()["line_items"] == [{"line_item_id": first_line["id"], "quantity": first_line["quantity"]}]
    shown = api.get(f"/orders/{order['id']}").json()
    assert shown["fulfillment_status"] == "partial" and [f["tracking_number"] for f in shown["fulfillments"]] == ["99.00.1"]
    silent = api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("99.00.2", notify_customer=False))
    assert silent.json()["line_items"] == [{"line_item_id": second_line["id"], "quantity": second_line["quantity"]}]
    shown = api.get(f"/orders/{order['id']}").json()
    assert shown["fulfillment_status"] == "fulfilled"
    assert sim.emails_sent(order["id"]) == 1
    nothing_left = api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("99.00.3"))
    assert nothing_left.status_code == 422 and nothing_left.json()["error"] == "validation_error"


def test_fulfillment_tracking_is_not_unique_and_errors_are_named(api: httpx.Client, sim: Framework360Sim) -> None:
    order = _open_order(sim, lines=1)
    line = order["line_items"][0]
    one = [{"line_item_id": line["id"], "quantity": 1}]
    if line["quantity"] < 2:
        sim.patch_order(order["id"], lambda o: o["line_items"][0].update(quantity=2))
    for _ in range(2):  # the site keeps both, and e-mails twice
        assert api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("SAME", line_items=one)).status_code == 201
    assert sim.emails_sent(order["id"]) == 2
    too_many = api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("X", line_items=one))
    assert too_many.status_code == 422 and "left to ship" in too_many.json()["message"]
    unknown = api.post(f"/orders/{order['id']}/fulfillments",
                       json=_parcel("X", line_items=[{"line_item_id": 1, "quantity": 1}]))
    assert unknown.status_code == 422 and "unknown line item" in unknown.json()["message"]
    cancelled = sim.cancel_order(_open_order(sim)["id"])
    refused = api.post(f"/orders/{cancelled['id']}/fulfillments", json=_parcel("X"))
    assert refused.status_code == 422 and "cancelled" in refused.json()["message"]
    assert api.post("/orders/999/fulfillments", json=_parcel("X")).status_code == 404
    sim.set_module_active(False)
    assert api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("X")).json()["error"] == "module_inactive"


def test_cancel_refund_and_export_request_events_carry_the_site_id(api: httpx.Client,
                                                                   sim: Framework360Sim) -> None:
    receiver = _Receiver()
    with ServerThread(receiver.app) as hook_server:
        r = api.post("/webhooks", json={"url": f"{hook_server.url}/hook", "secret": DEMO_F360_WEBHOOK_SECRET,
                                        "events": ["order.cancelled", "order.refunded", "orders.export_requested"]})
        assert r.status_code == 201
        order = _open_order(sim)
        sim.cancel_order(order["id"])
        sim.cancel_order(order["id"])  # already cancelled: no second event
        paid = sim.create_order(status="completed", lines=2)  # order.completed: not subscribed
        line = paid["line_items"][0]
        partial = sim.refund_order(paid["id"], line_items=[{"line_item_id": line["id"], "quantity": 1}])
        goodwill = sim.refund_order(paid["id"], amount="5.00", reason="late delivery")
        rest = sim.refund_order(paid["id"])
        request = sim.request_export([paid["id"], order["id"]], requested_by="Anna Admin")
        calls = receiver.wait(5)
    events = [json.loads(body) for body, sig in calls]
    assert all(_verify(body, sig) for body, sig in calls)
    assert [e["type"] for e in events] == ["order.cancelled", "order.refunded", "order.refunded",
                                           "order.refunded", "orders.export_requested"]
    assert {e["site_id"] for e in events} == {api.get("/site").json()["id"]} == {"site-velo-demo"}
    assert events[-1]["data"] == {"order_ids": [paid["id"], order["id"]], "request_id": request["request_id"],
                                  "requested_by": "Anna Admin"}
    per_unit = Decimal(line["total"]) / line["quantity"]
    assert Decimal(partial["amount"]) == per_unit.quantize(Decimal("0.01")) and partial["restock"] is True
    assert goodwill["line_items"] == [] and goodwill["restock"] is False and goodwill["amount"] == "5.00"
    refunded = api.get(f"/orders/{paid['id']}").json()
    assert refunded["status"] == "refunded" and [r["id"] for r in refunded["refunds"]] == [
        partial["id"], goodwill["id"], rest["id"]]
    assert sum(Decimal(r["amount"]) for r in refunded["refunds"]) == Decimal(paid["total"])
    assert api.get(f"/orders/{order['id']}").json()["status"] == "cancelled"
    with pytest.raises(ValueError):
        sim.refund_order(paid["id"], amount="0.01")  # nothing left
    with pytest.raises(ValueError):
        sim.request_export(list(range(1, 502)))


def test_notifications_are_listed_on_the_admin_surface(api: httpx.Client, sim: Framework360Sim) -> None:
    r = api.post("/notifications", json={"title": "3 orders sent to TotalGest", "message": "F360-1\nF360-2",
                                         "level": "info", "request_id": "req_1"})
    assert r.status_code == 201 and r.json() == {"id": 1}
    assert api.post("/notifications", json={"title": "x" * 121, "message": "", "level": "info"}).status_code == 400
    assert api.post("/notifications", json={"title": "t", "message": "m", "level": "fatal"}).status_code == 400
    sim.set_module_active(False)  # not an /orders or /products route
    assert api.post("/notifications", json={"title": "t", "message": "m", "level": "error"}).status_code == 201
    [first, second] = sim.notifications()
    assert (first["message"], first["request_id"], second["level"]) == ("F360-1\nF360-2", "req_1", "error")


def test_batch_items_carry_the_status_column(api: httpx.Client, sim: Framework360Sim) -> None:
    status = {"status": "linked", "remote_id": "ART-1", "synced_at": "2026-12-01T09:00:00+00:00"}
    body = api.post("/products/batch", json={"create": [
        _product("S-1", integrations={"totalgest": status}), _product("S-2"),
        _product("S-3", integrations={"totalgest": {"status": "bogus"}})]}).json()
    assert body["create"][2]["error"]["error"] == "validation_error" and sim.product_by_sku("S-3") is None
    assert sim.product_by_sku("S-1")["integrations"]["totalgest"] == status | {"message": None}
    assert sim.product_by_sku("S-2")["integrations"]["totalgest"]["status"] == "not_linked"
    api.post("/products/batch", json={"update": [{"id": body["create"][1]["id"], "integrations": {
        "totalgest": {"status": "error", "message": "no price"}}}]}).raise_for_status()
    assert sim.product_by_sku("S-2")["integrations"]["totalgest"]["message"] == "no price"
    stats = sim.stats()
    assert stats["batch_integration_sets"] == 2 and stats["product_integration_puts"] == 0


def test_faults_apply_to_the_new_routes_and_a_lost_answer_keeps_the_parcel(api: httpx.Client,
                                                                            sim: Framework360Sim) -> None:
    order = _open_order(sim)
    sim.set_faults(rate_limit_burst=1)
    assert api.post("/notifications", json={"title": "t", "message": "m", "level": "info"}).status_code == 429
    sim.set_faults(error_rate=1.0)
    assert api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("X")).status_code in (500, 503)
    assert api.get(f"/orders/{order['id']}").status_code in (500, 503)
    sim.set_faults(error_after_commit_rate=1.0)
    lost = api.post(f"/orders/{order['id']}/fulfillments", json=_parcel("LOST"))
    assert lost.status_code == 500
    sim.set_faults()
    shown = api.get(f"/orders/{order['id']}").json()
    assert [f["tracking_number"] for f in shown["fulfillments"]] == ["LOST"] and sim.emails_sent(order["id"]) == 1
