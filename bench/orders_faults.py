"""Order exports against a flaky TotalGest: the same 60 orders exported once by a fault-free TotalGest
simulator and then three times by one answering 15% 5xx, losing 15% of the acknowledgements of creates
(the order or customer is committed, the answer is a 500) and 5% 429 (Retry-After 1 s).

Each run has a fresh stack (simulators with the same seeds, so the same 60 shop orders; its own in-memory
Temporal dev server, since the same orders mean the same workflow ids; a fresh worker and status database); after one warm-up order (login, reference data), the 60 orders are completed at once and
delivered by webhook as in ``orders``. Per run: seconds from the first completion to the last arrival in
TotalGest, the slowest order (completion -> TotalGest ``created_at``), TotalGest API requests per order
(the simulator's own count), duplicates and lost orders. The floor of each faulty run is the clean run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import Stack, admin
from bench.orders import OrderStack, _ts
from bench.report import Row

ORDERS = 60
RUNS = 3
FAULTS = {"error_rate": 0.15, "error_after_commit_rate": 0.15, "rate_limit_rate": 0.05, "retry_after_seconds": 1}
TIME_RATIO_TARGET = 2.0
SLOWEST_TARGET_SECONDS = 30.0
REQUESTS_RATIO_TARGET = 1.5


def sizes(quick: bool) -> tuple[int, int]:
    """(orders per run, faulty runs)."""
    return (20, 1) if quick else (ORDERS, RUNS)


async def one_run(stack: Stack, n: int, faults: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    temporal, address = stack.temporal()
    s = OrderStack(stack, address)
    try:
        await s.start()
        assert s.tg is not None
        warm = await s.create_orders(1)
        lat, _ = await s.wait_for(warm, 60, 0.05)
        if not lat:
            raise RuntimeError("the warm-up order never reached TotalGest: rerun with --keep and see the logs")
        admin(s.tg, "POST", "/stats/reset")
        if faults:
            admin(s.tg, "PUT", "/faults", json={**faults, "seed": seed})
        orders = await s.create_orders(n)
        try:
            lat, counts = await s.wait_for(orders, 600, 0.5)
        finally:
            stats = admin(s.tg, "GET", "/stats")
            admin(s.tg, "PUT", "/faults", json={})
        await asyncio.sleep(2)  # a duplicate would show a little later
        lat, counts = s.latencies(orders, s.tg_orders())
        first = min(_ts(o["completed_at"]).timestamp() for o in orders)
        last = max((_ts(o["completed_at"]).timestamp() + lat[o["number"]] for o in orders if o["number"] in lat),
                   default=None)
        ranked = sorted(lat.values())
        return {"seconds": (last - first) if last else None, "slowest": max(lat.values(), default=None),
                "p50": ranked[len(ranked) // 2] if ranked else None,
                "p90": ranked[min(len(ranked) - 1, len(ranked) * 9 // 10)] if ranked else None,
                "requests": stats["total"], "per_order": stats["total"] / n, "by_status": stats["by_status"],
                "duplicates": sum(max(0, c - 1) for c in counts.values()),
                "lost": sum(1 for c in counts.values() if c == 0), "numbers": [o["number"] for o in orders]}
    finally:
        for proc in (s.receiver, s.worker, s.f360, s.tg, temporal):
            if proc is not None:
                stack.stop(proc)


async def run_orders_faults(stack: Stack, quick: bool, log=print) -> list[Row]:
    n, runs = sizes(quick)
    log(f"orders under faults: {n} orders clean, then {runs} run(s) with {FAULTS}…")
    clean = await one_run(stack, n, None, 0)
    log(f"  clean: {clean['seconds']:.1f} s, order latency p50 {clean['p50']:.2f} s, p90 {clean['p90']:.2f} s, "
        f"slowest {clean['slowest']:.1f} s, {clean['per_order']:.1f} requests/order")
    rows = [Row("orders-faults", f"{n} orders, fault-free TotalGest: time", clean["seconds"], "s",
                note=f"slowest order {clean['slowest']:.2f} s; {clean['per_order']:.2f} TotalGest requests per order"),
            Row("orders-faults", f"{n} orders, fault-free TotalGest: requests per order", clean["per_order"], "")]
    for i in range(1, runs + 1):
        got = await one_run(stack, n, FAULTS, 1000 + i)
        if got["numbers"] != clean["numbers"]:
            raise RuntimeError("the faulty run's shop orders differ from the clean run's: not the same work")
        log(f"  run {i}: {got['seconds']:.1f} s, order latency p50 {got['p50']:.2f} s, p90 {got['p90']:.2f} s, "
            f"slowest {got['slowest']:.1f} s, "
            f"{got['per_order']:.2f} requests/order, duplicates {got['duplicates']}, lost {got['lost']}")
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(got["by_status"].items()))
        rows += [
            Row("orders-faults", f"run {i}: {n} orders, flaky TotalGest: time vs clean", got["seconds"], "s",
                floor=clean["seconds"], target=TIME_RATIO_TARGET, direction="le",
                note=f"order latency p50 {got['p50']:.2f} s, p90 {got['p90']:.2f} s (clean {clean['p50']:.2f} / "
                     f"{clean['p90']:.2f} s); TotalGest answers during the run: {statuses}"),
            Row("orders-faults", f"run {i}: slowest order", got["slowest"], "s",
                target=SLOWEST_TARGET_SECONDS, direction="le", target_on_ratio=False),
            Row("orders-faults", f"run {i}: TotalGest requests per order vs clean", got["per_order"], "",
                floor=clean["per_order"], target=REQUESTS_RATIO_TARGET, direction="le"),
            Row("orders-faults", f"run {i}: duplicates + lost", got["duplicates"] + got["lost"], "",
                target=0, direction="le", target_on_ratio=False),
        ]
    return rows
