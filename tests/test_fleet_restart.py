"""Adding and removing a shop (docs/deployment.md §10): workers restarted one at a time while orders are
exported lose and double nothing; deleting a shop's schedules keeps its data and the other shops' schedules."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.test_cli_human import pipe
from tests.test_schedule_shops import one_shop_config, states, three  # noqa: F401  (fixture)
from tests.test_shops_config import cli_env
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.service.orders import enqueue_orders
from tgflow.store import orders as ostore

ORDERS = 20


class Worker:
    """``tgflow worker`` in its own process group, on a ``[[shops]]`` settings file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = cli_env(self.config) | {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
        mark = len(self.text())
        self.proc = subprocess.Popen([sys.executable, "-m", "tgflow", "worker", "--log-level", "INFO"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), start_new_session=True)
        deadline = time.monotonic() + 30
        while "worker polling task queue" not in self.text()[mark:]:
            assert self.proc.poll() is None and time.monotonic() < deadline, self.text()[-2000:]
            time.sleep(0.1)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)


async def test_workers_restarted_one_by_one_lose_and_double_no_order(client, settings, tg_sim, f360_sim, store,
                                                                      tmp_path):
    shop = settings.totalgest.shop_id
    settings.orders.max_concurrent = 2  # the queue's input: exports take a while, the restarts land mid-run
    settings.orders.retry_initial_seconds, settings.orders.retry_max_seconds = 0.2, 1.0
    config = one_shop_config(settings, tmp_path / "shops.toml", enabled=True, max_concurrent=2,
                             attempt_timeout_seconds=4.0)
    f360_sim.sim.set_webhooks(enabled=False)
    orders = [f360_sim.sim.create_order() for _ in range(ORDERS)]
    numbers = {o["number"] for o in orders}
    tg_sim.sim.set_faults(slow_ms=150)

    def linked() -> int:
        return sum(1 for link in ostore.list_links(store, shop, "linked") if link.f360_number in numbers)

    async def until(count: int, what: str) -> None:
        deadline = time.monotonic() + 90
        while linked() < count:
            assert time.monotonic() < deadline, f"{what}: {linked()} linked\n{first.text()[-1500:]}"
            await asyncio.sleep(0.1)

    first, second = Worker(config, tmp_path / "w1.log"), Worker(config, tmp_path / "w2.log")
    try:
        first.start()
        second.start()
        await enqueue_orders(client, settings, [o["id"] for o in orders])
        for worker in (first, second):  # restart each in turn: SIGTERM, wait for its exit, start it again
            await until(linked() + 2, "exports before a restart")
            # TotalGest answers 503 while this worker restarts: exports stay in flight (retrying) across the
            # restart whatever the machine's speed, instead of the other worker finishing them all first
            tg_sim.sim.set_faults(error_rate=1.0, slow_ms=150)
            assert await asyncio.to_thread(worker.stop) == 0, worker.text()[-2000:]  # a clean, graceful exit
            assert linked() < ORDERS
            await asyncio.to_thread(worker.start)
            tg_sim.sim.set_faults(slow_ms=150)
        await until(ORDERS, "every order exported")
        tg_sim.sim.set_faults()
        refs = Counter(o["external_ref"] for o in tg_sim.sim.orders())
        assert {n: refs[n] for n in numbers} == {n: 1 for n in numbers}
        def shown() -> Counter:  # Framework360's status column (written after the status row)
            return Counter(f360_sim.sim.order(o["id"])["integrations"]["totalgest"]["status"] for o in orders)

        deadline = time.monotonic() + 60
        while shown() != {"linked": ORDERS}:
            assert time.monotonic() < deadline, shown()
            await asyncio.sleep(0.2)
        assert len({c["email"].lower() for c in tg_sim.sim.customers()}) == len(tg_sim.sim.customers())
    finally:
        tg_sim.sim.set_faults()
        for worker in (first, second):
            if worker.proc is not None:
                await asyncio.to_thread(worker.stop)
        try:
            await client.get_workflow_handle(order_queue_workflow_id(shop)).terminate("test done")
        except Exception:
            pass


async def test_removing_a_shop_deletes_its_schedules_and_keeps_its_data(client, three, tmp_path):  # noqa: F811
    from tgflow.store import Store

    config, tag = three
    url = f"sqlite:///{tmp_path / 'tgflow.db'}"
    store = Store(url, create=True)
    ostore.record_result(store, f"{tag}-1001", 1, outcome="linked", number="A-1", tg_order_id=5, tg_order_number="OV-1")
    ostore.record_result(store, f"{tag}-1002", 2, outcome="linked", number="B-2", tg_order_id=6, tg_order_number="OV-2")
    store.close()
    config.write_text(f'database_url = "{url}"\n' + config.read_text())
    env = cli_env(config)
    assert (await pipe(env, "schedule", "create", "--which", "all")).code == 0
    out = await pipe(env, "--shop", "a", "schedule", "delete", "--which", "all", "--json")
    assert out.code == 0, out.text
    assert [(r["which"], r["ok"], r["existed"]) for r in json.loads(out.stdout)] == [
        (w, True, True) for w in ("import", "reconcile", "drift", "shipments", "health")]
    # gone in Temporal; running it again is fine (already gone)
    described = json.loads((await pipe(env, "--shop", "a", "schedule", "describe", "--which", "all", "--json")).stdout)
    assert {d["exists"] for d in described} == {False}
    again = await pipe(env, "--shop", "a", "schedule", "delete", "--which", "all")
    assert again.code == 0 and again.stdout.count("not there (already deleted)") == 5, again.text
    # the other shops' schedules untouched, shop a's status rows kept
    assert set((await states(client, tag, "1002")).values()) == {(False, "")}
    assert {v[0] for v in (await states(client, tag, "1003")).values()} == {True}  # shop-c: disabled
    out = await pipe(env, "--shop", "a", "orders", "list", "--json")
    assert out.code == 0 and [(r["number"], r["status"]) for r in json.loads(out.stdout)] == [("A-1", "linked")]
