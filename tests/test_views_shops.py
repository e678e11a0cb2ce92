"""Lists, reports, `tgflow status` and `tgflow check` across several shops (issue 15, VIEWS): without --shop they
cover every shop with a shop column (human) / ``"shop"`` key (--json), each row carrying the shop it belongs
to and none missing; with --shop they are what they were. Two real shops: each its own TotalGest and
Framework360 simulator over loopback HTTP, one SQLite status store holding rows of both (keyed by each shop's
TotalGest shop id), the real Temporal dev server; shop south's TotalGest password is wrong."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.test_cli_human import Out, fits, hints, pipe, run_hint, tty
from tgflow.sim import DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET, DEMO_TG_OWNER_ID, DEMO_TG_PASSWORD, DEMO_TG_USERNAME
from tgflow.sim.server import ServerThread

SHOP = """
[[shops]]
id = "{id}"
[shops.totalgest]
shop_id = "{tg}"
owner_id = "{owner}"
endpoint = "{tg_url}"
username = "{user}"
password = "{password}"
timeout_seconds = 3.0
[shops.f360]
base_url = "{f360_url}"
api_key = "{api_key}"
webhook_secret = "{secret}"
timeout_seconds = 3.0
"""


@dataclass
class TwoShops:
    config: Path
    env: dict[str, str]
    database_url: str


@pytest.fixture
def two_shops(tmp_path: Path, temporal_env) -> Iterator[TwoShops]:
    """Shops north (TotalGest shop 2001) and south (2002, its password wrong in the config), each with its own
    simulators, and one store with orders, products and alerts of both: the same Framework360 order id 1 and
    SKU ART-1 exist in both shops, so a row shown under the wrong shop is caught."""
    from tgflow.sim.framework360 import Framework360Sim
    from tgflow.sim.framework360 import create_app as f360_app
    from tgflow.sim.totalgest import TotalGestSim
    from tgflow.sim.totalgest import create_app as tg_app
    from tgflow.store import Store
    from tgflow.store import alerts as alstore
    from tgflow.store import orders as ostore
    from tgflow.store import products as pstore

    url = f"sqlite:///{tmp_path / 'tgflow.db'}"
    store = Store(url, create=True)
    ostore.record_result(store, "2001", 1, outcome="linked", number="N-1", tg_order_id=501, tg_order_number="OV-N1")
    ostore.record_result(store, "2001", 2, outcome="failed", number="N-2", reason="SKU N-404 is not in TotalGest")
    ostore.record_result(store, "2002", 1, outcome="linked", number="S-1", tg_order_id=601, tg_order_number="OV-S1")
    ostore.record_result(store, "2002", 9, outcome="failed", number="S-9", reason="SKU S-404 is not in TotalGest")
    pstore.save_links(store, "2001", {"ART-1": {"status": "linked", "f360_product_id": 11, "name": "North cup"},
                                      "ART-2": {"status": "error", "last_error": "VAT code X unknown",
                                                "name": "North mug"}})
    pstore.save_links(store, "2002", {"ART-1": {"status": "linked", "f360_product_id": 21, "name": "South cup"},
                                      "ART-3": {"status": "pending", "name": "South plate"}})
    now = datetime.now(timezone.utc)
    pstore.set_cursor(store, "2002", pstore.ARTICLES_CURSOR, datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc))
    alstore.apply_findings(store, "2001", {"failures": "1 failed order(s) and 1 product(s) in error"}, now,
                           timedelta(hours=4))
    store.close()
    sims = [TotalGestSim(articles=5, seed=1, shop_id="2001"), TotalGestSim(articles=5, seed=2, shop_id="2002"),
            Framework360Sim(orders=2, seed=1), Framework360Sim(orders=2, seed=2)]
    apps = [tg_app(sims[0]), tg_app(sims[1]), f360_app(sims[2]), f360_app(sims[3])]
    servers = [ServerThread(app) for app in apps]
    for server in servers:
        server.__enter__()
    try:
        address = temporal_env.client.service_client.config.target_host
        text = (f'database_url = "{url}"\n[temporal]\naddress = "{address}"\n'
                f'task_queue = "views-{uuid.uuid4().hex[:8]}"\n')
        for shop_id, tg, tg_server, f360_server, password in (("north", "2001", servers[0], servers[2], DEMO_TG_PASSWORD),
                                                              ("south", "2002", servers[1], servers[3], "wrong")):
            text += SHOP.format(id=shop_id, tg=tg, owner=DEMO_TG_OWNER_ID, tg_url=tg_server.url + "/api/v1",
                                user=DEMO_TG_USERNAME, password=password, f360_url=f360_server.url + "/api/v1",
                                api_key=DEMO_F360_API_KEY, secret=DEMO_F360_WEBHOOK_SECRET)
        config = tmp_path / "shops.toml"
        config.write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
        env |= {"TGFLOW_CONFIG": str(config), "PATH": os.path.dirname(sys.executable) + os.pathsep + env["PATH"]}
        yield TwoShops(config, env, url)
    finally:
        for server in servers:
            server.__exit__(None, None, None)
        for sim in sims[2:]:
            sim.close()


def table_rows(out: Out) -> list[list[str]]:
    """The body rows of the tables in ``out``: their cells, stripped."""
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("│") and line.count("│") > 3:
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


# ---- lists ----------------------------------------------------------------------------------------------------

async def test_orders_list_covers_every_shop_with_its_shop(two_shops):
    out = await pipe(two_shops.env, "orders", "list", "--json")
    assert out.code == 0, out.text
    rows = json.loads(out.stdout)
    assert [(r["shop"], r["order_id"], r["number"], r["status"], r["tg_order_number"]) for r in rows] == [
        ("north", 2, "N-2", "failed", None), ("north", 1, "N-1", "linked", "OV-N1"),
        ("south", 9, "S-9", "failed", None), ("south", 1, "S-1", "linked", "OV-S1")]
    failed = await pipe(two_shops.env, "orders", "list", "--status", "failed", "--json")
    assert [(r["shop"], r["number"], r["reason"]) for r in json.loads(failed.stdout)] == [
        ("north", "N-2", "SKU N-404 is not in TotalGest"), ("south", "S-9", "SKU S-404 is not in TotalGest")]
    limited = await pipe(two_shops.env, "orders", "list", "--limit", "3", "--json")
    assert [(r["shop"], r["number"]) for r in json.loads(limited.stdout)] == [
        ("north", "N-2"), ("north", "N-1"), ("south", "S-9")]
    for shown in (await tty(two_shops.env, "orders", "list"), await pipe(two_shops.env, "orders", "list")):
        assert shown.code == 0, shown.text
        fits(shown)
        assert "Orders of 2 shops (4)" in shown.stdout
        cells = {(row[0], row[2]): row for row in table_rows(shown)}
        assert set(cells) == {("north", "N-2"), ("north", "N-1"), ("south", "S-9"), ("south", "S-1")}
        assert cells[("north", "N-1")][3].startswith("Linked OV-N1")
        assert cells[("south", "S-1")][3].startswith("Linked OV-S1")
        assert cells[("north", "N-2")][3].startswith("Failed: SKU N-4")  # cut with "…" at 80 columns
        assert cells[("south", "S-9")][3].startswith("Failed: SKU S-4")
        assert hints(shown.stdout) == ["tgflow --shop north orders show N-2"]
    shown = await run_hint(two_shops.env, "tgflow --shop north orders show N-2")
    assert shown.code == 0 and "SKU N-404 is not in TotalGest" in shown.stdout
    # one shop chosen: that shop's rows, as before (no shop key, no shop column)
    one = await pipe(two_shops.env, "--shop", "south", "orders", "list", "--json")
    assert one.code == 0 and [(r["number"], "shop" in r) for r in json.loads(one.stdout)] == [
        ("S-9", False), ("S-1", False)]
    one = await pipe(two_shops.env, "--shop", "south", "orders", "list")
    assert "Orders (2)" in one.stdout and "N-1" not in one.stdout and "Shop" not in one.stdout


async def test_products_list_covers_every_shop_and_pages_across_them(two_shops):
    out = await pipe(two_shops.env, "products", "list", "--json")
    assert out.code == 0, out.text
    assert [(r["shop"], r["sku"], r["name"], r["status"], r["f360_product_id"]) for r in json.loads(out.stdout)] == [
        ("north", "ART-1", "North cup", "linked", 11), ("north", "ART-2", "North mug", "error", None),
        ("south", "ART-1", "South cup", "linked", 21), ("south", "ART-3", "South plate", "pending", None)]
    page = await pipe(two_shops.env, "products", "list", "--limit", "2", "--offset", "1", "--json")
    assert [(r["shop"], r["sku"]) for r in json.loads(page.stdout)] == [("north", "ART-2"), ("south", "ART-1")]
    errors = await pipe(two_shops.env, "products", "list", "--status", "error", "--json")
    assert [(r["shop"], r["sku"], r["error"]) for r in json.loads(errors.stdout)] == [
        ("north", "ART-2", "VAT code X unknown")]
    for shown in (await tty(two_shops.env, "products", "list"), await pipe(two_shops.env, "products", "list")):
        assert shown.code == 0, shown.text
        fits(shown)
        assert "Products of 2 shops (1–4 of 4)" in shown.stdout
        cells = {(row[0], row[1]): row for row in table_rows(shown)}
        assert set(cells) == {("north", "ART-1"), ("north", "ART-2"), ("south", "ART-1"), ("south", "ART-3")}
        assert cells[("north", "ART-1")][2] == "North cup" and cells[("north", "ART-1")][4] == "11"
        assert cells[("south", "ART-1")][2] == "South cup" and cells[("south", "ART-1")][4] == "21"
        assert cells[("north", "ART-2")][3] == "Error: VAT code X unknown" if shown.mode == "tty" else \
            cells[("north", "ART-2")][3].startswith("Error: VAT c")  # cut with "…" at 80 columns
    shown = await pipe(two_shops.env, "products", "list", "--limit", "3")
    assert "Products of 2 shops (1–3 of 4)" in shown.stdout
    assert hints(shown.stdout) == ["tgflow products list --limit 3 --offset 3"]
    rest = await run_hint(two_shops.env, hints(shown.stdout)[0])
    assert [(row[0], row[1]) for row in table_rows(rest)] == [("south", "ART-3")]
    one = await pipe(two_shops.env, "--shop", "north", "products", "list", "--json")
    assert [(r["sku"], r["name"], "shop" in r) for r in json.loads(one.stdout)] == [
        ("ART-1", "North cup", False), ("ART-2", "North mug", False)]


async def test_product_cursors_of_every_shop(two_shops):
    out = await pipe(two_shops.env, "products", "cursor", "show", "--json")
    assert out.code == 0, out.text
    rows = {(r["shop"], r["name"]): r["value"] for r in json.loads(out.stdout)}
    assert len(rows) == 4 and rows[("south", "articles")].startswith("2026-11-02T08:30:00")
    assert rows[("north", "articles")] is None and rows[("south", "stock")] is None
    for shown in (await tty(two_shops.env, "products", "cursor", "show"),
                  await pipe(two_shops.env, "products", "cursor", "show")):
        cells = {(row[0], row[1]): row[2] for row in table_rows(shown)}
        assert cells[("south", "articles")] == "2026-11-02 08:30:00 UTC"
        assert cells[("north", "articles")].startswith("— (next run")


async def test_alerts_list_names_the_shop(two_shops):
    out = await pipe(two_shops.env, "alerts", "list", "--json")
    assert out.code == 1, out.text
    assert [(r["shop"], r["key"], r["active"]) for r in json.loads(out.stdout)] == [("north", "failures", True)]
    for shown in (await tty(two_shops.env, "alerts", "list"), await pipe(two_shops.env, "alerts", "list")):
        assert shown.code == 1
        assert "FIRING shop north: failures since" in shown.stdout and "south" not in shown.stdout
    quiet = await pipe(two_shops.env, "--shop", "south", "alerts", "list")
    assert quiet.code == 0 and "no alert firing" in quiet.stdout


async def test_action_commands_still_need_a_shop(two_shops):
    for args in (("export-orders", "1"), ("orders", "retry", "--failed"), ("products", "retry", "--failed")):
        out = await pipe(two_shops.env, *args)
        assert out.code == 2 and out.stdout == "", (args, out.text)
        assert out.stderr.strip() == ("error: configuration: 2 shops are configured (north, south): choose one "
                                      "with `tgflow --shop ID …` or TGFLOW_SHOP=ID")


# ---- status and check -----------------------------------------------------------------------------------------

async def test_status_shows_every_shop_and_exits_the_worst(two_shops):
    out = await pipe(two_shops.env, "status", "--json")
    assert out.code == 1, out.text  # south's TotalGest refuses the login, and both shops have a failed order
    data = json.loads(out.stdout)
    assert data["healthy"] is False and data["services"] == {"temporal": data["services"]["temporal"]}
    assert data["services"]["temporal"]["ok"] is True
    shops = {s["shop"]: s for s in data["shops"]}
    assert [s["shop"] for s in data["shops"]] == ["north", "south"]
    assert shops["north"]["totalgest_shop_id"] == "2001" and shops["south"]["totalgest_shop_id"] == "2002"
    assert shops["north"]["services"]["totalgest"]["ok"] is True
    assert shops["south"]["services"]["totalgest"]["ok"] is False
    assert "refused the login" in shops["south"]["services"]["totalgest"]["message"]
    assert all(s["services"]["framework360"]["ok"] for s in data["shops"])
    assert shops["north"]["orders"] == {"linked": 1, "pending": 0, "failed": 1, "not_linked": 0,
                                      "changed_after_export": 0}
    assert shops["south"]["orders"] == {"linked": 1, "pending": 0, "failed": 1, "not_linked": 0,
                                      "changed_after_export": 0}
    assert shops["north"]["products"]["error"] == 1 and shops["south"]["products"]["error"] == 0
    assert shops["south"]["products"]["pending"] == 1 and shops["north"]["products"]["pending"] == 0
    assert shops["north"]["oldest_failed_order"]["number"] == "N-2"
    assert shops["south"]["oldest_failed_order"]["number"] == "S-9"
    assert [a["key"] for a in shops["north"]["alerts"]] == ["failures"] and shops["south"]["alerts"] == []
    assert all(s["schedules"][0]["id"].endswith(s["totalgest_shop_id"]) for s in data["shops"])
    assert "wrong" not in out.stdout and DEMO_F360_API_KEY not in out.stdout  # never a credential
    for shown in (await tty(two_shops.env, "status"), await pipe(two_shops.env, "status")):
        assert shown.code == 1, shown.text
        text = shown.stdout
        assert text.count("temporal ok") == 1
        north, south = text.index("shop north (TotalGest shop 2001): needs a person"), \
            text.index("shop south (TotalGest shop 2002): needs a person")
        assert north < south
        assert "oldest failed order: N-2" in text[north:south] and "S-9" not in text[north:south]
        assert "oldest failed order: S-9" in text[south:] and "N-2" not in text[south:]
        assert "refused the login" in text[south:] and "refused the login" not in text[north:south]
        assert "ALERT failures" in text[north:south] and "ALERT" not in text[south:]
    one = await pipe(two_shops.env, "--shop", "north", "status", "--json")
    data = json.loads(one.stdout)
    assert one.code == 1 and "shops" not in data and data["services"]["totalgest"]["ok"] is True
    assert data["orders"]["failed"] == 1 and data["oldest_failed_order"]["number"] == "N-2"


async def test_status_with_temporal_down_shows_every_shop_and_exits_3(two_shops, tmp_path):
    text = two_shops.config.read_text()
    start = text.index('address = "') + len('address = "')
    down = tmp_path / "down.toml"
    down.write_text(text[:start] + "127.0.0.1:1" + text[text.index('"', start):])
    env = two_shops.env | {"TGFLOW_CONFIG": str(down)}
    out = await pipe(env, "status", "--json")
    assert out.code == 3, out.text
    data = json.loads(out.stdout)
    assert "Temporal at 127.0.0.1:1 (namespace default) is not reachable" in data["services"]["temporal"]["message"]
    assert [(s["shop"], s["orders"]["linked"], "schedules" in s) for s in data["shops"]] == [
        ("north", 1, False), ("south", 1, False)]
    shown = await pipe(env, "status")
    assert shown.code == 3 and shown.stdout.count("temporal down") == 1
    assert shown.stdout.count("schedules, order queue: unknown") == 2


async def test_check_checks_each_shop(two_shops):
    out = await pipe(two_shops.env, "check", "--json")
    assert out.code == 2, out.text  # south's password is a setting to fix
    data = json.loads(out.stdout)
    assert data["ok"] is False
    assert [(s["shop"], s["totalgest_shop_id"], s["ok"]) for s in data["shops"]] == [
        ("north", "2001", True), ("south", "2002", False)]
    south = {c["name"]: c for c in data["shops"][1]["checks"]}
    assert south["totalgest"]["ok"] is False and "refused the login" in south["totalgest"]["message"]
    # what to fix is named where it is set: the shop's table, not the single-shop form's variables
    assert "shops[south].totalgest.password" in south["totalgest"]["message"]
    assert "TGFLOW_" not in south["totalgest"]["message"]
    assert south["framework360"]["ok"] is True
    north = {c["name"]: c for c in data["shops"][0]["checks"]}
    assert north["totalgest"]["ok"] is True and "(id 2001," in north["totalgest"]["message"]
    assert [(c["name"], c["ok"]) for c in data["checks"]] == [("temporal", True), ("database", True)]
    for shown in (await tty(two_shops.env, "check"), await pipe(two_shops.env, "check")):
        assert shown.code == 2
        text = shown.stdout
        north, south, shared = (text.index("shop north (TotalGest shop 2001):"),
                                text.index("shop south (TotalGest shop 2002):"), text.index("every shop:"))
        assert north < south < shared
        assert "FAIL totalgest" in text[south:shared] and "FAIL" not in text[north:south]
        assert "ok   temporal" in text[shared:] and "ok   database" in text[shared:]
    one = await pipe(two_shops.env, "--shop", "north", "check", "--json")
    assert one.code == 0 and [c["name"] for c in json.loads(one.stdout)["checks"]] == [
        "totalgest", "framework360", "temporal", "database"]


# ---- metrics, logs and alerts name the shop -------------------------------------------------------------------

def test_activity_metrics_and_log_records_carry_the_shop_of_their_task_queue():
    """Each shop's activities run on its own task queue: the ``shop`` label of tgflow's metrics and the ``shop``
    field of log records say whose work it is (the SDK's real activity context, two shops' queues)."""
    import dataclasses
    import logging

    from temporalio.testing import ActivityEnvironment

    from tgflow import metrics
    from tgflow.logs import JsonFormatter, TemporalContextFilter

    metrics.register_shop("views-tq-north", "north")
    metrics.register_shop("views-tq-south", "south")
    seen: dict[str, tuple[dict[str, str], dict]] = {}

    def work(name: str) -> None:
        record = logging.LogRecord("tgflow.test", logging.INFO, __file__, 1, "writing %s", ("ART-1",), None)
        TemporalContextFilter().filter(record)
        seen[name] = (metrics._labels({"api": "TotalGest"}), json.loads(JsonFormatter().format(record)))

    for shop in ("north", "south"):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, task_queue=f"views-tq-{shop}", activity_type="import_pass")
        env.run(work, shop)
    assert seen["north"][0] == {"api": "TotalGest", "shop": "north"}
    assert seen["south"][0] == {"api": "TotalGest", "shop": "south"}
    assert seen["north"][1]["shop"] == "north" and seen["south"][1]["shop"] == "south"
    assert seen["north"][1]["message"] == "writing ART-1" and seen["north"][1]["activity_type"] == "import_pass"
    # a workflow's record (the SDK's workflow logger puts its details in ``temporal_workflow``)
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "started", (), None)
    record.temporal_workflow = {"task_queue": "views-tq-south", "workflow_id": "product-import-2002"}
    TemporalContextFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["shop"] == "south"
    # outside an activity (the CLI) no shop is guessed
    assert metrics._labels({"api": "TotalGest"}) == {"api": "TotalGest"}


def test_alert_lines_name_the_shop(two_shops):
    from tgflow.activities.alerts import payload
    from tgflow.config import load_settings
    from tgflow.store import Store
    from tgflow.store import alerts as alstore

    os.environ["TGFLOW_CONFIG"] = str(two_shops.config)
    try:
        view = load_settings().for_shop("north")
    finally:
        del os.environ["TGFLOW_CONFIG"]
    store = Store(two_shops.database_url)
    due = alstore.apply_findings(store, view.totalgest.shop_id, {"failures": "2 failed order(s)"},
                                 datetime.now(timezone.utc) + timedelta(days=1), timedelta(hours=4))
    store.close()
    body = payload(view.totalgest.shop_id, due, view.shop_key)
    assert body["shop"] == "north" and body["shop_id"] == "2001"
    assert body["text"].splitlines() == ["tgflow shop north (TotalGest shop 2001):",
                                         "shop north: FIRING [failures] 2 failed order(s)"]
