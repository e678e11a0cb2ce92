"""Scenario 4: abuse of a running webhook receiver (real uvicorn on loopback, real Temporal, real worker).

tests/test_webhook.py already covers, in-process: no signature, another secret's signature, a body that does not
match its signature, ``{not json`` signed, no order id, ``product.updated`` ignored, a Content-Length over 1 MB,
one replayed event id. Here, over real HTTP and all at once: signature header garbage, a huge *chunked* body
without Content-Length, signed bodies that are JSON but not an event, wrong id types, an unknown event type,
a replay storm (the same signed event 50 times, concurrently), 200 concurrent bad requests - then the receiver is
still up, nothing was enqueued by any of it, and one good event is exported exactly once."""

from __future__ import annotations

import asyncio
import json

import httpx
import uvicorn

from tests.chaos.conftest import SHOP, assert_exactly_once, order_counts, stop_queue, wait_for
from tgflow.clients.framework360 import sign
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.sim.server import free_port
from tgflow.store import orders as ostore
from tgflow.webhook import create_app

PATH = "/webhooks/framework360"


def event(order_id, kind: str = "order.completed", event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "type": kind, "created_at": "2026-01-01T00:00:00+00:00",
                       "data": {"order_id": order_id}}).encode()


async def queue_running(client) -> bool:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    try:
        return (await client.get_workflow_handle(order_queue_workflow_id(SHOP)).describe()).status \
            == WorkflowExecutionStatus.RUNNING
    except RPCError:
        return False


async def test_webhook_abuse_is_refused_and_the_receiver_stays_up(settings, client, worker, tg_sim, f360_sim, store):
    await stop_queue(client)  # a queue left by an earlier test would hide what we enqueue
    secret = settings.f360.webhook_secret.get_secret_value()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, client, store=store), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    f360 = f360_sim.sim
    victim = f360.create_order()  # an order id an attacker would like to push around
    tg_before = len(tg_sim.sim.orders())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            def signed(body: bytes) -> dict[str, str]:
                return {"X-F360-Signature": sign(secret, body), "Content-Type": "application/json"}

            good = event(victim["id"], event_id="evt_good")
            cases: list[tuple[str, int, dict]] = []

            async def post(name: str, body: bytes = b"", headers: dict | None = None, **kw) -> httpx.Response:
                r = await http.post(PATH, content=body, headers=headers or {}, **kw)
                cases.append((name, r.status_code, {}))
                return r

            # signature header garbage
            for name, header in [("empty signature", ""), ("not hex", "zzzz"), ("sha256= prefix junk", "sha256=xyz"),
                                 ("signature of the empty body", sign(secret, b"")),
                                 ("uppercase-mangled", sign(secret, good).upper() + "00"),
                                 ("very long header", "a" * 8000)]:
                assert (await post(name, good, {"X-F360-Signature": header})).status_code == 401, name
            # huge body, chunked (no Content-Length): refused while streaming
            async def chunks():
                for _ in range(40):
                    yield b"x" * 65536
            r = await http.post(PATH, content=chunks(), headers={"X-F360-Signature": "00"})
            cases.append(("2.5 MB chunked body", r.status_code, {}))
            assert r.status_code == 413
            # signed, but not an acceptable event
            for name, body, want in [
                ("JSON array", b"[1, 2]", 400),
                ("JSON string", b'"order.completed"', 400),
                ("empty body", b"", 400),
                ("invalid UTF-8", b'{"id": "\xff\xfe"}', 400),
                ("order id as string", event(str(victim["id"])), 400),
                ("order id true", event(True), 400),
                ("order id null", event(None), 400),
                ("order id float", event(1.5), 400),
                ("data not an object", json.dumps({"id": "e", "type": "order.completed", "data": [1]}).encode(), 400),
            ]:
                assert (await post(name, body, signed(body))).status_code == want, name
            # signed, unknown event types: accepted and ignored (202), never enqueued
            for kind in ("order.deleted", "customer.created", "", "ORDER.COMPLETED"):
                body = event(victim["id"], kind=kind, event_id=f"evt_{kind}")
                r = await post(f"unknown type {kind!r}", body, signed(body))
                assert r.status_code == 202 and r.json()["status"] == "ignored", (kind, r.text)
            # wrong method / path
            assert (await http.get(PATH)).status_code == 405
            assert (await http.post("/webhooks/other", content=good, headers=signed(good))).status_code == 404

            # 200 concurrent bad requests (unsigned, wrongly signed, malformed)
            bad_bodies = [(event(victim["id"], event_id=f"bad_{i}"), {} if i % 3 == 0 else
                           {"X-F360-Signature": sign("wrong-secret-0123456789", b"x")}) for i in range(150)]
            bad_bodies += [(b"{nope", signed(b"{nope"))] * 50
            answers = await asyncio.gather(*(http.post(PATH, content=b, headers=h) for b, h in bad_bodies))
            codes = sorted({a.status_code for a in answers})
            assert codes == [400, 401], codes
            assert (await http.get("/healthz")).json() == {"ok": True}
            assert not await queue_running(client), "an abusive request enqueued something"
            assert len(tg_sim.sim.orders()) == tg_before

            # the good event, replayed 50 times concurrently: enqueued, the replays are duplicates, one export
            replies = await asyncio.gather(*(http.post(PATH, content=good, headers=signed(good)) for _ in range(50)))
            statuses = sorted(r.json()["status"] for r in replies)
            assert {r.status_code for r in replies} == {202}
            assert statuses.count("enqueued") >= 1 and set(statuses) <= {"enqueued", "duplicate"}, statuses
            await wait_for(lambda: getattr(ostore.get_link(store, SHOP, victim["id"]), "status", None) == "linked",
                           timeout=30, what="the good order linked")
            await asyncio.sleep(1.0)
            # replayed again after the export: still one order in TotalGest
            late = await http.post(PATH, content=good, headers=signed(good))
            assert late.status_code == 202 and late.json()["status"] == "duplicate"
            backlog = await client.get_workflow_handle(order_queue_workflow_id(SHOP)).query("backlog")
            assert backlog["queued"] == 0 and backlog["running"] == 0, backlog
            done = sum(backlog["done"].values())
        counts = order_counts(tg_sim.sim, f360, [victim],
                              label=f"orders after {len(cases) + 200 + 51} abusive/replayed requests "
                                    f"(queue exported {done})")
        assert_exactly_once(counts)
        assert len(tg_sim.sim.orders()) == tg_before + 1
        assert done == 1, backlog
        print("webhook abuse answers: " + ", ".join(f"{n}={c}" for n, c, _ in cases))
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await stop_queue(client)


async def test_signed_deeply_nested_json_is_a_400_not_a_500(settings, client, store):
    app = create_app(settings, client, store=store)
    body = ("[" * 50_000 + "]" * 50_000).encode()
    headers = {"X-F360-Signature": sign(settings.f360.webhook_secret.get_secret_value(), body)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://r") as http:
        r = await http.post(PATH, content=body, headers=headers)
        assert (await http.get("/healthz")).status_code == 200
    assert r.status_code == 400, r.status_code


