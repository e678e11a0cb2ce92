"""Floor of the product import: a plain httpx script, no Temporal, no status store.

It reads the same TotalGest pages the import reads (stock, then articles, same page
sizes), maps each article with the project's own pure mapping (so the payloads are
the same) and posts the same ``/products/batch`` calls of ≤ 100 creates to a fresh
Framework360 simulator, each create carrying the product's status column
(``integrations.totalgest`` = linked, with the TotalGest article id: contract 1.1), as
tgflow writes it. What it leaves out is exactly what tgflow adds: Temporal, heartbeats,
the status store (links, fingerprints, cursors) and retries.

    python -m bench.floor_products --totalgest URL --framework360 URL [--page-size 500] [--stock-page-size 1000]

Prints one JSON line: {"seconds": …, "articles": …, "created": …, "errors": …, "peak_rss_mb": …,
"cpu_seconds": …}.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import datetime, timezone
from decimal import Decimal

import httpx

from tgflow.clients.totalgest import Article
from tgflow.mapping.products import MappingError, map_article, sellable_stock
from tgflow.sim import (
    DEMO_F360_API_KEY,
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)

BATCH = 100


def pages(http: httpx.Client, path: str, limit: int):
    cursor = None
    while True:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        response = http.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        yield body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return


def run(tg_url: str, f360_url: str, page_size: int, stock_page_size: int) -> dict:
    started, cpu_started = time.perf_counter(), time.process_time()
    shop = f"/shops/{DEMO_TG_SHOP_ID}"
    with httpx.Client(base_url=tg_url, timeout=60) as tg, httpx.Client(
            base_url=f360_url, timeout=60, headers={"Authorization": f"Bearer {DEMO_F360_API_KEY}"}) as f360:
        token = tg.post("/auth/token", json={"shop_id": DEMO_TG_SHOP_ID, "owner_id": DEMO_TG_OWNER_ID,
                                             "username": DEMO_TG_USERNAME, "password": DEMO_TG_PASSWORD})
        token.raise_for_status()
        tg.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        vat = tg.get(shop + "/vat-codes")
        vat.raise_for_status()
        vat_rates = [Decimal(str(v["rate"])) for v in vat.json()]

        levels: dict[str, dict[str, str]] = {}
        for items in pages(tg, shop + "/stock", stock_page_size):
            for row in items:
                levels.setdefault(row["article_code"], {})[row["warehouse_id"]] = row["available"]

        articles = created = errors = 0
        for items in pages(tg, shop + "/articles", page_size):
            articles += len(items)
            batch: list[dict] = []
            for raw in items:
                try:
                    product = map_article(Article.model_validate(raw), vat_rates)
                except MappingError:
                    errors += 1
                    continue
                stock = sellable_stock(levels.get(product.sku, {}), None)
                item = product.to_input(stock).model_dump(mode="json", exclude_none=True)
                item["integrations"] = {"totalgest": {"status": "linked", "remote_id": str(raw["id"]),
                                                      "synced_at": datetime.now(timezone.utc).isoformat()}}
                batch.append(item)
            for start in range(0, len(batch), BATCH):
                response = f360.post("/products/batch", json={"create": batch[start:start + BATCH], "update": []})
                response.raise_for_status()
                for result in response.json()["create"]:
                    if result.get("error"):
                        errors += 1
                    else:
                        created += 1
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # the run's own, not the interpreter's start-up and imports
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    return {"seconds": seconds, "articles": articles, "created": created, "errors": errors, "peak_rss_mb": peak,
            "cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--totalgest", required=True, help="TotalGest API root, e.g. http://127.0.0.1:8801/api/v1")
    parser.add_argument("--framework360", required=True, help="Framework360 API root")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--stock-page-size", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(args.totalgest, args.framework360, args.page_size, args.stock_page_size)))


if __name__ == "__main__":
    main()
