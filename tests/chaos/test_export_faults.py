"""Exports against a flaky TotalGest (15% 5xx, 15% lost acknowledgements on creates, 5% 429): every order lands
exactly once, and the requests per order stay close to the fault-free count, because safe calls are retried
inside the step and a lost create is resolved by a look-up rather than by restarting the export."""

from __future__ import annotations

from tests.chaos.conftest import assert_exactly_once, order_counts
from tgflow.service.orders import export_orders_now

#: Requests per order under these faults against the fault-free count (the bench's target is 1.5x on 60 orders;
#: a little room for 20 orders' randomness). Restarting the step for each failure gave 2.3-2.7x.
REQUEST_FACTOR = 1.6
ORDER_READ = "GET /orders/{order_id}"


async def test_flaky_totalgest_exports_exactly_once_without_repeating_the_step(
        client, settings, worker, tg_sim, f360_sim):
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0
    tg, f360 = tg_sim.sim, f360_sim.sim
    warm = f360.create_order()  # logs in and loads TotalGest's reference data
    assert (await export_orders_now(client, settings, [warm["id"]])).succeeded == 1

    clean = [f360.create_order() for _ in range(20)]
    tg.reset_stats()
    f360.reset_stats()
    assert (await export_orders_now(client, settings, [o["id"] for o in clean])).succeeded == 20
    clean_requests = tg.stats()["total"]
    clean_steps = f360.stats()["by_route"].get(ORDER_READ, 0)  # each export step starts by reading the order

    faulty = [f360.create_order() for _ in range(20)]
    tg.reset_stats()
    f360.reset_stats()
    tg.set_faults(error_rate=0.15, error_after_commit_rate=0.15, rate_limit_rate=0.05, retry_after_seconds=0)
    try:
        report = await export_orders_now(client, settings, [o["id"] for o in faulty])
        stats = tg.stats()
        steps = f360.stats()["by_route"].get(ORDER_READ, 0)
    finally:
        tg.set_faults()
    counts = order_counts(tg, f360, faulty, label=f"orders under faults: {stats['total']} requests vs "
                                                  f"{clean_requests} fault-free; statuses {stats['by_status']}")
    assert report.succeeded == 20, report.failures
    assert_exactly_once(counts)
    assert order_counts(tg, f360, clean)["in TotalGest"] == 20
    failed = sum(v for k, v in stats["by_status"].items() if int(k) >= 500 or int(k) == 429)
    assert failed > 0, stats  # the faults did happen
    assert stats["total"] <= REQUEST_FACTOR * clean_requests, (stats["total"], clean_requests)
    # A failed TotalGest call no longer restarts the export step: a restart needs SAFE_ATTEMPTS (4) failed tries of one call.
    assert clean_steps == 20 and steps <= clean_steps + 3, (steps, clean_steps)
