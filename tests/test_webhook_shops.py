"""One webhook receiver for every shop (issue 15): ``/webhooks/framework360/<shop id>`` and routing by the
event's ``site_id``, each shop verified with its own secret and exported into its own TotalGest only; an
unknown shop or site gets 404 (logged once), a disabled shop's events are accepted and not acted on, and
``tgflow webhook subscribe`` subscribes each shop's site to its own URL."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import SimHandle
from tgflow.clients.framework360 import sign
from tgflow.config import Settings
from tgflow.sim import DEMO_F360_API_KEY, DEMO_TG_OWNER_ID, DEMO_TG_PASSWORD, DEMO_TG_USERNAME
from tgflow.sim.server import ServerThread, free_port
from tgflow.webhook import create_app

ROOT = "/webhooks/framework360"
SHOPS = (("a", "1001", True), ("b", "1002", True), ("c", "1003", False))  # id, TotalGest shop id, enabled


@dataclass
class Shop:
    id: str
    tg: SimHandle
    f360: SimHandle
    secret: str
    site: str


@pytest.fixture
def shops(temporal_env, tmp_path, monkeypatch):
    """Three shops, each with its own TotalGest and Framework360 simulator (own site id and secret); c disabled."""
    from tgflow.sim.framework360 import Framework360Sim
    from tgflow.sim.framework360 import create_app as f360_app
    from tgflow.sim.totalgest import TotalGestSim
    from tgflow.sim.totalgest import create_app as tg_app

    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "tgflow.toml"))
    made: dict[str, Shop] = {}
    servers = []
    try:
        for shop_id, tg_shop, _ in SHOPS:
            tg = TotalGestSim(articles=300, seed=1, shop_id=tg_shop)
            f360 = Framework360Sim(orders=3, seed=1, site_id=f"site-{shop_id}")
            tg_server, f360_server = ServerThread(tg_app(tg)), ServerThread(f360_app(f360))
            servers += [tg_server.__enter__(), f360_server.__enter__()]
            made[shop_id] = Shop(shop_id, SimHandle(tg, tg_server), SimHandle(f360, f360_server),
                                 f"hook-{shop_id}-secret-0123456789", f"site-{shop_id}")
        yield made
    finally:
        for shop in made.values():
            shop.f360.sim.close()
        for server in servers:
            server.__exit__(None, None, None)


def shop_table(shop: Shop, enabled: bool, tg_shop: str, **f360: Any) -> dict[str, Any]:
    return {"id": shop.id, "enabled": enabled,
            "totalgest": {"shop_id": tg_shop, "owner_id": DEMO_TG_OWNER_ID, "endpoint": shop.tg.api_url,
                          "username": DEMO_TG_USERNAME, "password": DEMO_TG_PASSWORD, "timeout_seconds": 3.0},
            "f360": {"base_url": shop.f360.api_url, "api_key": DEMO_F360_API_KEY, "webhook_secret": shop.secret,
                     "timeout_seconds": 3.0} | f360}


def three_shop_settings(shops: dict[str, Shop], temporal_env, tmp_path, **f360_of: dict) -> Settings:
    return Settings(
        shops_config=[shop_table(shops[i], enabled, tg, **f360_of.get(i, {})) for i, tg, enabled in SHOPS],
        temporal={"address": temporal_env.client.service_client.config.target_host,
                  "task_queue": f"tgflow-test-{uuid.uuid4().hex[:12]}"},
        database_url=f"sqlite:///{tmp_path / 'tgflow.db'}",
    )


@pytest.fixture
def settings(shops, temporal_env, tmp_path) -> Settings:
    return three_shop_settings(shops, temporal_env, tmp_path)


@pytest.fixture
def store(settings):
    from tgflow.store import Store

    store = Store(settings.database_url)
    yield store
    store.close()


@pytest.fixture
async def workers(client, settings, store):
    """One real worker per shop on its own task queue (c's too: a start for the disabled shop would export)."""
    from tgflow.activities import Deps
    from tgflow.worker import build_worker

    deps = [Deps(settings.for_shop(i), store) for i, _, _ in SHOPS]
    running = [build_worker(client, d.settings, d) for d in deps]
    for w in running:
        await w.__aenter__()
    try:
        yield
    finally:
        for w in running:
            await w.__aexit__(None, None, None)
        for d in deps:
            await d.aclose()
        for i, _, _ in SHOPS:
            query = f"TaskQueue = '{settings.shop(i).task_queue}' AND ExecutionStatus = 'Running'"
            async for execution in client.list_workflows(query):
                await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")


@pytest.fixture
async def http(settings, client, store):
    app = create_app(settings, client, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as http:
        yield http


def event(order_id: int, site: str | None, event_id: str, kind: str = "order.completed") -> bytes:
    body: dict[str, Any] = {"id": event_id, "type": kind, "created_at": "2026-01-01T00:00:00+00:00",
                            "data": {"order_id": order_id}}
    if site is not None:
        body["site_id"] = site
    return json.dumps(body).encode()


def signed(secret: str, body: bytes) -> dict[str, str]:
    return {"X-F360-Signature": sign(secret, body), "Content-Type": "application/json"}


async def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def refs(shop: Shop) -> list[str]:
    return sorted(o["external_ref"] for o in shop.tg.sim.orders())


def site_asks(shop: Shop) -> int:
    return shop.f360.sim.stats()["by_route"].get("GET /site", 0)


async def started_on(client, settings: Settings, shop_id: str) -> list[str]:
    query = f"TaskQueue = '{settings.shop(shop_id).task_queue}'"
    return [w.id async for w in client.list_workflows(query)]


async def test_shop_b_events_by_path_and_by_site_id_end_in_shop_b_totalgest_only(shops, settings, client, http,
                                                                                  workers):
    a, b, c = shops["a"], shops["b"], shops["c"]
    by_path = b.f360.sim.create_order()
    by_site = b.f360.sim.create_order()
    body = event(by_path["id"], b.site, "evt_path")
    answer = await http.post(f"{ROOT}/b", content=body, headers=signed(b.secret, body))
    assert answer.status_code == 202 and answer.json() == {"status": "enqueued", "order_id": by_path["id"]}
    body = event(by_site["id"], b.site, "evt_site")
    answer = await http.post(ROOT, content=body, headers=signed(b.secret, body))
    assert answer.status_code == 202 and answer.json() == {"status": "enqueued", "order_id": by_site["id"]}

    expected = sorted([by_path["number"], by_site["number"]])
    await wait_for(lambda: refs(b) == expected, what="both orders in shop b's TotalGest")
    for order in (by_path, by_site):
        await wait_for(lambda o=order: b.f360.sim.order(o["id"])["integrations"]["totalgest"]["status"] == "linked",
                       what="linked in shop b's Framework360")
    # acted on with shop b's settings: its task queue, its TotalGest shop id in the workflow ids
    ids = await started_on(client, settings, "b")
    assert ids and all("1002" in i for i in ids), ids
    assert refs(a) == [] and refs(c) == []
    assert await started_on(client, settings, "a") == [] and await started_on(client, settings, "c") == []
    assert refs(b) == expected  # each once


async def test_unknown_shop_or_site_is_404_and_logged_once(shops, settings, client, http, caplog):
    caplog.set_level(logging.WARNING, logger="tgflow.webhook")
    a = shops["a"]
    for n in (1, 2):
        body = event(1, a.site, f"evt_x{n}")
        answer = await http.post(f"{ROOT}/nope", content=body, headers=signed(a.secret, body))
        assert answer.status_code == 404 and answer.json()["error"] == "unknown_shop"
        assert "'nope' is not a configured shop; the shops are a, b, c" in answer.json()["message"]
        body = event(1, "site-elsewhere", f"evt_y{n}")
        answer = await http.post(ROOT, content=body, headers=signed(a.secret, body))
        assert answer.status_code == 404 and answer.json()["error"] == "unknown_shop"
        assert "site_id 'site-elsewhere'" in answer.json()["message"]
    lines = [r.getMessage() for r in caplog.records if "no configured shop" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "shop 'nope'" in lines[0] and "site_id 'site-elsewhere'" in lines[1]
    # the unknown site made the receiver ask every shop's GET /site once, not once per event
    assert [site_asks(s) for s in shops.values()] == [1, 1, 1]
    for i, _, _ in SHOPS:
        assert await started_on(client, settings, i) == []


async def test_a_site_learned_later_is_routed_after_asking_again(shops, settings, client, store, workers):
    """A site id not known at the last ask (here: shop b's site moved) makes the receiver ask again."""
    b = shops["b"]
    app = create_app(settings, client, store=store, site_refresh_seconds=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as http:
        order = b.f360.sim.create_order()
        body = event(order["id"], "site-b-new", "evt_1")
        assert (await http.post(ROOT, content=body, headers=signed(b.secret, body))).status_code == 404
        b.f360.sim.site_id = "site-b-new"
        answer = await http.post(ROOT, content=body, headers=signed(b.secret, body))
        assert answer.status_code == 202 and answer.json()["status"] == "enqueued"
    await wait_for(lambda: refs(b) == [order["number"]], what="the order in shop b's TotalGest")
    assert refs(shops["a"]) == [] and refs(shops["c"]) == []


async def test_while_a_shops_site_id_is_unknown_other_shops_work_and_unknown_sites_get_503(
        shops, client, store, tmp_path, temporal_env):
    """Shop a's Framework360 refuses GET /site (wrong API key): shop b's events are still routed by site_id; an
    event of an unknown site may be a's, so it gets 503 (delivered again later), not 404."""
    broken = three_shop_settings(shops, temporal_env, tmp_path, a={"api_key": "wrong-key"})
    app = create_app(broken, client, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as http:
        c = shops["c"]
        body = event(1, c.site, "evt_1")
        answer = await http.post(ROOT, content=body, headers=signed(c.secret, body))
        assert answer.status_code == 202 and answer.json()["reason"] == "shop c is disabled"
        body = event(1, "site-a", "evt_2")
        answer = await http.post(ROOT, content=body, headers=signed(shops["a"].secret, body))
        assert answer.status_code == 503 and answer.json()["error"] == "unavailable"
        assert "the Framework360 of a did not tell its site id" in answer.json()["message"]
    assert [site_asks(s) for s in shops.values()] == [1, 1, 1]  # asked once: the next ask waits a minute


async def test_another_shops_secret_is_401_and_nothing_starts(shops, settings, client, http):
    a, b = shops["a"], shops["b"]
    order = b.f360.sim.create_order()
    for path, body in ((f"{ROOT}/b", event(order["id"], b.site, "evt_1")), (ROOT, event(order["id"], b.site, "evt_2")),
                       (ROOT, event(order["id"], None, "evt_3"))):
        answer = await http.post(path, content=body, headers=signed("not-any-shops-secret-000", body))
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_signature", path
        if "site_id" in body.decode():
            answer = await http.post(path, content=body, headers=signed(a.secret, body))
            assert answer.status_code == 401 and answer.json()["error"] == "invalid_signature", path
    assert await started_on(client, settings, "b") == [] and await started_on(client, settings, "a") == []
    assert refs(b) == []


async def test_event_without_site_id_goes_to_the_shop_whose_secret_signed_it(shops, settings, client, http, workers):
    """A Framework360 before 1.1 sends no site_id: the one shop whose secret verifies the body gets it."""
    a = shops["a"]
    order = a.f360.sim.create_order()
    body = event(order["id"], None, "evt_1")
    answer = await http.post(ROOT, content=body, headers=signed(a.secret, body))
    assert answer.status_code == 202 and answer.json()["status"] == "enqueued"
    await wait_for(lambda: refs(a) == [order["number"]], what="the order in shop a's TotalGest")
    assert refs(shops["b"]) == [] and refs(shops["c"]) == []


async def test_disabled_shop_events_are_accepted_and_nothing_is_exported(shops, settings, client, http, workers,
                                                                         caplog):
    caplog.set_level(logging.INFO, logger="tgflow.webhook")
    c = shops["c"]
    order = c.f360.sim.create_order()
    for path, event_id in ((f"{ROOT}/c", "evt_1"), (ROOT, "evt_2")):
        body = event(order["id"], c.site, event_id)
        assert (await http.post(path, content=body, headers=signed(shops["a"].secret, body))).status_code == 401
        answer = await http.post(path, content=body, headers=signed(c.secret, body))
        assert answer.status_code == 202, path
        assert answer.json() == {"status": "ignored", "shop": "c", "reason": "shop c is disabled"}
    assert sum("shop c is disabled" in r.getMessage() for r in caplog.records) == 2
    assert await started_on(client, settings, "c") == []
    assert refs(c) == [] and c.f360.sim.order(order["id"])["integrations"]["totalgest"]["status"] == "not_linked"


async def test_subscribe_every_shop_to_its_own_url_then_deliveries_reach_each_shops_totalgest(
        shops, settings, client, store, workers, tmp_path, temporal_env):
    """`tgflow webhook subscribe` with several shops: each site to URL/<shop id> with its own secret, reported
    per shop; a shop whose Framework360 refuses fails alone (exit 1). Real deliveries then reach the receiver."""
    from tests.test_cli_human import each, pipe
    from tests.test_metrics import cli_env

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, client, store=store), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        env = cli_env(settings, tmp_path)
        out = await pipe(env, "webhook", "subscribe", base, "--json")
        assert out.code == 0, out
        report = json.loads(out.stdout)
        assert report["failed"] == 0 and [r["shop"] for r in report["shops"]] == ["a", "b", "c"]
        for row in report["shops"]:
            assert row["ok"] and row["url"] == f"{base}{ROOT}/{row['shop']}" and row["id"].startswith("wh_")
        for shop in shops.values():
            subs = list(shop.f360.sim._subscriptions.values())
            assert [(s["url"], s["secret"]) for s in subs] == [(f"{base}{ROOT}/{shop.id}", shop.secret)]

        orders = {i: shops[i].f360.sim.create_order() for i in ("a", "b", "c")}
        for i in ("a", "b"):
            await wait_for(lambda i=i: refs(shops[i]) == [orders[i]["number"]], what=f"shop {i}'s order exported")
        assert refs(shops["c"]) == [] and await started_on(client, settings, "c") == []

        # shop c's Framework360 refuses (wrong API key): a and b are subscribed, c is reported, exit 1
        refused = three_shop_settings(shops, temporal_env, tmp_path, c={"api_key": "wrong-key"})
        env = cli_env(refused, tmp_path)
        out = await pipe(env, "webhook", "subscribe", f"{base}{ROOT}", "--json")
        assert out.code == 1, out
        rows = {r["shop"]: r for r in json.loads(out.stdout)["shops"]}
        assert rows["a"]["ok"] and rows["b"]["ok"] and not rows["c"]["ok"] and "401" in rows["c"]["error"]
        assert rows["b"]["url"] == f"{base}{ROOT}/b"
        for human in await each(env, "webhook", "subscribe", f"{base}{ROOT}"):
            assert human.code == 1, human
            flat = " ".join(human.stdout.split())
            assert f"shop a: subscribed {base}{ROOT}/a (id wh_" in flat, flat
            assert f"shop b: subscribed {base}{ROOT}/b (id wh_" in flat, flat
            assert f"shop c: FAILED {base}{ROOT}/c: " in flat and "401" in flat, flat
            assert "2 of 3 shops subscribed to order.completed" in flat, flat
        # --shop b: that shop only, the URL as given (its root path is b's)
        for human in await each(env | {"TGFLOW_SHOP": "b"}, "webhook", "subscribe", f"{base}{ROOT}"):
            assert human.code == 0, human
            assert f"subscribed {base}{ROOT} (id wh_" in " ".join(human.stdout.split())
        assert all(s["url"] != f"{base}{ROOT}" for s in shops["a"].f360.sim._subscriptions.values())
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


async def test_webhook_serve_serves_every_shop_and_names_a_shop_whose_secret_is_short(shops, settings, tmp_path,
                                                                                       temporal_env):
    """`tgflow webhook serve` without --shop: one process for every shop (by path and by site_id); a shop whose
    webhook secret is too short stops it with one line naming that shop's key (exit 2)."""
    import subprocess
    import sys

    from tests.test_cli_human import pipe
    from tests.test_metrics import cli_env

    short = three_shop_settings(shops, temporal_env, tmp_path, b={"webhook_secret": "short"})
    out = await pipe(cli_env(short, tmp_path), "webhook", "serve")
    assert out.code == 2, out
    assert "webhook secret of shop b is missing or shorter than 16 characters; set shops[b].f360.webhook_secret" \
        in " ".join(out.stderr.split()), out.stderr

    port = free_port()
    env = cli_env(settings, tmp_path) | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "tgflow", "webhook", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = await asyncio.to_thread(proc.stdout.readline)
        root = f"http://127.0.0.1:{port}{ROOT}"
        assert first.strip() == (f"receiving Framework360 webhooks of 3 shops on {root}/<shop id> (a, b, c) "
                                 f"and on {root} by the event's site_id"), first
        c = shops["c"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(200):  # until it listens (bounded)
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            body = event(1, c.site, "evt_1")
            by_site = await http.post(ROOT, content=body, headers=signed(c.secret, body))
            assert by_site.status_code == 202 and by_site.json()["reason"] == "shop c is disabled"
            by_path = await http.post(f"{ROOT}/c", content=body, headers=signed(shops["b"].secret, body))
            assert by_path.status_code == 401
            assert (await http.post(f"{ROOT}/x", content=body, headers=signed(c.secret, body))).status_code == 404
        # learned at start-up: every shop's GET /site asked once
        assert [site_asks(s) for s in shops.values()] == [1, 1, 1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
