"""Issue 15's "Done when": three shops in one settings file, each with its own TotalGest and Framework360
simulators, shop c with a wrong TotalGest password, ONE ``tgflow worker`` process serving all three, on
SQLite and on PostgreSQL. Shops a and b get every product and every order; nothing crosses between the
shops; shop c's orders fail with a reason naming its credentials (and Framework360 shows it); ``tgflow
--shop X status`` shows each shop's state.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from tests.test_cli_human import Out, pipe, tty
from tgflow.sim import DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET, DEMO_TG_OWNER_ID, DEMO_TG_PASSWORD, DEMO_TG_USERNAME
from tgflow.sim.framework360 import Framework360Sim
from tgflow.sim.framework360 import create_app as f360_app
from tgflow.sim.server import ServerThread
from tgflow.sim.totalgest import TotalGestSim
from tgflow.sim.totalgest import create_app as tg_app

ARTICLES = 30
ORDERS = 5
BROKEN = "c"  # the shop whose TotalGest password is wrong


@dataclass
class Shop:
    """One shop's own pair of simulators and what it holds."""

    id: str
    tg_shop_id: str
    tg: TotalGestSim
    f360: Framework360Sim
    tg_url: str = ""
    f360_url: str = ""
    codes: list[str] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)


def make_shop(stack: ExitStack, shop_id: str, tag: str, seed: int) -> Shop:
    """A catalog of its own (SKUs ``A-001`` … for shop a, prices of its own) and completed orders of it."""
    tg = TotalGestSim(articles=0, seed=seed, shop_id=f"{tag}-{seed}")
    codes = [f"{shop_id.upper()}-{i:03d}" for i in range(1, ARTICLES + 1)]
    vat_code, vat_rate = next(iter(tg.vat_rates.items()))
    for i, code in enumerate(codes, 1):
        tg.upsert_article({
            "code": code, "ean": None, "name": f"Shop {shop_id} article {i}", "description": f"<p>{code}</p>",
            "short_description": f"{shop_id} {i}", "price_gross": str(Decimal(seed * 100 + i) + Decimal("0.50")),
            "vat_code": vat_code, "vat_rate": vat_rate, "currency": "CHF", "unit": "pz", "weight_kg": None,
            "active": True,
        })
        for warehouse in tg.warehouses:
            tg.set_stock(code, warehouse, "40")
    f360 = Framework360Sim(orders=0, seed=seed, sku_pool=codes, site_id=f"site-{shop_id}")
    shop = Shop(shop_id, tg.shop_id, tg, f360, codes=codes)
    shop.tg_url = stack.enter_context(ServerThread(tg_app(tg))).url + "/api/v1"
    shop.f360_url = stack.enter_context(ServerThread(f360_app(f360))).url + "/api/v1"
    stack.callback(f360.close)
    shop.orders = [f360.create_order() for _ in range(ORDERS)]
    return shop


def config_text(shops: list[Shop], *, database_url: str, address: str, task_queue: str) -> str:
    text = (f'database_url = "{database_url}"\n[temporal]\naddress = "{address}"\ntask_queue = "{task_queue}"\n'
            "[orders]\nretry_initial_seconds = 0.2\nretry_max_seconds = 1.0\n")
    for shop in shops:
        password = "not-the-password" if shop.id == BROKEN else DEMO_TG_PASSWORD
        text += (f'\n[[shops]]\nid = "{shop.id}"\n[shops.totalgest]\nshop_id = "{shop.tg_shop_id}"\n'
                 f'owner_id = "{DEMO_TG_OWNER_ID}"\nendpoint = "{shop.tg_url}"\nusername = "{DEMO_TG_USERNAME}"\n'
                 f'password = "{password}"\ntimeout_seconds = 3.0\n'
                 f'[shops.f360]\nbase_url = "{shop.f360_url}"\napi_key = "{DEMO_F360_API_KEY}"\n'
                 f'webhook_secret = "{DEMO_F360_WEBHOOK_SECRET}"\ntimeout_seconds = 3.0\n')
    return text


class OneWorker:
    """``tgflow worker`` (no --shop) in a child process; its logs (stderr) in a file."""

    def __init__(self, env: dict[str, str], log: Path, shops: int = 3) -> None:
        self.env, self.log, self.shops = env, log, shops

    def __enter__(self) -> OneWorker:
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tgflow", "worker"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._out)
        deadline = time.monotonic() + 30
        while self.text().count("worker polling task queue") < self.shops:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start (exit {self.proc.poll()}):\n{self.text()}")
            time.sleep(0.1)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._out.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")  # skips with the reason where PostgreSQL can't run
    return f"sqlite:///{tmp_path / 'tgflow.db'}"


async def test_one_worker_serves_three_shops_and_a_broken_password_stays_in_its_shop(
        client, temporal_env, database_url, tmp_path):
    tag = uuid.uuid4().hex[:8]
    address = temporal_env.client.service_client.config.target_host
    task_queue = f"three-{tag}"
    with ExitStack() as stack:
        shops = {shop.id: shop for shop in (make_shop(stack, shop_id, tag, seed)
                                             for seed, shop_id in enumerate(("a", "b", BROKEN), 1))}
        config = tmp_path / "shops.toml"
        config.write_text(config_text(list(shops.values()), database_url=database_url, address=address,
                                      task_queue=task_queue))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"TGFLOW_CONFIG": str(config)}

        # Without --shop, an action command still asks which shop; the worker does not: it serves all.
        asked = await pipe(env, "import-products", "--wait")
        assert asked.code == 2 and "3 shops are configured (a, b, c)" in asked.stderr
        with OneWorker(env, tmp_path / "worker.log") as worker:
            try:
                log = worker.text()
                assert "worker serving 3 shops: a, b, c" in log
                for shop_id in shops:
                    assert f"worker polling task queue {task_queue}-{shop_id} for shop {shop_id}" in log
                assert "not-the-password" not in log

                # Each shop's product import, all three at once, on the one worker.
                imports = dict(zip(shops, await asyncio.gather(*(
                    pipe(env, "--shop", shop_id, "import-products", "--wait", "--json") for shop_id in shops))))
                for shop_id in ("a", "b"):
                    out = imports[shop_id]
                    assert out.code == 0, out.text
                    report = json.loads(out.stdout)
                    assert (report["created"], report["errors"]) == (ARTICLES, 0), report
                broken = imports[BROKEN]
                assert broken.code != 0 and len(broken.stderr.strip().splitlines()) == 1, broken.text
                assert "shop c's credentials" in broken.stderr and "invalid_credentials" in broken.stderr, broken.text

                # Each shop's completed orders, exported through the CLI, all three at once.
                exports = dict(zip(shops, await asyncio.gather(*(
                    pipe(env, "--shop", shop_id, "export-orders", *(str(o["id"]) for o in shop.orders), "--json")
                    for shop_id, shop in shops.items()))))
                for shop_id in ("a", "b"):
                    out = exports[shop_id]
                    assert out.code == 0, out.text
                    report = json.loads(out.stdout)
                    assert (report["succeeded"], report["failed"]) == (ORDERS, 0), report
                broken = exports[BROKEN]
                assert broken.code == 1, broken.text
                report = json.loads(broken.stdout)
                assert (report["succeeded"], report["failed"]) == (0, ORDERS), report
                assert all("shop c's credentials" in f["reason"] for f in report["failures"]), report

                # tgflow --shop X status: each shop's own state, as JSON and for a person.
                states = {}
                for shop_id in shops:
                    out = await pipe(env, "--shop", shop_id, "status", "--json")
                    assert out.code in (0, 1), out.text
                    states[shop_id] = json.loads(out.stdout)
                    for shown in (await tty(env, "--shop", shop_id, "status"),
                                  await pipe(env, "--shop", shop_id, "status")):
                        assert shown.code in (0, 1), shown.text
                        assert_status_shows(shown, shops[shop_id])
                for shop_id in ("a", "b"):
                    assert_status_counts(states[shop_id], linked=ORDERS, failed=0, products=ARTICLES)
                assert_status_counts(states[BROKEN], linked=0, failed=ORDERS, products=0)
                # tgflow status without --shop: every shop in one report, each with its own counts
                every = await pipe(env, "status", "--json")
                assert every.code == 1, every.text  # shop c needs a person
                report = json.loads(every.stdout)
                assert [(s["shop"], s["totalgest_shop_id"]) for s in report["shops"]] == [
                    (shop_id, shop.tg_shop_id) for shop_id, shop in shops.items()]
                for state in report["shops"]:
                    linked, failed, products = (0, ORDERS, 0) if state["shop"] == BROKEN else (ORDERS, 0, ARTICLES)
                    assert_status_counts(state, linked=linked, failed=failed, products=products)
                assert report["services"]["temporal"]["ok"] is True and report["healthy"] is False
                shown = await tty(env, "status")
                for shop_id, shop in shops.items():
                    assert f"shop {shop_id} (TotalGest shop {shop.tg_shop_id})" in shown.stdout, shown.stdout
            finally:
                await end_running(client, task_queue, list(shops))
            assert worker.stop() == 0, worker.text()[-2000:]
        assert "Traceback" not in worker.text(), worker.text()[-3000:]

        # Shops a and b: every article in their own Framework360 with its SKU, price and status column ...
        for shop_id in ("a", "b"):
            shop = shops[shop_id]
            products = {p["sku"]: p for p in shop.f360.products()}
            assert sorted(products) == shop.codes
            for code in shop.codes:
                article = shop.tg.article(code)
                product = products[code]
                assert Decimal(product["price"]) == Decimal(article["price_gross"])
                assert product["name"] == article["name"]
                assert product["integrations"]["totalgest"]["status"] == "linked"
            # ... and every order in their own TotalGest exactly once, the shop's column saying linked.
            refs = Counter(o["external_ref"] for o in shop.tg.orders())
            assert refs == Counter({o["number"]: 1 for o in shop.orders}), refs
            for order in shop.orders:
                assert shop.f360.order(order["id"])["integrations"]["totalgest"]["status"] == "linked"
        # Nothing crossed: each simulator holds its own shop's SKUs and orders only.
        for shop in shops.values():
            assert {p["sku"] for p in shop.f360.products()} <= set(shop.codes)
            assert {line["article_code"] for o in shop.tg.orders() for line in o["lines"]} <= set(shop.codes)
            assert {o["external_ref"] for o in shop.tg.orders()} <= {o["number"] for o in shop.orders}
        # Shop c: nothing imported, nothing registered, every order failed naming its credentials.
        broken = shops[BROKEN]
        assert broken.f360.products() == [] and broken.tg.orders() == []
        for order in broken.orders:
            column = broken.f360.order(order["id"])["integrations"]["totalgest"]
            assert column["status"] == "error", column
            assert "credentials" in column["message"] and "shop c" in column["message"], column


def assert_status_counts(state: dict, *, linked: int, failed: int, products: int) -> None:
    orders = state["orders"]
    assert (orders["linked"], orders["failed"]) == (linked, failed), state
    assert state["products"]["linked"] == products, state


def assert_status_shows(out: Out, shop: Shop) -> None:
    """The person's view of one shop: its own TotalGest shop, its counts in the sync table, what to fix."""
    rows = {}
    for line in out.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 5 and cells[0] in ("orders", "products"):
            rows[cells[0]] = cells[1:]
    if shop.id == BROKEN:
        assert rows == {"orders": ["0", "0", str(ORDERS), "0"], "products": ["0", "0", "0", rows["products"][3]]}, \
            out.stdout
        assert "totalgest     down" in out.stdout and "shop c's credentials" in out.stdout, out.stdout
    else:
        assert rows == {"orders": [str(ORDERS), "0", "0", "0"], "products": [str(ARTICLES), "0", "0", "0"]}, \
            out.stdout
        assert f"(id {shop.tg_shop_id}, CHF)" in " ".join(out.stdout.split()), out.stdout


async def end_running(client, task_queue: str, shop_ids: list[str]) -> None:
    """End what the test left running on its shops' task queues (none is expected; a later test must not
    find them)."""
    for shop_id in shop_ids:
        query = f"TaskQueue = '{task_queue}-{shop_id}' AND ExecutionStatus = 'Running'"
        async for execution in client.list_workflows(query):
            try:
                await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")
            except Exception:
                pass


async def test_worker_with_shop_serves_that_shop_only(temporal_env, tmp_path):
    """``tgflow --shop b worker`` (and TGFLOW_SHOP=b) polls shop b's task queue alone."""
    address = temporal_env.client.service_client.config.target_host
    task_queue = f"three-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        shops = [make_shop(stack, shop_id, "one", seed) for seed, shop_id in enumerate(("a", "b"), 1)]
        config = tmp_path / "shops.toml"
        config.write_text(config_text(shops, database_url=f"sqlite:///{tmp_path / 'one.db'}", address=address,
                                      task_queue=task_queue))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"TGFLOW_CONFIG": str(config)}
        for args, extra in ((["--shop", "b"], {}), ([], {"TGFLOW_SHOP": "b"})):
            log = tmp_path / f"worker-{len(args)}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", "tgflow", *args, "worker"], env=env | extra,
                                        stdout=subprocess.DEVNULL, stderr=out)
                try:
                    deadline = time.monotonic() + 30
                    while "worker polling task queue" not in log.read_text():
                        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                        time.sleep(0.1)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    code = proc.wait(timeout=30)
            text = log.read_text()
            assert code == 0, text
            assert f"worker polling task queue {task_queue}-b for shop b" in text
            assert f"{task_queue}-a" not in text and "worker serving" not in text


async def test_a_stop_right_at_start_shuts_every_shop_worker_down(client, temporal_env, tmp_path, monkeypatch):
    """SIGTERM just after start-up (before the shops' workers have all started) ends them all: run_worker
    returns. It used to shut down only the running ones and then wait forever for the others."""
    from tgflow.config import load_settings
    from tgflow.worker import run_worker

    address = temporal_env.client.service_client.config.target_host
    text = f'database_url = "sqlite:///{tmp_path / "s.db"}"\n[temporal]\naddress = "{address}"\n' \
           f'task_queue = "three-{uuid.uuid4().hex[:8]}"\n'
    for n, shop_id in enumerate(("a", "b", "c"), 1):
        text += f'[[shops]]\nid = "{shop_id}"\n[shops.totalgest]\nshop_id = "stop-{n}"\n'
    (tmp_path / "s.toml").write_text(text)
    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "s.toml"))
    stop = asyncio.Event()
    stop.set()  # the signal arrived before any shop's worker started
    await asyncio.wait_for(run_worker(load_settings(), client=client, stop=stop), 60)
