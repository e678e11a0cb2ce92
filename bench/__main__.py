"""Run the benchmarks and print one table: value, floor measured in the same run, ratio, target, met.

    .venv/bin/python -m bench                       # everything at the issue's sizes (several minutes)
    .venv/bin/python -m bench --quick               # small sizes, a smoke run in well under a minute
    .venv/bin/python -m bench --only import-full    # one benchmark (repeatable option)
    .venv/bin/python -m bench --json results.json   # also write the rows as JSON
    .venv/bin/python -m bench --markdown out.md     # also write the table as Markdown (docs/benchmarks.md)
    .venv/bin/python -m bench --only shops --shops 10 --articles 500   # many shops on one worker, scaled down

Benchmarks: import-full, import-incremental, import-growth, orders, orders-floor, orders-faults, shops.
Exit code 0 when every target with a verdict is met, 1 when one is missed, 2 on a harness error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.harness import Stack
from bench.report import Row, markdown, print_table

BENCHES = ("import-full", "import-incremental", "import-growth", "orders", "orders-floor", "orders-faults", "shops")
#: ``--shops`` / ``--shop-orders`` / ``--idle-seconds`` of the shops benchmark (None: its defaults).
SHOPS_OPTIONS: dict = {}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def run(only: set[str], quick: bool, keep: bool, articles: int | None = None) -> list[Row]:
    rows: list[Row] = []
    with Stack(keep=keep) as stack:
        if keep:
            log(f"logs and databases kept in {stack.root}")
        _, address = stack.temporal()
        log(f"Temporal dev server on {address} (in memory)")
        if only & {"import-full", "import-incremental", "import-growth"}:
            from bench.products import run_products

            rows += await run_products(stack, address, only, quick, log, articles)
        if only & {"orders", "orders-floor"}:
            from bench.orders import run_orders

            rows += await run_orders(stack, address, only, quick, log)
        if "orders-faults" in only:
            from bench.orders_faults import run_orders_faults

            rows += await run_orders_faults(stack, quick, log)
        if "shops" in only:
            from bench.shops import run_shops

            rows += await run_shops(stack, address, quick, log, articles=articles, **SHOPS_OPTIONS)
    return rows


def machine_line(quick: bool) -> str:
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} cores (nproc) · "
            f"load before the run {load[0]:.1f} · Python {platform.python_version()} · "
            f"{'--quick sizes' if quick else 'full sizes'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=BENCHES, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="small sizes (2k articles, 50 orders) for a smoke run")
    parser.add_argument("--articles", type=int, metavar="N",
                        help="catalog size of import-full / import-incremental (default 50,000; --quick 2,000)")
    parser.add_argument("--json", dest="json_path", type=Path, help="write the rows as JSON to this file")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="attach py-spy to the worker during each measured run and write collapsed stacks "
                             "to DIR (needs `pip install py-spy`; it disturbs the times)")
    parser.add_argument("--orders-max-concurrent", type=int, metavar="N",
                        help="run the order benchmark with settings.orders.max_concurrent = N (default: tgflow's)")
    parser.add_argument("--shops", type=int, metavar="N", help="shops of the shops benchmark (default 50; --quick 5); "
                        "--articles sets each shop's catalog (default 2,000; --quick 200)")
    parser.add_argument("--shop-orders", type=int, metavar="N", help="orders per shop (default 20; --quick 5)")
    parser.add_argument("--idle-seconds", type=float, metavar="S", help="idle window of the shops benchmark (default 60)")
    args = parser.parse_args()
    SHOPS_OPTIONS.update({k: v for k, v in (("shops_n", args.shops), ("orders", args.shop_orders),
                                            ("idle_seconds", args.idle_seconds)) if v is not None})
    if args.orders_max_concurrent:
        from bench import orders

        orders.MAX_CONCURRENT = args.orders_max_concurrent
    if args.profile:
        from bench import harness

        harness.PROFILE_DIR = args.profile.resolve()
    only = set(args.only or BENCHES)
    header = machine_line(args.quick)
    log(header)
    started = time.monotonic()
    try:
        rows = asyncio.run(run(only, args.quick, args.keep, args.articles))
    except Exception as exc:  # a harness failure: one clear line, not a traceback wall
        print(f"error: benchmark harness failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    print_table(rows)
    print(f"{header} · took {time.monotonic() - started:.0f} s")
    if args.json_path:
        args.json_path.write_text(json.dumps({"machine": header, "rows": [r.as_dict() for r in rows]}, indent=2))
    if args.markdown:
        args.markdown.write_text(f"{header}\n\n{markdown(rows)}\n")
    sys.exit(1 if any(r.met is False for r in rows) else 0)


if __name__ == "__main__":
    main()
