"""Many shops on one worker (issue 15): N shops of A articles and O orders each, all served by ONE
``tgflow worker`` process (``[[shops]]``, no ``--shop``), each shop with its own TotalGest and
Framework360 simulator (threads of this process, on loopback).

Phases:

1. everything imported and exported: each shop's full product import and O completed orders through
   its order queue; counted in the simulators (products per shop, orders in TotalGest exactly once);
2. idle cost: the 5 schedules of every shop exist and nothing changes; the CPU seconds of the worker
   and of the Temporal dev server over the idle window (``--idle-seconds``, default 60), as % of one
   core (target < 10 %). The schedules fire on a 5-minute grid, so whether a firing falls inside the
   window is reported with the value;
3. isolation: lone-order latency (TotalGest ``created_at`` - Framework360 ``completed_at``) of healthy
   shops, p50, with every TotalGest up and with shop 1's TotalGest down (its server stopped, orders of
   its own and its import retrying meanwhile), in alternating rounds so the machine's drifting load
   (other processes) weighs on both alike. Target: the p50 changes by less than 20 %.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from bench.harness import PYTHON, Stack, cpu_seconds, wait_for_pollers
from bench.report import Row

IDLE_CPU_TARGET_PERCENT = 10.0
LATENCY_CHANGE_TARGET = 0.20
#: Pause between lone orders, so each is alone (see bench/orders.py LONE_PAUSE_SECONDS).
LONE_PAUSE_SECONDS = 0.5
#: Rounds of the isolation phase: up, down, up, down, … (each round restarts the down shop's TotalGest).
ROUNDS = 3
#: Every shop's schedules (``tgflow schedule create --which all``).
WHICH = ("import", "reconcile", "drift", "shipments", "health")


def sizes(quick: bool, shops: int | None, articles: int | None, orders: int | None) -> tuple[int, int, int, int]:
    """(shops, articles per shop, orders per shop, lone orders per latency phase)."""
    base = (5, 200, 6, 12) if quick else (50, 2_000, 20, 30)
    return (shops or base[0], articles or base[1], orders or base[2], base[3])


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Shops:
    """The N shops' simulators, in this process, one pair per shop."""

    def __init__(self, stack: ExitStack, n: int, articles: int) -> None:
        from tgflow.sim.framework360 import Framework360Sim
        from tgflow.sim.framework360 import create_app as f360_app
        from tgflow.sim.server import ServerThread
        from tgflow.sim.totalgest import TotalGestSim
        from tgflow.sim.totalgest import create_app as tg_app

        self.ids = [f"s{i:02d}" for i in range(1, n + 1)]
        self.tg: dict[str, Any] = {}
        self.f360: dict[str, Any] = {}
        self.tg_server: dict[str, Any] = {}
        self.urls: dict[str, tuple[str, str]] = {}
        width = max(5, len(str(articles)))
        pool = [f"ART-{i:0{width}d}" for i in range(1, min(articles, 300) + 1)]
        for i, shop in enumerate(self.ids, 1):
            tg = TotalGestSim(articles=articles, seed=i, shop_id=f"{9000 + i}")
            f360 = Framework360Sim(orders=0, seed=i, sku_pool=pool, site_id=f"site-{shop}")
            self.tg[shop], self.f360[shop] = tg, f360
            self.tg_server[shop] = stack.enter_context(ServerThread(tg_app(tg)))
            f360_server = stack.enter_context(ServerThread(f360_app(f360)))
            stack.callback(f360.close)
            self.urls[shop] = (self.tg_server[shop].url + "/api/v1", f360_server.url + "/api/v1")

    def config(self, *, address: str, database_url: str, task_queue: str) -> str:
        from tgflow.sim import (
            DEMO_F360_API_KEY,
            DEMO_F360_WEBHOOK_SECRET,
            DEMO_TG_OWNER_ID,
            DEMO_TG_PASSWORD,
            DEMO_TG_USERNAME,
        )

        text = (f'database_url = "{database_url}"\n[temporal]\naddress = "{address}"\ntask_queue = "{task_queue}"\n'
                )
        for shop in self.ids:
            tg_url, f360_url = self.urls[shop]
            text += (f'\n[[shops]]\nid = "{shop}"\n[shops.totalgest]\nshop_id = "{self.tg[shop].shop_id}"\n'
                     f'owner_id = "{DEMO_TG_OWNER_ID}"\nendpoint = "{tg_url}"\nusername = "{DEMO_TG_USERNAME}"\n'
                     f'password = "{DEMO_TG_PASSWORD}"\ntimeout_seconds = 3.0\n[shops.f360]\nbase_url = "{f360_url}"\n'
                     f'api_key = "{DEMO_F360_API_KEY}"\nwebhook_secret = "{DEMO_F360_WEBHOOK_SECRET}"\n'
                     "timeout_seconds = 3.0\n")
        return text


async def lone_latencies(client, views: dict[str, Any], shops: Shops, chosen: list[str], count: int) -> list[float]:
    """``count`` lone orders, round-robin over ``chosen`` shops, each awaited in TotalGest before the next."""
    from tgflow.service.orders import enqueue_orders

    out = []
    for k in range(count):
        shop = chosen[k % len(chosen)]
        await asyncio.sleep(LONE_PAUSE_SECONDS)
        order = shops.f360[shop].create_order()
        await enqueue_orders(client, views[shop], [order["id"]])
        deadline = time.monotonic() + 60
        while True:
            found = [o for o in shops.tg[shop].orders() if o.get("external_ref") in (order["number"], str(order["id"]))]
            if found:
                out.append((_ts(found[0]["created_at"]) - _ts(order["completed_at"])).total_seconds())
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"shop {shop}: order {order['number']} not in TotalGest after 60 s")
            await asyncio.sleep(0.02)
    return out


async def run_shops(stack: Stack, address: str, quick: bool, log, *, shops_n: int | None = None,
                    articles: int | None = None, orders: int | None = None, idle_seconds: float = 60.0) -> list[Row]:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from tgflow.config import load_settings
    from tgflow.jobs import job
    from tgflow.service.monitoring import ensure_schedule_for
    from tgflow.service.orders import enqueue_orders
    from tgflow.service.products import start_import
    from tgflow.sim.server import ServerThread
    from tgflow.sim.totalgest import create_app as tg_app

    n, a, o, lone = sizes(quick, shops_n, articles, orders)
    label = f"{n} shops × {a:,} articles, {o} orders"
    rows: list[Row] = []
    with ExitStack() as sims:
        log(f"shops: starting {n} TotalGest and {n} Framework360 simulators ({a:,} articles each)")
        shops = Shops(sims, n, a)
        task_queue = f"bench-shops-{uuid.uuid4().hex[:8]}"
        config = stack.root / "shops.toml"
        config.write_text(shops.config(address=address, database_url=f"sqlite:///{stack.root / 'shops.db'}",
                                       task_queue=task_queue))
        os.environ["TGFLOW_CONFIG"] = str(config)  # load_settings below reads it (this process only)
        settings = load_settings()
        views = {shop: settings.for_shop(shop) for shop in shops.ids}
        worker = stack.spawn("worker-shops", [PYTHON, "-m", "tgflow", "worker", "--log-level", "WARNING"],
                             env={"TGFLOW_CONFIG": str(config)})
        temporal = next(p for p in stack.procs if p.name == "temporal")
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        for shop in shops.ids:
            await wait_for_pollers(client, views[shop].temporal.task_queue, timeout=120)
        log(f"shops: one worker (pid {worker.pid}) polls {n} task queues")

        # 1. everything imported and exported
        started = time.monotonic()
        handles = [await start_import(client, views[shop], workflow_id=f"bench-import-{shop}-{uuid.uuid4().hex[:6]}")
                   for shop in shops.ids]
        reports = await asyncio.gather(*(h.result() for h in handles))
        import_s = time.monotonic() - started
        created = sum(r.created for r in reports)
        mirrored = sum(len(shops.f360[shop].products()) for shop in shops.ids)
        log(f"shops: import {created:,} created, {mirrored:,} products in the shops, {import_s:.0f} s")
        started = time.monotonic()
        placed = {shop: [shops.f360[shop].create_order() for _ in range(o)] for shop in shops.ids}
        for shop in shops.ids:
            await enqueue_orders(client, views[shop], [x["id"] for x in placed[shop]])
        deadline = time.monotonic() + max(120, 2 * n * o)
        while True:
            arrived = {shop: len(shops.tg[shop].orders()) for shop in shops.ids}
            if sum(arrived.values()) >= n * o or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        export_s = time.monotonic() - started
        once = sum(1 for shop in shops.ids for x in placed[shop]
                   if [t["external_ref"] for t in shops.tg[shop].orders()].count(x["number"]) == 1)
        log(f"shops: {once}/{n * o} orders in TotalGest exactly once, {export_s:.0f} s")
        rows += [
            Row("shops", f"{label}: products imported", mirrored, "products", target=n * a, direction="ge",
                target_on_ratio=False, note=f"{created:,} created by {n} imports in {import_s:.0f} s on one worker"),
            Row("shops", f"{label}: orders exported exactly once", once, "orders", target=n * o, direction="ge",
                target_on_ratio=False, note=f"{export_s:.0f} s from enqueue to the last in TotalGest"),
        ]

        # 2. idle cost: 5 schedules per shop, nothing changing
        for shop in shops.ids:
            for which in WHICH:
                await ensure_schedule_for(client, views[shop], which)
        await asyncio.sleep(5)  # the schedules' creation settles
        begin = datetime.now().astimezone()
        cpu0 = cpu_seconds(worker.pid), cpu_seconds(temporal.pid)
        t0 = time.monotonic()
        await asyncio.sleep(idle_seconds)
        elapsed = time.monotonic() - t0
        cpu1 = cpu_seconds(worker.pid), cpu_seconds(temporal.pid)
        fired = 0
        async for execution in client.list_workflows(f"StartTime >= '{begin.isoformat()}'"):
            fired += execution.task_queue.startswith(f"{task_queue}-")
        worker_pct = 100 * (cpu1[0] - cpu0[0]) / elapsed
        server_pct = 100 * (cpu1[1] - cpu0[1]) / elapsed
        log(f"shops: idle {elapsed:.0f} s: worker {worker_pct:.1f} %, server {server_pct:.1f} % of one core, "
            f"{fired} scheduled runs in the window")
        rows.append(Row("shops", f"{n} shops' schedules ({5 * n}), idle: worker + server CPU", worker_pct + server_pct,
                        "% of a core", target=IDLE_CPU_TARGET_PERCENT, direction="le", target_on_ratio=False,
                        note=f"worker {worker_pct:.1f} %, Temporal {server_pct:.1f} % over {elapsed:.0f} s; "
                             f"{fired} scheduled runs started in the window"))
        for shop in shops.ids:  # the latency phase measures orders, not schedule firings
            for which in WHICH:
                await client.get_schedule_handle(job(views[shop], which).schedule_id).pause(note="bench")

        # 3. isolation: lone-order p50 of healthy shops with shop 1's TotalGest up and down, in alternating
        # rounds (the machine's load drifts; back-to-back phases would measure the drift too)
        healthy, down = shops.ids[1:], shops.ids[0]
        await lone_latencies(client, views, shops, healthy, 3)  # warm-up, not counted
        samples: dict[bool, list[float]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [0.0, 0.0], True: [0.0, 0.0]}
        per_round = max(2, lone // ROUNDS)
        for round_no in range(ROUNDS):
            for is_down in (False, True):
                if is_down:
                    shops.tg_server[down].stop()
                    stuck = [shops.f360[down].create_order() for _ in range(max(1, o // ROUNDS))]
                    await enqueue_orders(client, views[down], [x["id"] for x in stuck])
                    if round_no == 0:
                        await start_import(client, views[down], workflow_id=f"bench-import-down-{uuid.uuid4().hex[:6]}")
                    await asyncio.sleep(2)  # its retries are under way
                cpu0, t0 = cpu_seconds(worker.pid), time.monotonic()
                samples[is_down] += await lone_latencies(client, views, shops, healthy, per_round)
                cpu[is_down][0] += cpu_seconds(worker.pid) - cpu0
                cpu[is_down][1] += time.monotonic() - t0
                if is_down:
                    shops.tg_server[down] = ServerThread(tg_app(shops.tg[down]), port=shops.tg_server[down].port).start()
                    sims.callback(shops.tg_server[down].stop)
        p50_up, p50_down = statistics.median(samples[False]), statistics.median(samples[True])
        change = (p50_down - p50_up) / p50_up
        cpu_up, cpu_down = (100 * cpu[k][0] / cpu[k][1] for k in (False, True))
        log(f"shops: lone p50 {p50_up * 1000:.0f} ms, with {down}'s TotalGest down {p50_down * 1000:.0f} ms "
            f"({change:+.0%})")
        rows += [
            Row("shops", "lone order p50, healthy shops, all TotalGest up", p50_up * 1000, "ms",
                note=f"{len(samples[False])} lone orders round-robin over {len(healthy)} shops in {ROUNDS} rounds; "
                     f"worker CPU {cpu_up:.0f} % of a core meanwhile"),
            Row("shops", f"lone order p50, healthy shops, {down}'s TotalGest down", p50_down * 1000, "ms",
                floor=p50_up * 1000, target=1 + LATENCY_CHANGE_TARGET, direction="le",
                note=f"change {change:+.0%} (target < 20 %); {len(samples[True])} lone orders in the {ROUNDS} rounds "
                     f"alternating with the up ones, while {down}'s orders and import retry; worker CPU "
                     f"{cpu_down:.0f} % of a core meanwhile"),
        ]
        for shop in shops.ids:
            for which in WHICH:
                await client.get_schedule_handle(job(views[shop], which).schedule_id).delete()
        stack.stop(worker)
    return rows
