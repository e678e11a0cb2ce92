"""Helpers of the chaos suite: a killable worker process, an own Temporal dev server that can be stopped and
restarted on its database file, waiting, and the end-state counts every scenario prints and asserts."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tgflow import search_attributes
from tgflow.config import Settings, save_settings
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.sim.server import free_port

SHOP = "1001"


async def wait_for(predicate, timeout: float = 60.0, what: str = "condition", every: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        if await asyncio.to_thread(predicate):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


class KillableWorker:
    """``python -m tgflow worker`` in its own process group; ``kill()`` is SIGKILL, ``start()`` starts it again.

    All runs append to one log file (``log_text()``)."""

    def __init__(self, settings: Settings, tmp_path: Path, *, log_level: str = "INFO") -> None:
        self.config = save_settings(settings, tmp_path / f"worker-{time.monotonic_ns()}.toml")
        self.log = tmp_path / f"worker-{time.monotonic_ns()}.log"
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        self.starts = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
        env["TGFLOW_CONFIG"] = str(self.config)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        return env

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, wait: bool = True) -> None:
        assert self.proc is None or self.proc.poll() is not None
        ready_before = self.log_text().count("worker polling task queue")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "tgflow", "worker", "--log-level", self.log_level],
                                         env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + 30
        while wait and self.log_text().count("worker polling task queue") <= ready_before:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start (exit {self.proc.poll()}):\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.alive(), f"the worker died by itself:\n{self.log_text()[-3000:]}"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if not self.alive():
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class OwnTemporal:
    """A `temporal server start-dev` of the test's own, persisted in a SQLite file, on fixed free ports."""

    def __init__(self, tmp_path: Path) -> None:
        from tests.conftest import temporal_binary

        self.binary = temporal_binary()
        self.db = tmp_path / "temporal.db"
        self.log = tmp_path / "temporal.log"
        self.port = free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [self.binary, "server", "start-dev", "--db-filename", str(self.db), "--ip", "127.0.0.1",
                "--port", str(self.port), "--http-port", str(self.http_port), "--metrics-port",
                str(self.metrics_port), "--headless", "--log-level", "error"]
        for key in search_attributes.ALL:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    async def connect(self, timeout: float = 30.0):
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        deadline = time.monotonic() + timeout
        while True:
            try:
                return await Client.connect(self.address, data_converter=pydantic_data_converter)
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"own Temporal server did not come up:\n{self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def own_temporal(tmp_path):
    server = OwnTemporal(tmp_path)
    yield server
    server.stop(signal.SIGKILL)


# ---- end state -------------------------------------------------------------------------------------------------

def order_counts(tg, f360, orders: list[dict], label: str = "orders") -> dict[str, int]:
    """What TotalGest and Framework360 hold for ``orders``; printed in one line and asserted exactly once."""
    numbers = [o["number"] for o in orders]
    refs = Counter(o["external_ref"] for o in tg.orders())
    in_tg = sum(1 for n in numbers if refs[n] >= 1)
    duplicates = sum(refs[n] - 1 for n in numbers if refs[n] > 1)
    lost = sum(1 for n in numbers if refs[n] == 0)
    linked_in_f360 = sum(1 for o in orders
                         if f360.order(o["id"])["integrations"]["totalgest"]["status"] == "linked")
    emails = Counter(c["email"].lower() for c in tg.customers())
    dup_customers = sum(v - 1 for v in emails.values() if v > 1)
    counts = {"sent": len(numbers), "in TotalGest": in_tg, "duplicates": duplicates, "lost": lost,
              "linked in Framework360": linked_in_f360, "duplicate customers": dup_customers}
    print(f"{label} " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def assert_exactly_once(counts: dict[str, int]) -> None:
    n = counts["sent"]
    assert counts == {"sent": n, "in TotalGest": n, "duplicates": 0, "lost": 0, "linked in Framework360": n,
                      "duplicate customers": 0}, counts


async def stop_queue(client) -> None:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    handle = client.get_workflow_handle(order_queue_workflow_id(SHOP))
    try:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test done")
    except RPCError:
        pass


async def history_text(client, workflow_id: str, run_id: str | None = None) -> str:
    """A history as JSON plus every payload decoded (payloads are base64 in the JSON)."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    text = history.to_json()
    decoded = [base64.b64decode(m).decode("utf-8", "ignore")
               for m in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', text)]
    return text + "\n" + "\n".join(decoded)
