"""Webhook receiver: only signed Framework360 events get in, and they end as TotalGest orders exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest
import uvicorn
from temporalio.service import RPCError

from tgflow.clients.framework360 import sign
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.sim.server import free_port
from tgflow.store import orders as ostore
from tgflow.webhook import create_app

SHOP = "1001"
PATH = "/webhooks/framework360"


def event(order_id: int, kind: str = "order.completed", event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "type": kind, "created_at": "2026-01-01T00:00:00+00:00",
                       "data": {"order_id": order_id}}).encode()


@pytest.fixture
async def http(settings, client, store):
    app = create_app(settings, client, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as http:
        yield http


def signed(settings, body: bytes) -> dict[str, str]:
    return {"X-F360-Signature": sign(settings.f360.webhook_secret.get_secret_value(), body),
            "Content-Type": "application/json"}


async def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def refs(tg_sim) -> Counter:
    return Counter(o["external_ref"] for o in tg_sim.sim.orders())


async def queue_exists(client) -> bool:
    """A running queue (earlier tests leave terminated ones behind under the same id)."""
    from temporalio.client import WorkflowExecutionStatus

    try:
        desc = await client.get_workflow_handle(order_queue_workflow_id(SHOP)).describe()
    except RPCError:
        return False
    return desc.status == WorkflowExecutionStatus.RUNNING


async def stop_queue(client) -> None:
    if await queue_exists(client):
        await client.get_workflow_handle(order_queue_workflow_id(SHOP)).terminate("test done")


async def test_signed_completed_event_is_enqueued_and_exported_once_even_replayed(http, settings, client, worker, tg_sim, f360_sim):
    order = f360_sim.sim.create_order()
    body = event(order["id"], event_id="evt_a")
    try:
        first = await http.post(PATH, content=body, headers=signed(settings, body))
        assert first.status_code == 202 and first.json()["status"] == "enqueued"
        replay = await http.post(PATH, content=body, headers=signed(settings, body))
        assert replay.status_code == 202 and replay.json()["status"] == "duplicate"
        # a second delivery with a new event id of the same order is harmless too
        other = event(order["id"], event_id="evt_b")
        assert (await http.post(PATH, content=other, headers=signed(settings, other))).status_code == 202
        await wait_for(lambda: refs(tg_sim)[order["number"]] == 1, what="order in TotalGest")
        await wait_for(lambda: f360_sim.sim.order(order["id"])["integrations"]["totalgest"]["status"] == "linked",
                       what="linked status")
        await asyncio.sleep(1.0)
        assert refs(tg_sim)[order["number"]] == 1
    finally:
        await stop_queue(client)


async def test_unsigned_or_wrongly_signed_is_401_and_nothing_is_enqueued(http, settings, client):
    body = event(1)
    assert (await http.post(PATH, content=body)).status_code == 401
    bad = {"X-F360-Signature": sign("another-secret-0123456789", body)}
    assert (await http.post(PATH, content=body, headers=bad)).status_code == 401
    tampered = event(2)
    assert (await http.post(PATH, content=tampered, headers=signed(settings, body))).status_code == 401
    assert not await queue_exists(client)


async def test_malformed_unknown_and_oversized(http, settings, client):
    junk = b"{not json"
    assert (await http.post(PATH, content=junk, headers=signed(settings, junk))).status_code == 400
    no_id = json.dumps({"id": "e", "type": "order.completed", "data": {}}).encode()
    assert (await http.post(PATH, content=no_id, headers=signed(settings, no_id))).status_code == 400
    other = json.dumps({"id": "e2", "type": "product.updated", "data": {"product_id": 3}}).encode()
    response = await http.post(PATH, content=other, headers=signed(settings, other))
    assert response.status_code == 202 and response.json()["status"] == "ignored"
    big = b"x" * (1024 * 1024 + 1)
    assert (await http.post(PATH, content=big, headers=signed(settings, big))).status_code == 413
    assert (await http.get("/healthz")).json() == {"ok": True}
    assert not await queue_exists(client)


async def test_simulator_deliveries_with_duplicates_end_exactly_once(settings, client, worker, tg_sim, f360_sim, store):
    """Real deliveries from the Framework360 simulator (signed, some sent twice) to a real receiver."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, client, store=store), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        sim = f360_sim.sim
        sim.subscribe(f"http://127.0.0.1:{port}{PATH}", ["order.completed", "order.updated"],
                      settings.f360.webhook_secret.get_secret_value())
        sim.set_webhooks(enabled=True, duplicate_rate=0.5)
        orders = [await asyncio.to_thread(sim.create_order) for _ in range(6)]
        numbers = {o["number"] for o in orders}
        await wait_for(lambda: sum(1 for link in ostore.list_links(store, SHOP, "linked") if link.f360_number in numbers)
                       == len(numbers), what="six linked orders")
        assert {n: refs(tg_sim)[n] for n in numbers} == {n: 1 for n in numbers}

        # a linked order cancelled afterwards is flagged in the store
        await asyncio.to_thread(sim.set_order_status, orders[0]["id"], "cancelled")
        await wait_for(lambda: ostore.get_link(store, SHOP, orders[0]["id"]).changed_after_export,
                       what="changed_after_export")
        assert sim.stats()["webhook_given_up"] == 0
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await stop_queue(client)


async def test_webhook_subscribe_registers_cancel_and_refund_events_too(settings, tmp_path, f360_sim):
    """`tgflow webhook subscribe`: the receiver then gets order.cancelled and order.refunded from Framework360
    (without them a cancelled or refunded order would only be noticed by the reconciliation)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.test_cli_human import each, pipe
    from tests.test_metrics import cli_env
    from tgflow.sim.server import ServerThread

    received: list[str] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(json.loads(await request.body())["type"])
        return JSONResponse({"ok": True}, status_code=202)

    env = cli_env(settings, tmp_path)
    with ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        as_json = await pipe(env, "webhook", "subscribe", f"{receiver.url}/hook", "--json")
        assert as_json.code == 0, as_json
        assert set(json.loads(as_json.stdout)["events"]) == {"order.completed", "order.updated", "order.cancelled",
                                                             "order.refunded", "orders.export_requested"}
        order = f360_sim.sim.create_order()
        f360_sim.sim.refund_order(order["id"], amount="1.00")
        f360_sim.sim.cancel_order(order["id"])
        deadline = time.monotonic() + 30
        while not {"order.cancelled", "order.refunded"} <= set(received) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert {"order.completed", "order.cancelled", "order.refunded"} <= set(received), received
    for out in await each(env, "webhook", "subscribe", "https://sync.example.ch/webhooks/framework360"):
        assert out.code == 0, out
        flat = " ".join(out.stdout.split())
        assert "subscribed https://sync.example.ch/webhooks/framework360" in flat
        assert "order.cancelled" in flat and "order.refunded" in flat, flat
