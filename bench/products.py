"""Product import benchmarks: full import vs the plain-httpx floor, incremental runs, cost growth.

Per catalog size: a TotalGest simulator process with N articles; the floor script
(its own process) posts to a fresh Framework360 simulator; then a second fresh
Framework360 simulator, a fresh status database and a fresh worker process run
``ProductImportWorkflow(full=True)``. The worker's peak RSS is its ``VmHWM`` after
the run (a fresh worker per size, so each peak is that size's).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from dataclasses import dataclass, field

from bench import harness
from bench.harness import (
    PYTHON,
    Proc,
    Stack,
    admin,
    child_env,
    f360_writes,
    start_profiler,
    stop_profiler,
    wait_for_pollers,
)
from bench.report import Row

RSS_TARGET_MB = 250.0
FULL_RATIO_TARGET = 1.3
NOCHANGE_SECONDS_TARGET = 2.0
#: Linear time: seconds per 1k articles at the largest size at most this × the smallest size's.
LINEAR_TARGET = 1.3
#: Flat memory: peak RSS at the largest size at most this × the smallest size's.
FLAT_RSS_TARGET = 1.25


@dataclass
class FullResult:
    articles: int
    seconds: float
    floor_seconds: float
    rss_mb: float | None
    floor_rss_mb: float | None
    created: int
    errors: int
    floor_created: int
    writes: int
    floor_writes: int
    #: The floor plus one integration-status PUT per created product (the contract's minimum for that column).
    status_sets: int = 0
    floor_status_sets: int = 0
    #: CPU seconds each process spent during the run (the worker's and the floor script's own, the simulators', the
    #: Temporal server's): the run's wall time cannot go below their sum / the machine's cores.
    cpu: dict[str, float] = field(default_factory=dict)
    floor_cpu: dict[str, float] = field(default_factory=dict)


class ImportStack:
    """Temporal + TotalGest sim (N articles) + worker + Framework360 sim; the floor run first."""

    def __init__(self, stack: Stack, temporal_address: str, articles: int) -> None:
        self.stack, self.temporal_address, self.articles = stack, temporal_address, articles
        self.tg: Proc | None = None
        self.f360: Proc | None = None
        self.worker: Proc | None = None
        self.settings = None
        self.client = None
        #: CPU seconds per process during the last ``run_import``.
        self.last_cpu: dict[str, float] = {}

    def _server_cpu(self) -> float:
        return self.stack.server.cpu_seconds() if self.stack.server is not None else 0.0

    def floor(self) -> dict:
        assert self.tg is not None
        f360 = self.stack.framework360_sim()
        try:
            tg0, server0, f360_0 = self.tg.cpu_seconds(), self._server_cpu(), f360.cpu_seconds()
            out = subprocess.run(
                [PYTHON, "-m", "bench.floor_products", "--totalgest", self.tg.url + "/api/v1",
                 "--framework360", f360.url + "/api/v1"],
                capture_output=True, text=True, timeout=1800, env=child_env())
            if out.returncode != 0:
                raise RuntimeError(f"the floor script failed (exit {out.returncode}): {out.stderr[-1500:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["cpu"] = {"floor script": result.pop("cpu_seconds"), "TotalGest sim": self.tg.cpu_seconds() - tg0,
                             "Framework360 sim": f360.cpu_seconds() - f360_0, "Temporal": self._server_cpu() - server0}
            stats = admin(f360, "GET", "/stats")
            result["writes"] = f360_writes(stats)
            result["status_sets"] = stats["batch_integration_sets"] + stats["product_integration_puts"]
            return result
        finally:
            self.stack.stop(f360)

    async def start(self) -> None:
        self.tg = self.stack.totalgest_sim(self.articles)

    async def start_tgflow(self) -> None:
        from tgflow.temporal import connect

        assert self.tg is not None
        self.f360 = self.stack.framework360_sim()
        self.settings = self.stack.settings(temporal_address=self.temporal_address, tg=self.tg, f360=self.f360)
        self.worker = self.stack.worker(self.settings)
        self.client = await connect(self.settings.temporal)
        await wait_for_pollers(self.client, self.settings.temporal.task_queue)

    async def run_import(self, *, full: bool) -> tuple[float, object]:
        from tgflow.service.products import start_import

        assert self.worker is not None and self.tg is not None and self.f360 is not None
        procs = {"worker": self.worker, "TotalGest sim": self.tg, "Framework360 sim": self.f360}
        cpu0 = {name: proc.cpu_seconds() for name, proc in procs.items()}
        server0 = self._server_cpu()
        spy = None
        if harness.PROFILE_DIR is not None:
            out = harness.PROFILE_DIR / f"worker-import-{'full' if full else 'incr'}-{self.articles}.txt"
            spy = start_profiler(self.worker.pid, out)
        started = time.perf_counter()
        report = await start_import(self.client, self.settings, full=full, wait=True,
                                    workflow_id=f"bench-import-{random.randrange(1 << 40):x}")
        seconds = time.perf_counter() - started
        self.last_cpu = {name: proc.cpu_seconds() - cpu0[name] for name, proc in procs.items()}
        self.last_cpu["Temporal"] = self._server_cpu() - server0
        if spy is not None:
            stop_profiler(spy)
        return seconds, report

    def close(self) -> None:
        for proc in (self.worker, self.f360, self.tg):
            if proc is not None:
                self.stack.stop(proc)


async def full_import(stack: Stack, temporal_address: str, articles: int, *, keep: bool = False
                      ) -> tuple[FullResult, ImportStack]:
    """Floor then tgflow full import at this size. With ``keep`` the stack stays up (incremental runs)."""
    s = ImportStack(stack, temporal_address, articles)
    await s.start()
    floor = s.floor()
    await s.start_tgflow()
    assert s.f360 is not None and s.worker is not None
    seconds, report = await s.run_import(full=True)
    rss = s.worker.peak_rss_mb()
    stats = admin(s.f360, "GET", "/stats")
    result = FullResult(articles=articles, seconds=seconds, floor_seconds=floor["seconds"], rss_mb=rss,
                        floor_rss_mb=floor["peak_rss_mb"], created=stats["products_created"],
                        errors=report.errors, floor_created=floor["created"], writes=f360_writes(stats),
                        floor_writes=floor["writes"],
                        status_sets=stats["batch_integration_sets"] + stats["product_integration_puts"],
                        floor_status_sets=floor["status_sets"], cpu=s.last_cpu, floor_cpu=floor["cpu"])
    if result.created != floor["created"]:
        raise RuntimeError(f"{articles} articles: tgflow created {result.created} products, the floor "
                           f"{floor['created']}: the runs did not do the same work")
    if result.status_sets < result.created or floor["status_sets"] < floor["created"]:
        raise RuntimeError(f"{articles} articles: status column written for {result.status_sets} products by tgflow, "
                           f"{floor['status_sets']} by the floor, of {result.created}: not the same work")
    if not keep:
        s.close()
    return result, s


def full_rows(r: FullResult, bench: str = "import-full") -> list[Row]:
    n = f"{r.articles:,}"
    return [
        Row(bench, f"full import, {n} articles: wall time", r.seconds, "s", floor=r.floor_seconds,
            target=FULL_RATIO_TARGET, direction="le",
            note=(f"{r.created:,} products created by both, status column written in the batch items "
                  f"({r.status_sets:,} / {r.floor_status_sets:,}); Framework360 write requests: tgflow {r.writes:,}, "
                  f"floor {r.floor_writes:,}")),
        Row(bench, f"full import, {n} articles: worker peak RSS", r.rss_mb, "MB", floor=r.floor_rss_mb,
            target=RSS_TARGET_MB, direction="le", target_on_ratio=False,
            note="floor = the plain script's own peak RSS (informative)"),
        Row(bench, f"full import, {n} articles: CPU seconds, all processes", sum(r.cpu.values()), "s",
            floor=sum(r.floor_cpu.values()), note=_cpu_note(r)),
    ]


def _cpu_note(r: FullResult) -> str:
    """Where the CPU went; on this machine's cores a run cannot take less wall time than its CPU / cores."""
    cores = os.cpu_count() or 1
    parts = [", ".join(f"{name} {value:.2f}" for name, value in cpu.items()) for cpu in (r.cpu, r.floor_cpu)]
    return (f"tgflow: {parts[0]}; floor: {parts[1]} (CPU s). On {cores} cores the shortest possible wall time is "
            f"{sum(r.cpu.values()) / cores:.1f} s for tgflow, {sum(r.floor_cpu.values()) / cores:.1f} s for the floor")


async def incremental(s: ImportStack, articles: int) -> list[Row]:
    assert s.f360 is not None and s.tg is not None
    rows: list[Row] = []
    admin(s.f360, "POST", "/stats/reset")
    seconds, report = await s.run_import(full=False)
    writes = f360_writes(admin(s.f360, "GET", "/stats"))
    n = f"{articles:,}"
    rows.append(Row("import-incremental", f"no change, {n} articles: wall time", seconds, "s",
                    target=NOCHANGE_SECONDS_TARGET, direction="le", target_on_ratio=False,
                    note=f"articles read {report.articles_read:,} (cursor overlap re-reads the last minutes)"))
    rows.append(Row("import-incremental", f"no change, {n} articles: Framework360 writes", writes, "",
                    target=0, direction="le", target_on_ratio=False))

    changed = max(1, articles // 100)
    codes = sorted(random.Random(6).sample(range(1, articles + 1), changed))
    width = max(5, len(str(articles)))
    stamp = time.strftime("%H:%M:%S")
    admin(s.tg, "POST", "/articles/touch", json={"codes": [f"ART-{i:0{width}d}" for i in codes],
                                                 "changes": {"short_description": f"Changed by bench {stamp}"}})
    admin(s.f360, "POST", "/stats/reset")
    seconds, report = await s.run_import(full=False)
    stats = admin(s.f360, "GET", "/stats")
    writes = f360_writes(stats)
    rows.append(Row("import-incremental", f"1% changed ({changed:,}), {n} articles: wall time", seconds, "s",
                    note=f"products updated {stats['products_updated']:,} (report: {report.updated:,})"))
    rows.append(Row("import-incremental", f"1% changed ({changed:,}), {n} articles: Framework360 writes", writes, "",
                    note=f"{stats['batch_calls']} batch calls + {stats['product_integration_puts']} status PUTs; "
                         f"minimum possible is {-(-changed // 100)} batch calls"))
    if stats["products_updated"] != changed:
        rows[-1].note += f"; EXPECTED {changed} products updated"
    return rows


def growth_rows(results: list[FullResult]) -> list[Row]:
    rows: list[Row] = []
    results = sorted(results, key=lambda r: r.articles)
    small, large = results[0], results[-1]
    for r in results:
        per_k = r.seconds / r.articles * 1000
        floor_k = r.floor_seconds / r.articles * 1000
        last = r is large and len(results) > 1
        rows.append(Row("import-growth", f"{r.articles:,} articles: s per 1k articles", per_k, "s", floor=floor_k,
                        note=(f"linear if ≤ {LINEAR_TARGET}× the {small.articles:,} size's "
                              f"({small.seconds / small.articles * 1000:.2f} s): "
                              f"{per_k / (small.seconds / small.articles * 1000):.2f}×") if last else ""))
        rows.append(Row("import-growth", f"{r.articles:,} articles: worker peak RSS", r.rss_mb, "MB",
                        target=RSS_TARGET_MB, direction="le", target_on_ratio=False))
    if len(results) > 1 and small.rss_mb and large.rss_mb:
        rows.append(Row("import-growth", f"s per 1k articles, {large.articles:,} vs {small.articles:,}",
                        large.seconds / large.articles * 1000, "s", floor=small.seconds / small.articles * 1000,
                        target=LINEAR_TARGET, direction="le", note="linear growth: the ratio stays near 1"))
        rows.append(Row("import-growth", f"peak RSS, {large.articles:,} vs {small.articles:,}", large.rss_mb, "MB",
                        floor=small.rss_mb, target=FLAT_RSS_TARGET, direction="le",
                        note="flat memory: the ratio stays near 1"))
    return rows


def sizes(quick: bool) -> tuple[int, list[int]]:
    """(full/incremental size, growth sizes)."""
    return (2_000, [500, 1_000, 2_000]) if quick else (50_000, [5_000, 20_000, 50_000])


async def run_products(stack: Stack, temporal_address: str, only: set[str], quick: bool, log=print,
                       articles: int | None = None) -> list[Row]:
    big, growth = sizes(quick)
    big = articles or big
    rows: list[Row] = []
    results: dict[int, FullResult] = {}
    if only & {"import-full", "import-incremental", "import-growth"}:
        log(f"product import: {big:,} articles (floor, then full import)…")
        result, s = await full_import(stack, temporal_address, big, keep="import-incremental" in only)
        results[big] = result
        log(f"  tgflow {result.seconds:.1f} s, floor {result.floor_seconds:.1f} s, worker RSS {result.rss_mb:.0f} MB")
        if "import-full" in only:
            rows += full_rows(result)
        if "import-incremental" in only:
            try:
                log("product import: incremental runs…")
                rows += await incremental(s, big)
            finally:
                s.close()
    if "import-growth" in only:
        for n in growth:
            if n in results:
                continue
            log(f"product import: {n:,} articles (floor, then full import)…")
            results[n], _ = await full_import(stack, temporal_address, n)
            r = results[n]
            log(f"  tgflow {r.seconds:.1f} s, floor {r.floor_seconds:.1f} s, worker RSS {r.rss_mb:.0f} MB")
        rows += growth_rows([results[n] for n in growth])
    return rows
