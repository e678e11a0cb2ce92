"""Several shops in one deployment, first step (issue 15): ``[[shops]]`` settings, the shop registry
(``settings.shops()`` / ``shop()`` / ``for_shop()``), ``--shop`` / ``TGFLOW_SHOP`` selecting the shop every
command gets, and ``tgflow shops``. The single-shop form keeps working as one shop."""

from __future__ import annotations

import json
import os
import tomllib
import uuid
from pathlib import Path

import pytest

from tests.test_cli_human import fits, pipe, run_pipe, tty
from tgflow.config import ConfigError, Settings, load_settings, save_settings, select_shop

THREE_SHOPS = """
payment_methods = {stripe = "CC", paypal = "PP"}
[orders]
max_concurrent = 7
retry_for_hours = 12
[products]
every_minutes = 10
[temporal]
task_queue = "tq"

[[shops]]
id = "a"
[shops.totalgest]
shop_id = "1001"
owner_id = "41"
endpoint = "tg00.bweb.ch"
username = "user-a"
password = "pw-a-secret"
warehouses = ["MAIN"]
[shops.f360]
base_url = "https://a.example.com/api/v1"
api_key = "key-a-secret"
webhook_secret = "hook-a-secret-xxxxxxxx"

[[shops]]
id = "b"
payment_methods = {klarna = "RE", paypal = "PX"}
orders = {max_concurrent = 2}
products = {article_page_size = 50}
[shops.totalgest]
shop_id = "1002"
owner_id = "42"
endpoint = "http://127.0.0.1:8801/api/v1"
username = "user-b"
password = "pw-b-secret"
[shops.f360]
base_url = "https://b.example.com/api/v1"
api_key = "key-b-secret"
webhook_secret = "hook-b-secret-xxxxxxxx"

[[shops]]
id = "shop-c"
enabled = false
task_queue = "tgflow"
[shops.totalgest]
shop_id = "1003"
owner_id = "43"
endpoint = "tg01.bweb.ch"
username = "user-c"
password = "pw-c-secret"
[shops.f360]
base_url = "https://c.example.com/api/v1"
api_key = "key-c-secret"
webhook_secret = "hook-c-secret-xxxxxxxx"
"""


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TGFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "tgflow.toml"))
    return tmp_path


def write(isolated: Path, text: str) -> Path:
    path = isolated / "tgflow.toml"
    path.write_text(text)
    return path


def problem(isolated: Path, text: str) -> str:
    write(isolated, text)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    assert "\n" not in message
    return message


# ---- parsing, defaults and overrides --------------------------------------------------------------------------

def test_three_shops_parse_with_defaults_and_overrides_merged(isolated, monkeypatch):
    write(isolated, THREE_SHOPS)
    monkeypatch.setenv("TGFLOW_ORDERS__RECONCILE_EVERY_MINUTES", "3")  # an env default reaches every shop
    s = load_settings()
    assert s.multi_shop and s.shop_ids() == ["a", "b", "shop-c"]
    a, b, c = s.shops()
    assert (a.enabled, b.enabled, c.enabled) == (True, True, False)
    # a: the top-level defaults
    assert (a.orders.max_concurrent, a.orders.retry_for_hours, a.orders.reconcile_every_minutes) == (7, 12.0, 3.0)
    assert a.products.every_minutes == 10 and a.products.article_page_size == 500
    assert a.payment_methods == {"stripe": "CC", "paypal": "PP"}
    assert a.totalgest.warehouses == ["MAIN"] and a.totalgest.base_url == "https://tg00.bweb.ch/api/v1"
    # b: its overrides over the defaults, the rest inherited
    assert (b.orders.max_concurrent, b.orders.retry_for_hours, b.orders.reconcile_every_minutes) == (2, 12.0, 3.0)
    assert b.products.article_page_size == 50 and b.products.every_minutes == 10
    assert b.payment_methods == {"stripe": "CC", "paypal": "PX", "klarna": "RE"}
    assert b.totalgest.warehouses is None
    # task queues: one per shop unless set
    assert (a.task_queue, b.task_queue, c.task_queue) == ("tq-a", "tq-b", "tgflow")
    assert s.shop("b") == b
    with pytest.raises(ConfigError, match=r"no shop 'x' is configured; the shops are: a, b, shop-c"):
        s.shop("x")


def test_for_shop_gives_each_shop_its_credentials_and_settings(isolated):
    write(isolated, THREE_SHOPS)
    s = load_settings()
    for shop_id, tg_shop, letter in (("a", "1001", "a"), ("b", "1002", "b"), ("shop-c", "1003", "c")):
        view = s.for_shop(shop_id)
        assert isinstance(view, Settings) and not view.multi_shop
        assert view.shop_key == shop_id and view.shop_ids() == [view.totalgest.shop_id]
        assert view.totalgest.shop_id == tg_shop and view.totalgest.username == f"user-{letter}"
        assert view.totalgest.password.get_secret_value() == f"pw-{letter}-secret"
        assert view.f360.base_url == f"https://{letter}.example.com/api/v1"
        assert view.f360.api_key.get_secret_value() == f"key-{letter}-secret"
        assert view.f360.webhook_secret.get_secret_value() == f"hook-{letter}-secret-xxxxxxxx"
        assert view.missing_fields() == []
        assert view.temporal.task_queue == s.shop(shop_id).task_queue
        assert view.temporal.address == s.temporal.address and view.database_url == s.database_url
    assert s.for_shop("b").orders.max_concurrent == 2 and s.for_shop("a").orders.max_concurrent == 7
    assert s.for_shop("b").payment_methods["klarna"] == "RE" and "klarna" not in s.for_shop("a").payment_methods
    assert s.for_shop("b").products.article_page_size == 50
    # the settings as loaded are untouched by the views
    assert s.temporal.task_queue == "tq" and s.totalgest.shop_id == "" and s.multi_shop


def test_saved_multi_shop_settings_round_trip(isolated):
    write(isolated, THREE_SHOPS)
    s = load_settings()
    path = save_settings(s, isolated / "again.toml")
    data = tomllib.loads(path.read_text())
    assert [shop["id"] for shop in data["shops"]] == ["a", "b", "shop-c"] and "shops_config" not in data
    os.environ["TGFLOW_CONFIG"] = str(path)
    again = load_settings()
    assert again.shops() == s.shops()


# ---- the single-shop form, unchanged ---------------------------------------------------------------------------

def test_single_shop_form_is_one_shop_whose_id_is_its_totalgest_shop_id(isolated, monkeypatch):
    write(isolated, '[totalgest]\nshop_id = "1001"\nendpoint = "tg00.bweb.ch"\n[f360]\nbase_url = "https://x.example.com"\n')
    monkeypatch.setenv("TGFLOW_TOTALGEST__PASSWORD", "pw-env")
    s = load_settings()
    assert not s.multi_shop and s.shop_ids() == ["1001"]
    [shop] = s.shops()
    assert shop.totalgest.password.get_secret_value() == "pw-env" and shop.task_queue == "tgflow"
    assert shop.payment_methods == s.payment_methods and shop.orders == s.orders
    assert s.for_shop("1001") is s and s.shop_key == "1001"
    assert select_shop(s, None) is s and select_shop(s, "1001") is s
    with pytest.raises(ConfigError, match="no shop '1002' is configured; the shops are: 1001"):
        select_shop(s, "1002")


def test_select_shop_needs_a_choice_only_with_several(isolated):
    write(isolated, THREE_SHOPS)
    s = load_settings()
    with pytest.raises(ConfigError, match=r"3 shops are configured \(a, b, shop-c\): choose one with `tgflow --shop ID"):
        select_shop(s, None)
    assert select_shop(s, "b").totalgest.shop_id == "1002"
    one = THREE_SHOPS.split("[[shops]]\nid = \"b\"")[0]
    write(isolated, one)
    only = load_settings()
    assert only.shop_ids() == ["a"] and select_shop(only, None).totalgest.username == "user-a"


# ---- mistakes, each one line naming the shop and the key ------------------------------------------------------

SHOP = '[[shops]]\nid = "{id}"\n[shops.totalgest]\nshop_id = "{tg}"\n'


def test_errors_name_the_shop_and_the_key(isolated):
    bad_endpoint = SHOP.format(id="acme", tg="1") + 'endpoint = "not a url"\n'
    assert problem(isolated, bad_endpoint).startswith("shops[acme].totalgest.endpoint: 'not a url' is not a host")
    assert problem(isolated, SHOP.format(id="acme", tg="1") + '[shops.f360]\nbase_url = "ftp:/x"\n') \
        .startswith("shops[acme].f360.base_url: 'ftp:/x' is not a URL")
    assert problem(isolated, SHOP.format(id="acme_1", tg="1")).startswith("shops[acme_1].id: 'acme_1' is not a shop id")
    assert problem(isolated, SHOP.format(id="-x", tg="1")).startswith("shops[-x].id: '-x' is not a shop id")
    assert "shops[acme].orders: unknown key 'max_concurent'" in problem(
        isolated, '[[shops]]\nid = "acme"\norders = {max_concurent = 3}\n[shops.totalgest]\nshop_id = "1"\n')
    assert "shops[acme].products.every_minutes: Input should be a valid number" in problem(
        isolated, '[[shops]]\nid = "acme"\nproducts = {every_minutes = "often"}\n[shops.totalgest]\nshop_id = "1"\n')
    assert problem(isolated, '[[shops]]\nid = "acme"\n').startswith(
        "shops[acme]: totalgest.shop_id is required")
    assert "shops[acme].colour: Extra inputs are not permitted" in problem(
        isolated, SHOP.format(id="acme", tg="1").replace("[shops.totalgest]", 'colour = "red"\n[shops.totalgest]'))
    # a table without an id is named by its position
    assert problem(isolated, SHOP.format(id="a", tg="1") + '[[shops]]\n[shops.totalgest]\nshop_id = "2"\n') \
        .startswith("shops[#2].id: Field required")


def test_duplicates_and_both_forms_are_errors(isolated, monkeypatch):
    assert problem(isolated, SHOP.format(id="a", tg="1") + SHOP.format(id="a", tg="2")).startswith(
        "shops[a]: the shop id 'a' is used twice")
    assert problem(isolated, SHOP.format(id="a", tg="1") + SHOP.format(id="b", tg="1")).startswith(
        "shops[b].totalgest.shop_id: '1' is also shops[a]'s")
    both = '[totalgest]\nshop_id = "1001"\n' + SHOP.format(id="a", tg="1")
    assert problem(isolated, both).startswith("both [[shops]] and the single-shop form ([totalgest] / "
                                              "TGFLOW_TOTALGEST__*) are set")
    monkeypatch.setenv("TGFLOW_F360__API_KEY", "k")
    assert "single-shop form ([f360] / TGFLOW_F360__*)" in problem(isolated, SHOP.format(id="a", tg="1"))


# ---- the CLI: --shop / TGFLOW_SHOP, real SQLite store ---------------------------------------------------------

def cli_env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    return env | {"TGFLOW_CONFIG": str(config)} | extra


def three_shop_store(tmp_path: Path) -> Path:
    """The three shops' config over one SQLite store holding orders of shops a and b (and none of shop-c)."""
    from tgflow.store import Store
    from tgflow.store import orders as ostore

    url = f"sqlite:///{tmp_path / 'tgflow.db'}"
    store = Store(url, create=True)
    ostore.record_result(store, "1001", 1, outcome="linked", number="A-1", tg_order_id=501, tg_order_number="OV-A1")
    ostore.record_result(store, "1001", 2, outcome="failed", number="A-2", reason="SKU A-404 is not in TotalGest")
    ostore.record_result(store, "1002", 1, outcome="linked", number="B-1", tg_order_id=601, tg_order_number="OV-B1")
    ostore.record_result(store, "1002", 7, outcome="failed", number="B-7", reason="SKU B-404 is not in TotalGest")
    store.close()
    config = tmp_path / "shops.toml"
    config.write_text(f'database_url = "{url}"\n' + THREE_SHOPS)
    return config


async def test_tgflow_shop_selects_the_shop_every_command_reads(tmp_path):
    config = three_shop_store(tmp_path)
    # TGFLOW_SHOP and the root --shop option: shop b's rows only (the same SQLite file holds shop a's)
    for env, args in ((cli_env(config, TGFLOW_SHOP="b"), ("orders", "list", "--json")),
                      (cli_env(config), ("--shop", "b", "orders", "list", "--json"))):
        out = await pipe(env, *args)
        assert out.code == 0, out.text
        rows = json.loads(out.stdout)
        assert sorted((r["order_id"], r["number"], r["status"]) for r in rows) == [
            (1, "B-1", "linked"), (7, "B-7", "failed")]
    for out in (await tty(cli_env(config, TGFLOW_SHOP="b"), "orders", "list"),
                await pipe(cli_env(config), "--shop", "b", "orders", "list")):
        assert out.code == 0, out.text
        fits(out)
        assert "B-1" in out.stdout and "Linked OV-B1" in out.stdout and "B-7" in out.stdout
        assert "A-1" not in out.stdout and "OV-A1" not in out.stdout and "A-404" not in out.stdout
        assert "`tgflow orders show B-7`" in out.stdout
    out = await pipe(cli_env(config, TGFLOW_SHOP="a"), "orders", "show", "A-2", "--json")
    assert out.code == 0 and json.loads(out.stdout)["reason"] == "SKU A-404 is not in TotalGest"
    assert (await pipe(cli_env(config, TGFLOW_SHOP="a"), "orders", "show", "B-7")).code != 0
    shop_c = await pipe(cli_env(config), "--shop", "shop-c", "orders", "list", "--json")
    assert shop_c.code == 0 and json.loads(shop_c.stdout) == []
    # several shops and none chosen: an action command exits 2 with the shops listed, in one line (lists and
    # reports cover every shop: tests/test_views_shops.py)
    for out in (await pipe(cli_env(config), "orders", "retry", "--failed"),
                await pipe(cli_env(config), "export-orders", "1", "--json")):
        assert out.code == 2 and out.stdout == ""
        assert out.stderr.strip() == ("error: configuration: 3 shops are configured (a, b, shop-c): choose one "
                                      "with `tgflow --shop ID …` or TGFLOW_SHOP=ID")
    out = await pipe(cli_env(config, TGFLOW_SHOP="nope"), "orders", "list")
    assert out.code == 2 and "no shop 'nope' is configured; the shops are: a, b, shop-c" in out.stderr
    # the database commands need no shop; configure refuses to flatten [[shops]]
    assert (await pipe(cli_env(config), "db", "current", "--json")).code == 0
    out = await pipe(cli_env(config), "configure", "--skip-validation", "--shop-id", "9")
    assert out.code == 2 and "has [[shops]] tables" in out.stderr
    assert tomllib.loads(config.read_text())["shops"][2]["id"] == "shop-c"  # nothing rewritten


async def test_single_shop_cli_accepts_its_own_id_only(tmp_path):
    from tgflow.store import Store
    from tgflow.store import orders as ostore

    url = f"sqlite:///{tmp_path / 'one.db'}"
    store = Store(url, create=True)
    ostore.record_result(store, "1001", 3, outcome="linked", number="S-3", tg_order_id=1, tg_order_number="OV-S3")
    store.close()
    config = tmp_path / "one.toml"
    config.write_text(f'database_url = "{url}"\n[totalgest]\nshop_id = "1001"\n')
    for env in (cli_env(config), cli_env(config, TGFLOW_SHOP="1001")):
        out = await pipe(env, "orders", "list", "--json")
        assert out.code == 0 and [r["number"] for r in json.loads(out.stdout)] == ["S-3"]
    out = await pipe(cli_env(config), "--shop", "1002", "orders", "list")
    assert out.code == 2 and "no shop '1002' is configured; the shops are: 1001" in out.stderr


# ---- tgflow shops ----------------------------------------------------------------------------------------------

async def test_shops_lists_every_shop_with_its_schedules(client, temporal_env, tmp_path):
    tag = uuid.uuid4().hex[:6]
    address = temporal_env.client.service_client.config.target_host
    text = THREE_SHOPS.replace('shop_id = "100', f'shop_id = "{tag}-100').replace(
        'task_queue = "tq"', f'task_queue = "tq"\naddress = "{address}"')
    config = tmp_path / "shops.toml"
    config.write_text(text)
    env = cli_env(config)
    created = await pipe(env, "--shop", "b", "schedule", "create", "--which", "all", "--json")
    try:
        assert created.code == 0, created.text
        assert {row["schedule_id"] for row in json.loads(created.stdout)} >= {f"product-import-{tag}-1002"}
        assert (await pipe(env, "--shop", "b", "schedule", "pause", "--which", "import", "--note", "t")).code == 0
        out = await pipe(env, "shops", "--json")
        assert out.code == 0, out.text
        data = json.loads(out.stdout)
        assert data["temporal"]["ok"] is True
        shops = {row["id"]: row for row in data["shops"]}
        assert list(shops) == ["a", "b", "shop-c"]
        assert shops["b"]["schedules"] == {"total": 5, "created": 5, "missing": [], "paused": ["import"]}
        assert shops["a"]["schedules"]["created"] == 0 and len(shops["a"]["schedules"]["missing"]) == 5
        assert shops["b"]["totalgest_shop_id"] == f"{tag}-1002"
        assert shops["b"]["totalgest_endpoint"] == "http://127.0.0.1:8801/api/v1"
        assert shops["a"]["totalgest_url"] == "https://tg00.bweb.ch/api/v1"
        assert shops["shop-c"]["enabled"] is False and shops["b"]["enabled"] is True
        assert shops["b"]["framework360_url"] == "https://b.example.com/api/v1" and shops["b"]["task_queue"] == "tq-b"
        assert "secret" not in out.stdout  # never a credential
        for shown in (await tty(env, "shops"), await pipe(env, "shops")):
            assert shown.code == 0, shown.text
            fits(shown)
            lines = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
            assert set(lines) == {"a", "b", "shop-c"}
            assert "Shops (3)" in shown.stdout and "Enabled" in shown.stdout and "Schedules" in shown.stdout
            assert "5/5, 1 paused" in lines["b"] and "yes" in lines["b"]
            assert "none" in lines["a"] and "no" in lines["shop-c"].split("│")[5]
            assert f"{tag}-1002" in lines["b"]
            if shown.mode == "tty":  # at 80 columns the hosts are cut with "…"
                assert "127.0.0.1:8801" in lines["b"] and "b.example.com" in lines["b"]
            assert "schedules missing for a, shop-c: `tgflow --shop a schedule create --which all`" in shown.stdout
            assert "secret" not in shown.text
    finally:
        for row in json.loads(created.stdout or "[]"):
            try:
                await client.get_schedule_handle(row["schedule_id"]).delete()
            except Exception:
                pass


def test_shops_with_temporal_down_lists_them_and_exits_3(tmp_path):
    config = tmp_path / "shops.toml"
    config.write_text(THREE_SHOPS.replace('task_queue = "tq"', 'task_queue = "tq"\naddress = "127.0.0.1:1"'))
    out = run_pipe(cli_env(config), "shops", "--json")
    assert out.code == 3
    data = json.loads(out.stdout)
    assert [row["id"] for row in data["shops"]] == ["a", "b", "shop-c"]
    assert all(row["schedules"] is None for row in data["shops"])
    assert "Temporal at 127.0.0.1:1 (namespace default) is not reachable" in data["temporal"]["message"]
    out = run_pipe(cli_env(config), "shops")
    assert out.code == 3 and "a.example.com" in out.stdout and "tg01.bweb.ch" in out.stdout
    assert out.stderr.strip().startswith("error: Temporal at 127.0.0.1:1 (namespace default) is not reachable")
    assert len(out.stderr.strip().splitlines()) == 1
