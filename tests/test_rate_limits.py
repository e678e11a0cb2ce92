"""``[totalgest_rate_limits]``: a TotalGest endpoint's budget of activity starts per second, split over the
shops on it; each shop's worker passes its share to Temporal as the task queue's rate limit
(``max_task_queue_activities_per_second``, enforced by the server for every worker polling the queue)."""

from __future__ import annotations

import uuid

import pytest

from tests.test_shops_config import THREE_SHOPS, isolated, problem, write  # noqa: F401  (fixture)
from tgflow.config import activity_rate_for, endpoint_host, load_settings

# a and shop-c on one TotalGest server (written two ways), b on another
SHARED = THREE_SHOPS.replace('endpoint = "tg01.bweb.ch"', 'endpoint = "https://TG00.bweb.ch/api/v1"')
LIMITS = '[totalgest_rate_limits]\n"tg00.bweb.ch" = 6\n"127.0.0.1:8801" = 2.5\n'


def test_each_shop_gets_its_share_of_its_endpoint(isolated):  # noqa: F811
    write(isolated, SHARED + LIMITS)
    s = load_settings()
    assert endpoint_host(s.shop("shop-c").totalgest.endpoint) == "tg00.bweb.ch"
    assert {shop: activity_rate_for(s, shop) for shop in s.shop_ids()} == {"a": 3.0, "b": 2.5, "shop-c": 3.0}
    # the single-shop view every per-shop code path gets knows the other shops on its endpoint
    assert activity_rate_for(s.for_shop("a"), "a") == 3.0 and activity_rate_for(s.for_shop("b"), "b") == 2.5
    # an endpoint without a limit, or no limits at all: None (no rate limit)
    write(isolated, THREE_SHOPS + '[totalgest_rate_limits]\n"tg00.bweb.ch" = 6\n')
    s = load_settings()
    assert [activity_rate_for(s, shop) for shop in s.shop_ids()] == [6.0, None, None]
    write(isolated, THREE_SHOPS)
    assert activity_rate_for(load_settings().for_shop("a"), "a") is None


def test_the_environment_variable_and_the_single_shop_form(isolated, monkeypatch):  # noqa: F811
    write(isolated, '[totalgest]\nshop_id = "1001"\nendpoint = "tg00.bweb.ch"\n')
    monkeypatch.setenv("TGFLOW_TOTALGEST_RATE_LIMITS", '{"tg00.bweb.ch": 4}')
    s = load_settings()
    assert activity_rate_for(s, s.shop_key) == 4.0


def test_mistakes_are_one_line_naming_the_setting(isolated):  # noqa: F811
    def wrong(table: str) -> str:
        return problem(isolated, SHARED + "[totalgest_rate_limits]\n" + table)

    assert wrong('"tg00.bweb.ch" = 0\n').startswith(
        "TGFLOW_TOTALGEST_RATE_LIMITS: tg00.bweb.ch: 0 must be a number of activities per second above 0")
    assert "'often' is not a number of activities per second" in wrong('"tg00.bweb.ch" = "often"\n')
    assert "-1 must be a number of activities per second above 0" in wrong('"tg00.bweb.ch" = -1\n')
    assert "'not a host' is not a TotalGest endpoint host such as tg00.bweb.ch" in wrong('"not a host" = 3\n')
    assert wrong('"tg0.bweb.ch" = 3\n').startswith(
        "totalgest_rate_limits: 'tg0.bweb.ch' is no shop's TotalGest endpoint; the endpoints are: "
        "127.0.0.1:8801, tg00.bweb.ch")


async def test_the_share_reaches_the_worker(client, isolated, tmp_path):  # noqa: F811
    from tgflow.activities import Deps
    from tgflow.store import Store
    from tgflow.worker import build_worker

    db = f'database_url = "sqlite:///{tmp_path / "t.db"}"\n'
    queue = f"tq-{uuid.uuid4().hex[:8]}"  # a worker registers its queue on the client: one name per test
    mine = SHARED.replace('task_queue = "tgflow"', f'task_queue = "{queue}-c"')
    write(isolated, db + mine.replace('task_queue = "tq"', f'task_queue = "{queue}"') + LIMITS)
    s = load_settings()
    store = Store(s.database_url, create=True)
    try:
        for shop, share in (("a", 3.0), ("b", 2.5), ("shop-c", 3.0)):
            view = s.for_shop(shop)
            deps = Deps(view, store)
            try:
                worker = build_worker(client, view, deps)
                config = worker.config()
                assert config["task_queue"] == s.shop(shop).task_queue
                assert config["max_task_queue_activities_per_second"] == pytest.approx(share)
            finally:
                await deps.aclose()
        write(isolated, db + mine.replace('task_queue = "tq"', f'task_queue = "{queue}-free"'))
        view = load_settings().for_shop("a")
        deps = Deps(view, store)
        try:
            assert build_worker(client, view, deps).config()["max_task_queue_activities_per_second"] is None
        finally:
            await deps.aclose()
    finally:
        store.close()
