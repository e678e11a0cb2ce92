"""The real parts of a benchmark, each in its own process.

- a Temporal dev server (``temporal server start-dev --headless``, in memory, free ports);
- the simulators (``python -m tgflow sim …``), so the worker's memory is the worker's alone;
- a tgflow worker (``python -m tgflow worker``) reading a config written with ``save_settings``;
- the peak resident memory of a process, read from ``/proc/<pid>/status`` (``VmHWM``).

Everything listens on 127.0.0.1 only and is stopped by the :class:`Stack` that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tgflow import search_attributes
from tgflow.config import Settings, save_settings
from tgflow.dev import temporal_binary
from tgflow.sim import (
    DEMO_F360_API_KEY,
    DEMO_F360_WEBHOOK_SECRET,
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)
from tgflow.sim.server import free_port

HOST = "127.0.0.1"
#: How long a fresh Temporal dev server must stay up before it counts as started (see ``Stack.temporal``).
TEMPORAL_SETTLE_SECONDS = 1.0
PYTHON = sys.executable
#: The repository root, so child processes can import ``bench`` whatever their working directory.
REPO = Path(__file__).resolve().parent.parent


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without TGFLOW_* (a developer's own settings stay out), ``bench`` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a live process plus those of its live child processes (none today;
    a worker that starts one pays for it here), in MB (10^6 bytes): a sum of peaks, never below the peak of the sum."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            own = next((int(line.split()[1]) * 1024 / 1e6 for line in fh if line.startswith("VmHWM:")), None)
    except OSError:
        return None
    if own is None:
        return None
    return own + sum(peak_rss_mb(child) or 0.0 for child in _children(pid))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all its threads) and of its live child processes, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.update(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before opening port {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)


@dataclass
class Stack:
    """Starts processes in a temporary directory and stops each of them (by its own pid) on close."""

    keep: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tgflow-bench-")))
    procs: list[Proc] = field(default_factory=list)
    #: The Temporal dev server started by ``temporal()`` (its CPU is part of what a run costs).
    server: Proc | None = None

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def spawn(self, name: str, args: list[str], *, port: int | None = None, env: dict[str, str] | None = None,
              wait: bool = True, timeout: float = 120.0) -> Proc:
        log = self.root / f"{name}-{len(self.procs)}.log"
        full_env = child_env(env)
        popen = subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=full_env, cwd=self.root, start_new_session=True)
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        if wait and port is not None:
            try:
                wait_port(port, popen, name, timeout)
            except RuntimeError as exc:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{exc}\n--- {log} ---\n{tail}") from None
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    # ---- the parts ----------------------------------------------------------------------------------------------

    def temporal(self, attempts: int = 3) -> tuple[Proc, str]:
        """In-memory dev server, no UI, our search attributes registered. Returns (proc, address).

        The server opens its gRPC port before its other listeners; when one of the free ports picked
        here is taken meanwhile it exits right after (seen once in CI as "connection refused" on the
        first call). So it must still be up a moment later, or it is started again on fresh ports."""
        for attempt in range(1, attempts + 1):
            port = free_port()
            args = [temporal_binary(), "server", "start-dev", "--headless", "--ip", HOST, "--port", str(port),
                    "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error"]
            for key in search_attributes.ALL:
                args += ["--search-attribute", f"{key.name}=Keyword"]
            proc = self.spawn("temporal", args, port=port)
            time.sleep(TEMPORAL_SETTLE_SECONDS)
            if proc.popen.poll() is None:
                wait_port(port, proc.popen, "temporal")
                self.server = proc
                return proc, f"{HOST}:{port}"
            tail = proc.log.read_text(errors="replace")[-1500:]
            self.stop(proc)
            if attempt == attempts:
                raise RuntimeError(f"the Temporal dev server exited right after starting ({attempts} tries); "
                                   f"last log:\n{tail}")
        raise AssertionError("unreachable")

    def totalgest_sim(self, articles: int) -> Proc:
        port = free_port()
        proc = self.spawn("totalgest-sim", [PYTHON, "-m", "tgflow", "sim", "totalgest", "--port", str(port),
                                            "--articles", str(articles)], port=port, timeout=300)
        wait_http(proc.url + "/_admin/stats")
        return proc

    def framework360_sim(self) -> Proc:
        port = free_port()
        proc = self.spawn("framework360-sim", [PYTHON, "-m", "tgflow", "sim", "framework360", "--port", str(port)],
                          port=port)
        wait_http(proc.url + "/_admin/stats")
        return proc

    def settings(self, *, temporal_address: str, tg: Proc, f360: Proc, **extra: Any) -> Settings:
        db = self.root / f"tgflow-{uuid.uuid4().hex[:8]}.db"
        return Settings(
            totalgest={"shop_id": DEMO_TG_SHOP_ID, "owner_id": DEMO_TG_OWNER_ID, "endpoint": tg.url + "/api/v1",
                       "username": DEMO_TG_USERNAME, "password": DEMO_TG_PASSWORD},
            f360={"base_url": f360.url + "/api/v1", "api_key": DEMO_F360_API_KEY,
                  "webhook_secret": DEMO_F360_WEBHOOK_SECRET},
            temporal={"address": temporal_address, "task_queue": f"bench-{uuid.uuid4().hex[:10]}"},
            database_url=f"sqlite:///{db}",
            **extra,
        )

    def config_file(self, settings: Settings) -> Path:
        return save_settings(settings, self.root / f"tgflow-{uuid.uuid4().hex[:8]}.toml")

    def tgflow(self, name: str, settings: Settings, *args: str, port: int | None = None) -> Proc:
        """``python -m tgflow ARGS`` with TGFLOW_CONFIG pointing to these settings (no metrics port)."""
        env = {"TGFLOW_CONFIG": str(self.config_file(settings))}
        return self.spawn(name, [PYTHON, "-m", "tgflow", *args], port=port, env=env)

    def worker(self, settings: Settings, log_level: str = "INFO") -> Proc:
        return self.tgflow("worker", settings, "worker", "--log-level", log_level)


def wait_http(url: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code < 500:
                return response.json()
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s ({last})")


async def wait_for_pollers(client: Any, task_queue: str, timeout: float = 60.0) -> None:
    """Until a worker polls the task queue for workflow tasks (so start-up time is not measured)."""
    import asyncio

    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind))
            if not resp.pollers:
                break
        else:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no worker polled task queue {task_queue} within {timeout:.0f} s")


def admin(proc: Proc, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, proc.url + "/_admin" + path, timeout=120, **kwargs)
    response.raise_for_status()
    return response.json()


def f360_writes(stats: dict[str, Any]) -> int:
    """Framework360 write requests: batch calls plus integration-status PUTs."""
    return int(stats["batch_calls"]) + int(stats["product_integration_puts"]) + int(stats["order_integration_puts"])


#: Set by ``--profile DIR``: py-spy samples the worker during each measured run (times are then disturbed).
PROFILE_DIR: Path | None = None


def start_profiler(pid: int, out: Path) -> subprocess.Popen:
    """``py-spy record`` attached to a running process, collapsed stacks to ``out`` (a dev tool, not a dependency)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--idle",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(0.5)
    return proc


def stop_profiler(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
