"""The simulators answer what the shared wire contracts say: every response of a
representative exchange (successes and each documented error) validates against
the contract's schema for that operation and status code.

Reads ../shared/contracts; skips with the reason where they are absent (the
project itself never reads them at run time)."""

from __future__ import annotations

import copy
import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml is needed to read the contracts (pip install -e '.[test]')")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed (pip install -e '.[test]')")

CONTRACTS = Path(__file__).resolve().parents[2] / "shared" / "contracts"


def load_contract(name: str) -> dict:
    path = CONTRACTS / name
    if not path.exists():
        pytest.skip(f"shared contract {path} is not present on this machine")
    return yaml.safe_load(path.read_text())


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
    f360_sim.sim.set_faults(rate_limit_burst=1)
    c.call("GET", "/orders", "/orders", 429)
    f360_sim.sim.set_faults()
    f360_sim.sim.set_module_active(False)
    c.call("GET", "/products", "/products", 409)
    c.call("GET", "/orders", "/orders", 409)
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
    with ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        f360_sim.sim.subscribe(f"{receiver.url}/hook", ["order.completed"], secret)
        f360_sim.sim.create_order(status="completed")
        assert arrived.wait(10), "no webhook delivered"
    body, signature = got[0]
    jsonschema.validate(__import__("json").loads(body), event_schema)
    assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
