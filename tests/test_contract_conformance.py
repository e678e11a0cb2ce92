"""The simulators answer what the shared wire contracts (version 1.1) say: every
response of a representative exchange (successes and each documented error) validates
against the contract's schema for that operation and status code, every path of the
contract is exercised, and webhook events match the Event schema.

Reads ../shared/contracts/1.1; skips with the reason where they are absent (the
project itself never reads them at run time)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml is needed to read the contracts (pip install -e '.[test]')")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed (pip install -e '.[test]')")

CONTRACT_VERSION = "1.1"
CONTRACTS = Path(__file__).resolve().parents[2] / "shared" / "contracts" / CONTRACT_VERSION


def load_contract(name: str) -> dict:
    path = CONTRACTS / name
    if not path.exists():
        pytest.skip(f"shared contract {path} is not present on this machine (the conformance test reads "
                    f"the contracts {CONTRACT_VERSION} from ../shared/contracts/{CONTRACT_VERSION})")
    spec = yaml.safe_load(path.read_text())
    assert str(spec["info"]["version"]) == CONTRACT_VERSION, f"{path} is not version {CONTRACT_VERSION}"
    return spec


def _to_json_schema(node: Any, spec: dict) -> Any:
    """OpenAPI 3.0 -> JSON Schema: inline $refs, turn `nullable` into a null type."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _to_json_schema(copy.deepcopy(target), spec)
        out = {k: _to_json_schema(v, spec) for k, v in node.items() if k not in ("nullable", "example", "format")}
        if node.get("nullable"):
            out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_to_json_schema(v, spec) for v in node]
    return node


class Checker:
    def __init__(self, spec: dict, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.http = httpx.Client(base_url=base_url, headers=headers or {}, timeout=10)
        self.checked: set[tuple[str, str]] = set()

    def call(self, method: str, path: str, template: str, status: int, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text[:300]}"
        operation = self.spec["paths"][template][method.lower()]
        declared = operation["responses"].get(str(status))
        assert declared is not None, f"{method} {template} answered {status}, which the contract does not declare"
        declared = _to_json_schema(declared, self.spec)
        content = declared.get("content", {}).get("application/json")
        body = response.json()
        if content:
            jsonschema.validate(body, content["schema"])
        for header in declared.get("headers", {}):
            assert header in response.headers, f"{method} {template} {status} lacks header {header}"
        self.checked.add((method.upper(), template))
        return body


def test_totalgest_simulator_conforms(tg_sim):
    from tgflow.sim import (
        DEMO_TG_OWNER_ID,
        DEMO_TG_PASSWORD,
        DEMO_TG_SHOP_ID,
        DEMO_TG_USERNAME,
    )

    spec = load_contract("totalgest.openapi.yaml")
    c = Checker(spec, tg_sim.api_url)
    creds = {"shop_id": DEMO_TG_SHOP_ID, "owner_id": DEMO_TG_OWNER_ID, "username": DEMO_TG_USERNAME,
             "password": DEMO_TG_PASSWORD}
    c.call("POST", "/auth/token", "/auth/token", 401, json=creds | {"password": "wrong"})
    c.call("POST", "/auth/token", "/auth/token", 404, json=creds | {"shop_id": "0000"})
    token = c.call("POST", "/auth/token", "/auth/token", 200, json=creds)["access_token"]
    c.http.headers["Authorization"] = f"Bearer {token}"
    shop = f"/shops/{DEMO_TG_SHOP_ID}"
    c.call("GET", shop, "/shops/{shop_id}", 200)
    c.call("GET", "/shops/other", "/shops/{shop_id}", 403)
    page = c.call("GET", f"{shop}/articles", "/shops/{shop_id}/articles", 200, params={"limit": 50})
    c.call("GET", f"{shop}/articles", "/shops/{shop_id}/articles", 200, params={"cursor": page["next_cursor"]})
    c.call("GET", f"{shop}/articles", "/shops/{shop_id}/articles", 400, params={"cursor": "not-a-cursor"})
    c.call("GET", f"{shop}/stock", "/shops/{shop_id}/stock", 200, params={"limit": 10})
    c.call("GET", f"{shop}/vat-codes", "/shops/{shop_id}/vat-codes", 200)
    c.call("GET", f"{shop}/payment-methods", "/shops/{shop_id}/payment-methods", 200)
    address = {"name": "Anna Muster", "street": "Bahnhofstrasse 1", "zip": "8001", "city": "Zürich", "country": "CH"}
    c.call("POST", f"{shop}/customers", "/shops/{shop_id}/customers", 422, json={"email": "a@example.ch"})
    customer = c.call("POST", f"{shop}/customers", "/shops/{shop_id}/customers", 201,
                      json={"email": "a@example.ch", "billing": address})
    c.call("GET", f"{shop}/customers", "/shops/{shop_id}/customers", 200, params={"email": "A@example.ch"})
    order = {"external_ref": "F360-1", "order_date": "2026-11-28T15:04:05+00:00", "customer_id": customer["id"],
             "currency": "CHF", "payment_method": "CC", "billing": address, "shipping": address,
             "lines": [{"article_code": "ART-00001", "quantity": "2", "unit_price_gross": "10.00", "vat_rate": "8.1"}],
             "shipping_gross": "9.90", "total_gross": "29.90"}
    c.call("POST", f"{shop}/orders", "/shops/{shop_id}/orders", 422, json=order | {"total_gross": "29.91"})
    created = c.call("POST", f"{shop}/orders", "/shops/{shop_id}/orders", 201, json=order)
    c.call("GET", f"{shop}/orders", "/shops/{shop_id}/orders", 200, params={"external_ref": "F360-1"})
    c.call("GET", f"{shop}/orders/{created['id']}", "/shops/{shop_id}/orders/{order_id}", 200)
    c.call("GET", f"{shop}/orders/999999", "/shops/{shop_id}/orders/{order_id}", 404)
    # 1.1: the order's life after registration
    changes = "/shops/{shop_id}/order-changes"
    second = c.call("POST", f"{shop}/orders", "/shops/{shop_id}/orders", 201, json=order | {"external_ref": "F360-2"})
    tg_sim.sim.ship_order(created["id"], tracking_number="99.00.1", tracking_url="https://post.ch/t/99.00.1",
                          lines=[{"article_code": "ART-00001", "quantity": "1"}])
    shipped = c.call("GET", f"{shop}/orders/{created['id']}", "/shops/{shop_id}/orders/{order_id}", 200)
    assert shipped["status"] == "invoiced" and shipped["shipments"][0]["tracking_number"] == "99.00.1"
    page = c.call("GET", f"{shop}/order-changes", changes, 200, params={"limit": 1})
    rest = c.call("GET", f"{shop}/order-changes", changes, 200, params={"cursor": page["next_cursor"]})
    assert [o["id"] for o in page["items"] + rest["items"]] == [second["id"], created["id"]]
    c.call("GET", f"{shop}/order-changes", changes, 200, params={"updated_since": shipped["updated_at"]})
    c.call("GET", f"{shop}/order-changes", changes, 400, params={"cursor": "not-a-cursor"})
    cancel = "/shops/{shop_id}/orders/{order_id}/cancel"
    assert c.call("POST", f"{shop}/orders/{second['id']}/cancel", cancel, 200,
                  json={"reason": "customer request"})["status"] == "cancelled"
    assert c.call("POST", f"{shop}/orders/{created['id']}/cancel", cancel, 409,
                  json={"reason": "too late"})["error"] == "not_cancellable"
    c.call("POST", f"{shop}/orders/999999/cancel", cancel, 404, json={"reason": "x"})
    notes = "/shops/{shop_id}/credit-notes"
    credit = {"order_id": created["id"], "external_ref": "F360-1-R1", "reason": "return", "restock": True,
              "lines": [{"article_code": "ART-00001", "quantity": "1", "amount_gross": "10.00", "vat_rate": "8.1"}],
              "total_gross": "10.00"}
    note = c.call("POST", f"{shop}/credit-notes", notes, 201, json=credit)
    over = {**credit, "external_ref": "F360-1-R2", "total_gross": "19.91",
            "lines": [{"article_code": None, "quantity": "1", "amount_gross": "19.91", "vat_rate": "8.1"}]}
    assert c.call("POST", f"{shop}/credit-notes", notes, 422, json=over)["details"][0]["field"] == "total_gross"
    c.call("POST", f"{shop}/credit-notes", notes, 404, json=credit | {"order_id": 999999})
    assert c.call("GET", f"{shop}/credit-notes", notes, 200, params={"external_ref": "F360-1-R1"}) == [note]
    tg_sim.sim.set_faults(rate_limit_burst=1)
    c.call("GET", f"{shop}/order-changes", changes, 429)
    tg_sim.sim.set_faults(rate_limit_burst=1)
    c.call("GET", f"{shop}/articles", "/shops/{shop_id}/articles", 429)
    tg_sim.sim.set_faults()
    tg_sim.sim.expire_tokens()
    body = c.call("GET", f"{shop}/articles", "/shops/{shop_id}/articles", 401)
    assert body["error"] == "token_expired"
    assert len({t for _, t in c.checked}) == len(spec["paths"])  # every path exercised


def test_framework360_simulator_conforms(f360_sim):
    from tgflow.sim import DEMO_F360_API_KEY

    spec = load_contract("framework360.openapi.yaml")
    c = Checker(spec, f360_sim.api_url)
    c.call("GET", "/site", "/site", 401)
    c.http.headers["Authorization"] = f"Bearer {DEMO_F360_API_KEY}"
    c.call("GET", "/site", "/site", 200)
    batch = c.call("POST", "/products/batch", "/products/batch", 200, json={
        "create": [{"sku": "S-1", "name": "Kettenöl", "price": "9.90", "vat_rate": "8.1", "stock_quantity": 3},
                   {"sku": "S-1", "name": "again", "price": "9.90", "vat_rate": "8.1"}],
        "update": [{"id": 999999, "price": "1.00"}]})
    assert batch["create"][1]["error"]["error"] == "duplicate_sku"
    c.call("POST", "/products/batch", "/products/batch", 413,
           json={"create": [{"sku": f"X{i}", "name": "x", "price": "1", "vat_rate": "8.1"} for i in range(101)]})
    pid = batch["create"][0]["id"]
    c.call("GET", "/products", "/products", 200, params={"sku": "S-1"})
    c.call("GET", f"/products/{pid}", "/products/{product_id}", 200)
    c.call("GET", "/products/999999", "/products/{product_id}", 404)
    c.call("PUT", f"/products/{pid}/integrations/totalgest", "/products/{product_id}/integrations/totalgest", 200,
           json={"status": "linked", "remote_id": "7", "synced_at": "2026-11-28T15:04:05+00:00"})
    orders = c.call("GET", "/orders", "/orders", 200, params={"status": "completed", "per_page": 5})
    oid = orders["items"][0]["id"]
    c.call("GET", f"/orders/{oid}", "/orders/{order_id}", 200)
    c.call("GET", "/orders/999999", "/orders/{order_id}", 404)
    c.call("PUT", f"/orders/{oid}/integrations/totalgest", "/orders/{order_id}/integrations/totalgest", 200,
           json={"status": "error", "message": "unknown SKU"})
    c.call("POST", "/webhooks", "/webhooks", 201,
           json={"url": "http://127.0.0.1:9/hook", "events": ["order.completed"], "secret": "0123456789abcdef"})
    # 1.1: the status column in batch items, fulfillments, notifications, every event type
    with_status = c.call("POST", "/products/batch", "/products/batch", 200, json={"create": [
        {"sku": "S-2", "name": "Kette", "price": "29.90", "vat_rate": "8.1",
         "integrations": {"totalgest": {"status": "linked", "remote_id": "ART-00002"}}}]})
    product = c.call("GET", f"/products/{with_status['create'][0]['id']}", "/products/{product_id}", 200)
    assert product["integrations"]["totalgest"]["remote_id"] == "ART-00002"
    c.call("POST", "/webhooks", "/webhooks", 201, json={
        "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef",
        "events": ["order.completed", "order.updated", "order.cancelled", "order.refunded", "orders.export_requested"]})
    fulfil = "/orders/{order_id}/fulfillments"
    line = orders["items"][0]["line_items"][0]
    parcel = {"carrier": "Swiss Post", "tracking_number": "99.00.1", "shipped_at": "2026-12-01T09:00:00+01:00",
              "tracking_url": "https://post.ch/t/99.00.1", "line_items": [{"line_item_id": line["id"], "quantity": 1}]}
    c.call("POST", f"/orders/{oid}/fulfillments", fulfil, 201, json=parcel)
    c.call("POST", f"/orders/{oid}/fulfillments", fulfil, 422,
           json=parcel | {"line_items": [{"line_item_id": 1, "quantity": 1}]})
    c.call("POST", "/orders/999999/fulfillments", fulfil, 404, json=parcel)
    f360_sim.sim.refund_order(oid, amount="1.00")
    shown = c.call("GET", f"/orders/{oid}", "/orders/{order_id}", 200)
    assert shown["fulfillment_status"] in ("partial", "fulfilled") and shown["refunds"][0]["amount"] == "1.00"
    c.call("POST", "/notifications", "/notifications", 201,
           json={"title": "Sent to TotalGest", "message": "2 orders\n1 failed", "level": "warning",
                 "link": None, "request_id": "req_1"})
    f360_sim.sim.set_faults(rate_limit_burst=1)
    c.call("POST", "/notifications", "/notifications", 429, json={"title": "t", "message": "m", "level": "info"})
    f360_sim.sim.set_faults(rate_limit_burst=1)
    c.call("POST", f"/orders/{oid}/fulfillments", fulfil, 429, json=parcel)
    f360_sim.sim.set_faults(rate_limit_burst=1)
    c.call("GET", "/orders", "/orders", 429)
    f360_sim.sim.set_faults()
    unauthorized = Checker(spec, f360_sim.api_url, {"Authorization": "Bearer wrong"})
    unauthorized.call("POST", "/notifications", "/notifications", 401, json={"title": "t", "message": "m",
                                                                            "level": "info"})
    unauthorized.call("POST", f"/orders/{oid}/fulfillments", fulfil, 401, json=parcel)
    f360_sim.sim.set_module_active(False)
    c.call("GET", "/products", "/products", 409)
    c.call("GET", "/orders", "/orders", 409)
    c.call("POST", f"/orders/{oid}/fulfillments", fulfil, 409, json=parcel)
    assert len({t for _, t in c.checked}) == len(spec["paths"])


def test_webhook_events_conform_and_are_signed(f360_sim):
    """A delivered event body matches the contract's Event schema and its signature verifies."""
    import threading

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from tgflow.sim.server import ServerThread

    spec = load_contract("framework360.openapi.yaml")
    event_schema = _to_json_schema(spec["components"]["schemas"]["Event"], spec)
    got: list[tuple[bytes, str]] = []
    arrived = threading.Event()

    async def hook(request):
        got.append((await request.body(), request.headers.get("X-F360-Signature", "")))
        arrived.set()
        return Response(status_code=204)

    secret = "conformance-secret-0123"
    event_types = spec["components"]["schemas"]["EventType"]["enum"]
    sim = f360_sim.sim
    with ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        sim.subscribe(f"{receiver.url}/hook", event_types, secret)
        order = sim.create_order(status="completed")                          # order.completed
        sim.set_order_status(order["id"], "processing")                        # order.updated
        sim.refund_order(order["id"], amount="1.00")                           # order.refunded
        sim.cancel_order(order["id"])                                          # order.cancelled
        sim.request_export([order["id"]], requested_by="Anna Admin")           # orders.export_requested
        deadline = time.monotonic() + 10
        while len(got) < len(event_types) and time.monotonic() < deadline:
            arrived.wait(0.1)
    assert len(got) == len(event_types), f"{len(got)} of {len(event_types)} webhooks delivered"
    events = []
    for body, signature in got:
        event = json.loads(body)
        jsonschema.validate(event, event_schema)
        assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        events.append(event)
    assert sorted(e["type"] for e in events) == sorted(event_types)
    assert {e["site_id"] for e in events} == {sim.site_id}
    [export] = [e for e in events if e["type"] == "orders.export_requested"]
    assert export["data"]["order_ids"] == [order["id"]] and export["data"]["requested_by"] == "Anna Admin"
