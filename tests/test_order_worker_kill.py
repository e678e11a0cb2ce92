"""A worker process SIGKILLed in the middle of exports and started again: no order lost, none duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tgflow.config import save_settings
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.service.orders import enqueue_orders
from tgflow.store import orders as ostore

SHOP = "1001"


def start_worker(config: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"TGFLOW_CONFIG": str(config)}
    return subprocess.Popen([sys.executable, "-m", "tgflow", "worker", "--log-level", "WARNING"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def linked(store, numbers: set[str]) -> int:
    return sum(1 for link in ostore.list_links(store, SHOP, "linked") if link.f360_number in numbers)


def shown_linked(f360_sim, orders: list[dict]) -> int:
    """Orders whose Framework360 status column says linked."""
    return sum(1 for o in orders
               if ((f360_sim.sim.order(o["id"]).get("integrations") or {}).get("totalgest") or {}).get("status")
               == "linked")


async def test_worker_killed_mid_export_and_restarted_loses_and_duplicates_nothing(
        client, settings, tg_sim, f360_sim, store, tmp_path):
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0
    settings.orders.attempt_timeout_seconds = 4.0  # in-flight attempts of the dead worker are retried soon
    config = save_settings(settings, tmp_path / "worker.toml")
    log = tmp_path / "worker.log"
    orders = [f360_sim.sim.create_order() for _ in range(100)]
    numbers = {o["number"] for o in orders}
    tg_sim.sim.set_faults(slow_ms=40)  # keep exports in flight when the kill lands
    worker = start_worker(config, log)
    try:
        await enqueue_orders(client, settings, [o["id"] for o in orders])
        deadline = time.monotonic() + 60
        while linked(store, numbers) < 15:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            assert worker.poll() is None, log.read_text()[-2000:]
            await asyncio.sleep(0.1)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        before = linked(store, numbers)
        assert before < len(numbers)  # the kill landed mid-run
        worker = start_worker(config, log)
        deadline = time.monotonic() + 100
        # An outcome is stored just before the status column is set: wait for both.
        while linked(store, numbers) < len(numbers) or shown_linked(f360_sim, orders) < len(orders):
            assert time.monotonic() < deadline, (f"{linked(store, numbers)} linked, {shown_linked(f360_sim, orders)} "
                                                 f"shown linked; {log.read_text()[-2000:]}")
            await asyncio.sleep(0.25)
        refs = Counter(o["external_ref"] for o in tg_sim.sim.orders())
        assert {n: refs[n] for n in numbers} == {n: 1 for n in numbers}
        emails = Counter(c["email"].lower() for c in tg_sim.sim.customers())
        assert max(emails.values()) == 1
    finally:
        tg_sim.sim.set_faults()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        await client.get_workflow_handle(order_queue_workflow_id(SHOP)).terminate("test done")
