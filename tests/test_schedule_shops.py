"""`tgflow schedule ...` across shops (issue 15): without --shop and with several shops, every shop's schedules,
one row per shop × schedule with a shop column (human and --json); with --shop only that shop. A shop with
``enabled = false`` gets its schedules paused, and unpaused once enabled again, except a person's pause."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest

from tests.test_cli_human import fits, pipe, run_pipe, tty
from tests.test_shops_config import THREE_SHOPS, cli_env
from tgflow.service.shop_schedules import DISABLED_NOTE

WHICH = ["import", "reconcile", "drift", "shipments", "health"]


@pytest.fixture
async def three(client, temporal_env, tmp_path):
    """The three shops of tests/test_shops_config.py (shop-c disabled) on the test server, with TotalGest shop
    ids unique to this test; every schedule they get is deleted afterwards."""
    tag = uuid.uuid4().hex[:6]
    address = temporal_env.client.service_client.config.target_host
    text = THREE_SHOPS.replace('shop_id = "100', f'shop_id = "{tag}-100').replace(
        'task_queue = "tq"', f'task_queue = "tq"\naddress = "{address}"')
    config = tmp_path / "shops.toml"
    config.write_text(text)
    yield config, tag
    for n in ("1001", "1002", "1003"):
        for prefix in ("product-import", "order-reconcile", "drift-report", "shipment-import", "health-check"):
            try:
                await client.get_schedule_handle(f"{prefix}-{tag}-{n}").delete()
            except Exception:
                pass


async def states(client, tag: str, n: str) -> dict[str, tuple[bool, str]]:
    out = {}
    for which, prefix in zip(WHICH, ("product-import", "order-reconcile", "drift-report", "shipment-import",
                                     "health-check")):
        desc = await client.get_schedule_handle(f"{prefix}-{tag}-{n}").describe()
        out[which] = (desc.schedule.state.paused, desc.schedule.state.note or "")
    return out


def table_lines(stdout: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines() if line.count("│") == 4]


async def test_every_shop_one_row_per_schedule_and_shop_filter(client, three):
    config, tag = three
    env = cli_env(config)
    out = await pipe(env, "schedule", "create", "--which", "all", "--json")
    assert out.code == 0, out.text
    rows = json.loads(out.stdout)
    assert sorted((r["shop"], r["which"]) for r in rows) == sorted((s, w) for s in ("a", "b", "shop-c") for w in WHICH)
    assert all(r["ok"] and r["created"] for r in rows)
    assert {r["schedule_id"] for r in rows if r["shop"] == "b"} == {
        f"{p}-{tag}-1002" for p in ("product-import", "order-reconcile", "drift-report", "shipment-import",
                                    "health-check")}
    # what Temporal holds: a's and b's active, the disabled shop-c's paused with the note saying why
    assert set((await states(client, tag, "1001")).values()) == {(False, "")}
    assert set((await states(client, tag, "1003")).values()) == {(True, DISABLED_NOTE)}
    assert {r["paused_for_disabled"] for r in rows if r["shop"] == "shop-c"} == {True}
    shown = await tty(env, "schedule", "create", "--which", "all")  # again, as a person reads it
    assert shown.code == 0, shown.text
    lines = table_lines(shown.stdout)
    assert len(lines) == 15 and "15 of 15 schedules ok on 3 shops" in shown.stdout
    assert all(line[2].startswith("updated, every") for line in lines)
    assert {line[2].endswith("stays paused (the shop is disabled in settings)") for line in lines
            if line[0] == "shop-c"} == {True}

    # one schedule on every shop: pause, human output in a pipe and at a terminal
    for shown in (await pipe(env, "schedule", "pause", "--which", "import", "--note", "stock count"),):
        assert shown.code == 0, shown.text
        fits(shown)
        lines = table_lines(shown.stdout)
        assert sorted(line[0] for line in lines) == ["a", "b", "shop-c"]
        assert all(line[2] == "paused" for line in lines)
        assert "3 of 3 schedules ok on 3 shops" in shown.stdout
    assert (await states(client, tag, "1002"))["import"] == (True, "stock count")
    assert (await states(client, tag, "1002"))["reconcile"] == (False, "")

    shown = await tty(env, "schedule", "describe", "--which", "all")
    assert shown.code == 0, shown.text
    lines = table_lines(shown.stdout)
    assert len(lines) == 15 and {line[0] for line in lines} == {"a", "b", "shop-c"}
    by = {(line[0], line[1]): line[2] for line in lines}
    assert by[("b", f"product-import-{tag}-1002")].startswith("PAUSED stock count")
    assert by[("a", f"order-reconcile-{tag}-1001")].startswith("active, every 5 min")
    described = json.loads((await pipe(env, "schedule", "describe", "--which", "reconcile", "--json")).stdout)
    assert [(r["shop"], r["paused"]) for r in described] == [("a", False), ("b", False), ("shop-c", True)]
    assert described[2]["note"] == DISABLED_NOTE

    # unpause on every shop: the disabled shop refuses (exit 1, its row says what to do), the others unpaused
    out = await pipe(env, "schedule", "unpause", "--which", "import", "--json")
    assert out.code == 1, out.text
    rows = {r["shop"]: r for r in json.loads(out.stdout)}
    assert rows["a"]["ok"] and rows["b"]["ok"] and not rows["shop-c"]["ok"]
    assert "shop shop-c is disabled in settings (enabled = false)" in rows["shop-c"]["error"]
    assert (await states(client, tag, "1002"))["import"][0] is False
    assert (await states(client, tag, "1003"))["import"][0] is True

    # --shop: only that shop, today's single-shop output
    out = await pipe(env, "--shop", "a", "schedule", "delete", "--which", "drift", "--json")
    assert out.code == 0 and json.loads(out.stdout) == {"schedule_id": f"drift-report-{tag}-1001",
                                                        "action": "delete", "ok": True}
    out = await pipe(env, "--shop", "a", "schedule", "describe", "--which", "drift")
    assert out.code == 1 and "does not exist" in out.stderr
    assert (await states(client, tag, "1002"))["drift"] == (False, "")
    # a schedule missing on one shop: that row failed, exit 1, the other shops' rows done
    out = await pipe(env, "schedule", "pause", "--which", "drift")
    assert out.code == 1, out.text
    lines = {line[0]: line[2] for line in table_lines(out.stdout)}
    assert lines["a"].startswith("failed: schedule drift-report-") and lines["b"] == "paused"
    assert "2 of 3 schedules ok on 3 shops, 1 failed" in out.stdout

    # delete on every shop: the one already gone counts as done
    out = await pipe(env, "schedule", "delete", "--which", "drift", "--json")
    assert out.code == 0, out.text
    assert [(r["shop"], r["ok"], r["existed"]) for r in json.loads(out.stdout)] == [
        ("a", True, False), ("b", True, True), ("shop-c", True, True)]
    shown = await tty(env, "schedule", "delete", "--which", "all")
    assert shown.code == 0, shown.text
    lines = table_lines(shown.stdout)
    assert len(lines) == 15 and sum(line[2] == "deleted" for line in lines) == 12
    assert sum(line[2] == "not there (already deleted)" for line in lines) == 3
    for n in ("1001", "1002", "1003"):
        with pytest.raises(Exception, match="not found"):
            await client.get_schedule_handle(f"product-import-{tag}-{n}").describe()


async def test_disable_and_enable_a_shop_keeps_a_persons_pause(client, three):
    config, tag = three
    env = cli_env(config)
    assert (await pipe(env, "--shop", "b", "schedule", "create", "--which", "all")).code == 0
    assert (await pipe(env, "--shop", "b", "schedule", "pause", "--which", "import", "--note", "supplier")).code == 0
    text = config.read_text()
    config.write_text(text.replace('id = "b"\n', 'id = "b"\nenabled = false\n'))
    out = await pipe(env, "--shop", "b", "schedule", "create", "--which", "all")
    assert out.code == 0, out.text
    assert "paused: shop b is disabled in settings (enabled = false)" in out.stdout
    now = await states(client, tag, "1002")
    assert now["import"] == (True, "supplier")
    assert {now[w] for w in WHICH if w != "import"} == {(True, DISABLED_NOTE)}
    # enabled again: create unpauses what it paused, the person's pause stays
    config.write_text(text)
    out = await pipe(env, "--shop", "b", "schedule", "create", "--which", "all", "--json")
    assert out.code == 0, out.text
    rows = {r["schedule_id"].split(f"-{tag}")[0]: r for r in json.loads(out.stdout)}
    assert rows["order-reconcile"].get("unpaused_for_enabled") is True and "unpaused_for_enabled" not in rows[
        "product-import"]
    now = await states(client, tag, "1002")
    assert now["import"] == (True, "supplier")
    assert {now[w][0] for w in WHICH if w != "import"} == {False}
    # running create again changes nothing
    again = json.loads((await pipe(env, "--shop", "b", "schedule", "create", "--which", "all", "--json")).stdout)
    assert all(set(r) == {"schedule_id", "created", "every_minutes"} and r["created"] is False for r in again)
    assert await states(client, tag, "1002") == now


def test_across_shops_with_temporal_down_exits_3(tmp_path):
    config = tmp_path / "shops.toml"
    config.write_text(THREE_SHOPS.replace('task_queue = "tq"', 'task_queue = "tq"\naddress = "127.0.0.1:1"'))
    for args in (("schedule", "create", "--which", "all"), ("schedule", "describe", "--json")):
        out = run_pipe(cli_env(config), *args)
        assert out.code == 3 and out.stdout == ""
        assert out.stderr.strip().startswith("error: Temporal at 127.0.0.1:1 is not reachable")


# ---- a disabled shop catches up once enabled ------------------------------------------------------------------

def one_shop_config(settings, path, *, enabled: bool, **orders):
    """``settings`` (the simulators of this test) as one ``[[shops]]`` table, on the worker fixture's queue."""
    import tomli_w

    tg, f360 = settings.totalgest, settings.f360
    data = {
        "database_url": settings.database_url,
        "temporal": {"address": settings.temporal.address, "task_queue": "unused"},
        "orders": {"retry_initial_seconds": 0.2, "retry_max_seconds": 1.0, **orders},
        "shops": [{
            "id": "solo", "enabled": enabled, "task_queue": settings.temporal.task_queue,
            "totalgest": {"shop_id": tg.shop_id, "owner_id": tg.owner_id, "endpoint": tg.endpoint,
                          "username": tg.username, "password": tg.password.get_secret_value(), "timeout_seconds": 3.0},
            "f360": {"base_url": f360.base_url, "api_key": f360.api_key.get_secret_value(),
                     "webhook_secret": f360.webhook_secret.get_secret_value(), "timeout_seconds": 3.0},
        }],
    }
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


async def test_an_order_completed_while_disabled_is_exported_once_after_enabling(client, settings, worker, tg_sim,
                                                                                 f360_sim, tmp_path):
    from tests.test_order_export import fast, tg_orders_by_ref, wait_for
    from tgflow.contracts.ids import order_queue_workflow_id, order_reconcile_schedule_id

    fast(settings)
    sim = f360_sim.sim
    sim.set_webhooks(enabled=False)  # only the reconciliation sees orders here
    config = one_shop_config(settings, tmp_path / "solo.toml", enabled=True)
    env = cli_env(config)
    sid = order_reconcile_schedule_id(settings.totalgest.shop_id)
    completed = lambda: {o["number"] for o in sim.orders() if o["status"] == "completed"}  # noqa: E731
    try:
        assert (await pipe(env, "schedule", "create", "--which", "reconcile")).code == 0
        assert (await pipe(env, "schedule", "trigger", "--which", "reconcile")).code == 0
        before = completed()
        await wait_for(lambda: set(tg_orders_by_ref(tg_sim)) >= before, what="the completed orders exported")

        one_shop_config(settings, config, enabled=False)
        out = await pipe(env, "schedule", "create", "--which", "reconcile")
        assert out.code == 0 and "paused: shop solo is disabled in settings" in out.stdout, out.text
        assert (await client.get_schedule_handle(sid).describe()).schedule.state.note == DISABLED_NOTE
        late = sim.create_order()  # completed in Framework360 while the shop is disabled
        assert late["number"] not in tg_orders_by_ref(tg_sim)

        one_shop_config(settings, config, enabled=True)
        out = await pipe(env, "schedule", "create", "--which", "reconcile", "--json")
        assert out.code == 0 and json.loads(out.stdout)["unpaused_for_enabled"] is True, out.text
        assert not (await client.get_schedule_handle(sid).describe()).schedule.state.paused
        assert (await pipe(env, "schedule", "trigger", "--which", "reconcile")).code == 0
        await wait_for(lambda: tg_orders_by_ref(tg_sim)[late["number"]] == 1, what="the late order exported")
        await wait_for(lambda: sim.order(late["id"])["integrations"]["totalgest"]["status"] == "linked",
                       what="Framework360 shows it linked")
        # once: the next reconciliation finds it linked and enqueues nothing
        third = await _next_run(client, sid)
        assert third.enqueued == 0 and third.already_linked >= 1  # it re-read the late order: linked
        counts = tg_orders_by_ref(tg_sim)
        assert counts[late["number"]] == 1 and set(counts.values()) == {1}
        assert set(counts) == completed()
    finally:
        for wid in (order_queue_workflow_id(settings.totalgest.shop_id),):
            try:
                await client.get_workflow_handle(wid).terminate("test done")
            except Exception:
                pass
        try:
            await client.get_schedule_handle(sid).delete()
        except Exception:
            pass


async def _next_run(client, sid: str):
    """Trigger the schedule once more and return that run's result (the reconciliation's counts)."""
    from tgflow.contracts.orders import OrderReconcileResult

    handle = client.get_schedule_handle(sid)
    seen = {a.action.workflow_id for a in (await handle.describe()).info.recent_actions}
    for done in [a.action.workflow_id for a in (await handle.describe()).info.recent_actions]:
        await client.get_workflow_handle(done).result()  # none still running: the trigger is not skipped
    await handle.trigger()
    while True:
        recent = [a.action.workflow_id for a in (await handle.describe()).info.recent_actions]
        new = [wid for wid in recent if wid not in seen]
        if new:
            return await client.get_workflow_handle(new[-1], result_type=OrderReconcileResult).result()
        await asyncio.sleep(0.2)


async def test_a_disabled_shops_schedule_is_created_paused_from_the_first_instant(client, three, monkeypatch):
    """Not created running and paused afterwards (a run could start in between): created paused."""
    from tgflow.config import load_settings
    from tgflow.service.monitoring import ensure_schedule_for
    from tgflow.service.schedules import paused_on_create

    config, tag = three
    monkeypatch.setenv("TGFLOW_CONFIG", str(config))
    view = load_settings().for_shop("shop-c")
    with paused_on_create(DISABLED_NOTE):
        assert await ensure_schedule_for(client, view, "health") is True
    assert await ensure_schedule_for(client, view, "drift") is True  # outside it: as usual
    now = await client.get_schedule_handle(f"health-check-{tag}-1003").describe()
    assert (now.schedule.state.paused, now.schedule.state.note) == (True, DISABLED_NOTE)
    assert not (await client.get_schedule_handle(f"drift-report-{tag}-1003").describe()).schedule.state.paused


async def test_shops_schedules_fire_at_spread_points_of_their_interval(client, three):
    """Interval schedules share one grid: without an offset every shop's import would start at the same
    instant every 5 minutes. Each schedule gets a stable offset taken from its id, kept by a re-create."""
    from tgflow.service.schedules import spread_offset

    config, tag = three
    env = cli_env(config)
    assert (await pipe(env, "schedule", "create", "--which", "all", "--json")).code == 0
    offsets = {}
    for n in ("1001", "1002", "1003"):
        for prefix in ("product-import", "order-reconcile", "shipment-import"):
            sid = f"{prefix}-{tag}-{n}"
            (interval,) = (await client.get_schedule_handle(sid).describe()).schedule.spec.intervals
            assert timedelta(0) <= interval.offset < interval.every
            assert interval.offset == spread_offset(sid, interval.every)
            offsets[sid] = interval.offset
    assert (await pipe(env, "schedule", "create", "--which", "all", "--json")).code == 0
    for sid, offset in offsets.items():
        (interval,) = (await client.get_schedule_handle(sid).describe()).schedule.spec.intervals
        assert interval.offset == offset


def test_fifty_shops_imports_are_scattered_over_the_five_minutes():
    """The offsets of 50 shops' import schedules (ids as ``schedule create`` makes them) cover the interval:
    no 30-second window holds more than a handful of starts, where without offsets it would hold all 50."""
    from tgflow.contracts.ids import product_import_schedule_id
    from tgflow.service.schedules import spread_offset

    every = timedelta(minutes=5)
    starts = sorted(spread_offset(product_import_schedule_id(str(1000 + n)), every).total_seconds() for n in range(50))
    assert all(0 <= s < 300 for s in starts)
    busiest = max(sum(1 for s in starts if w <= s < w + 30) for w in range(0, 300, 10))
    assert busiest <= 12, starts
    assert spread_offset("product-import-1001", every) == spread_offset("product-import-1001", every)
