"""The worker's Prometheus endpoint: a real `tgflow worker` process runs product imports against the
simulators while the test scrapes http://127.0.0.1:PORT/metrics and watches the counters move.

``WorkerProcess`` / ``cli_env`` / ``tgflow_cli`` are shared with test_logging.py and test_status.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tgflow.config import Settings, save_settings
from tgflow.service.products import start_import
from tgflow.sim.server import free_port

IMPORT_TIMEOUT = 90


def cli_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a tgflow subprocess: its own config file, no TGFLOW_* of the developer."""
    path = save_settings(settings, tmp_path / f"tgflow-{time.monotonic_ns()}.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env["TGFLOW_CONFIG"] = str(path)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def tgflow_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tgflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


class WorkerProcess:
    """``python -m tgflow worker`` in a child process; stderr (the logs) kept in a file."""

    def __init__(self, settings: Settings, tmp_path: Path, *args: str, **env: str) -> None:
        self.env = cli_env(settings, tmp_path, **env)
        self.args = args
        self.stderr_path = tmp_path / f"worker-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "WorkerProcess":
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tgflow", "worker", *self.args], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + 30
        while "worker polling task queue" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start (exit {self.proc.poll()}):\n{self.log_text()}")
            time.sleep(0.1)
        return self

    def log_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._stderr.close()


# ---- Prometheus text format ------------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        body = response.read().decode()
    samples = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        samples.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


def total(samples, name: str, **labels: str) -> float:
    """Sum of a metric over all series matching ``labels`` (the SDK may append ``_total``)."""
    return sum(v for n, lab, v in samples
               if n in (name, f"{name}_total") and all(lab.get(k) == w for k, w in labels.items()))


async def scrape_until(port: int, check, timeout: float = 10.0):
    """Metrics are exported asynchronously: poll until ``check(samples)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, port)
        if check(samples) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.25)


# ---- the test -------------------------------------------------------------------------------------------------

async def test_worker_metrics_move_during_product_imports(client, settings, tmp_path, tg_sim, f360_sim):
    port = free_port()
    with WorkerProcess(settings, tmp_path, TGFLOW_METRICS__PORT=str(port)) as worker:
        # First import: the whole catalog (300 articles) is created in Framework360.
        first = await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
        assert first.created == 300 and len(f360_sim.sim.products()) == 300
        before = await scrape_until(port, lambda s: total(s, "tgflow_products", outcome="created") >= 300)

        # Temporal's own SDK metrics, labelled with our task queue and workflow type.
        queue = settings.temporal.task_queue
        assert total(before, "temporal_workflow_completed", task_queue=queue,
                     workflow_type="ProductImportWorkflow") == 1
        assert total(before, "temporal_activity_execution_latency_count", task_queue=queue) >= 3 or \
            total(before, "temporal_activity_schedule_to_start_latency_count", task_queue=queue) >= 3
        # tgflow's own: API calls by API and status code, products by outcome, the run's duration.
        assert total(before, "tgflow_api_calls", api="TotalGest", status="200") >= 2
        assert total(before, "tgflow_api_calls", api="Framework360", status="200") >= 3  # ≥ 3 batches of 100
        assert total(before, "tgflow_products", outcome="created") == 300
        assert total(before, "tgflow_product_imports", result="completed", mode="incremental") == 1
        assert total(before, "tgflow_product_import_duration_seconds_count", result="completed") == 1
        # Prometheus naming: counters end in _total, durations are seconds named _seconds; and tgflow's series
        # carry their own labels only (no service_name="temporal-core-sdk" from the SDK's global tags).
        ours = {n for n, _, _ in before if n.startswith("tgflow_")}
        assert {"tgflow_api_calls_total", "tgflow_products_total", "tgflow_product_imports_total",
                "tgflow_product_import_duration_seconds_count"} <= ours, ours
        assert not [n for n in ours if re.search(r"_(latency|duration)(_bucket|_sum|_count)?$", n)], ours
        assert all("service_name" not in labels for n, labels, _ in before if n.startswith("tgflow_"))
        # Each of tgflow's series names its shop (the single-shop form: its TotalGest shop id; a worker serving
        # several shops labels each series with the shop whose task queue the activity came from).
        assert all(labels.get("shop") == settings.shop_key == "1001" for n, labels, _ in before
                   if n.startswith("tgflow_")), [(n, labels) for n, labels, _ in before if n.startswith("tgflow_")]
        assert total(before, "tgflow_products", outcome="created", shop="1001") == 300
        assert 0 < total(before, "tgflow_product_import_duration_seconds_sum") < IMPORT_TIMEOUT  # seconds, not ms

        # Second import after 5 price changes, with TotalGest answering the first call 429 once:
        # exactly those 5 are updated, the rest unchanged, and the rate-limit wait is counted.
        codes = [f"ART-{i:05d}" for i in range(1, 6)]
        tg_sim.sim.touch_articles(codes, price_gross="99.90")
        tg_sim.sim.set_faults(rate_limit_burst=1, retry_after_seconds=1)
        second = await asyncio.wait_for(start_import(client, settings, wait=True, workflow_id="metrics-second"),
                                        IMPORT_TIMEOUT)
        assert second.updated == 5 and second.created == 0
        assert all(str(f360_sim.sim.product_by_sku(c)["price"]) in ("99.90", "99.9") for c in codes)
        after = await scrape_until(port, lambda s: total(s, "tgflow_product_imports") >= 2
                                   and total(s, "tgflow_rate_limit_waits", api="TotalGest") >= 1)

        assert total(after, "temporal_workflow_completed", task_queue=queue) == 2
        assert total(after, "tgflow_products", outcome="updated") == 5
        assert total(after, "tgflow_products", outcome="unchanged") == second.unchanged  # incremental: 0
        assert total(after, "tgflow_products", outcome="created") == 300  # no new creations
        assert total(after, "tgflow_api_calls", api="TotalGest", status="429") == 1
        assert total(after, "tgflow_rate_limit_waits", api="TotalGest") == 1
        for api in ("TotalGest", "Framework360"):
            assert total(after, "tgflow_api_calls", api=api) > total(before, "tgflow_api_calls", api=api)
        assert total(after, "tgflow_product_import_duration_seconds_count") == 2
        assert total(after, "tgflow_product_import_duration_seconds_sum") > \
            total(before, "tgflow_product_import_duration_seconds_sum")
        worker.stop()
