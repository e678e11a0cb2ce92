"""Issue 15, isolation: one shop's backlog never delays another shop's work. Two shops on ONE ``tgflow worker``
process; shop a gets a backlog of 40 orders against a slow TotalGest, then shop b a single order. b's order is
in b's TotalGest, exported and linked, while a's backlog is still being worked through: each shop has its own
task queue, worker slots and export concurrency, so b never waits behind a. No timing is asserted, only the
order in which things happen and the end state (every order of both shops in its own TotalGest exactly once).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from contextlib import ExitStack

from tests.test_cli_human import pipe
from tests.test_three_shops import OneWorker, config_text, end_running, make_shop

BACKLOG = 40


async def test_a_shops_backlog_does_not_delay_another_shops_order(client, temporal_env, tmp_path):
    tag = uuid.uuid4().hex[:8]
    address = temporal_env.client.service_client.config.target_host
    task_queue = f"iso-{tag}"
    with ExitStack() as stack:
        a, b = (make_shop(stack, shop_id, tag, seed) for seed, shop_id in enumerate(("a", "b"), 1))
        a.orders += [a.f360.create_order() for _ in range(BACKLOG - len(a.orders))]
        a.tg.set_faults(slow_ms=150)  # a's TotalGest answers slowly: its backlog takes a while
        text = config_text([a, b], database_url=f"sqlite:///{tmp_path / 'iso.db'}", address=address,
                           task_queue=task_queue).replace("[orders]\n", "[orders]\nmax_concurrent = 2\n", 1)
        config = tmp_path / "shops.toml"
        config.write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"TGFLOW_CONFIG": str(config)}
        with OneWorker(env, tmp_path / "worker.log", shops=2) as worker:
            try:
                backlog = asyncio.create_task(
                    pipe(env, "--shop", "a", "export-orders", *(str(o["id"]) for o in a.orders), "--json"))
                while not a.tg.orders():  # a's backlog is under way
                    assert not backlog.done(), backlog.result().text
                    await asyncio.sleep(0.1)
                lone = b.orders[0]
                out = await pipe(env, "--shop", "b", "export-orders", str(lone["id"]), "--json")
                assert out.code == 0, out.text
                assert json.loads(out.stdout)["succeeded"] == 1
                exported_of_a = len(a.tg.orders())
                # b's order arrived in b's TotalGest, and Framework360 shows it linked, while a is still busy
                assert [o["external_ref"] for o in b.tg.orders()] == [lone["number"]]
                assert b.f360.order(lone["id"])["integrations"]["totalgest"]["status"] == "linked"
                assert not backlog.done() and exported_of_a < BACKLOG, exported_of_a
                done = await backlog
                assert done.code == 0, done.text
                assert json.loads(done.stdout)["succeeded"] == BACKLOG
            finally:
                await end_running(client, task_queue, ["a", "b"])
        assert "Traceback" not in worker.text(), worker.text()[-3000:]
        # every order of a in a's TotalGest once; nothing of a in b's and the other way round
        assert Counter(o["external_ref"] for o in a.tg.orders()) == Counter({o["number"]: 1 for o in a.orders})
        assert [o["external_ref"] for o in b.tg.orders()] == [b.orders[0]["number"]]
