"""Floor of the product import: a plain httpx script, no Temporal, no status store.

It reads the same TotalGest pages the import reads (stock, then articles, same page
sizes), maps each article with the project's own pure mapping (so the payloads are
the same) and posts the same ``/products/batch`` calls of ≤ 100 creates to a fresh
Framework360 simulator. What it leaves out is exactly what tgflow adds: Temporal,
heartbeats, the status store (links, fingerprints, cursors), integration-status
writes, and retries.

    python -m bench.floor_products --totalgest URL --framework360 URL [--page-size 500] [--stock-page-size 1000]
                                   [--status-puts [--put-concurrency N]]

With ``--status-puts`` it also sets each created product's integration status
(``PUT /products/{id}/integrations/totalgest``) after each batch, as many at a time as
tgflow sends (``STATUS_PUT_CONCURRENCY`` of ``tgflow.clients.framework360``, or
``--put-concurrency``): one thread per PUT in flight, each with its own keep-alive
connection (measured a little faster than one client shared by the threads). The
Framework360 contract has no other way to fill the product list's status column, so
this is the plain cost of that column, measured.

Prints one JSON line: {"seconds": …, "articles": …, "created": …, "errors": …, "peak_rss_mb": …}.
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

import httpx

from tgflow.clients.framework360 import STATUS_PUT_CONCURRENCY
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


def put_statuses(client, pool: ThreadPoolExecutor, created: list[tuple[int, str]]) -> None:
    def put(item: tuple[int, str]) -> None:
        product_id, article_id = item
        response = client().put(f"/products/{product_id}/integrations/totalgest", json={
            "status": "linked", "remote_id": article_id, "message": None,
            "synced_at": datetime.now(timezone.utc).isoformat()})
        response.raise_for_status()

    list(pool.map(put, created))


def run(tg_url: str, f360_url: str, page_size: int, stock_page_size: int, status_puts: bool = False,
        put_concurrency: int = STATUS_PUT_CONCURRENCY) -> dict:
    started = time.perf_counter()
    shop = f"/shops/{DEMO_TG_SHOP_ID}"
    pool = ThreadPoolExecutor(put_concurrency)
    local = threading.local()
    put_clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        """Each PUT thread's own client: one keep-alive connection per PUT in flight, as tgflow's lanes."""
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=f360_url, timeout=60,
                                        headers={"Authorization": f"Bearer {DEMO_F360_API_KEY}"})
            put_clients.append(local.client)
        return local.client
    with httpx.Client(base_url=tg_url, timeout=60) as tg, httpx.Client(
            base_url=f360_url, timeout=60, headers={"Authorization": f"Bearer {DEMO_F360_API_KEY}"}) as f360, pool:
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
            ids: list[str] = []
            for raw in items:
                try:
                    product = map_article(Article.model_validate(raw), vat_rates)
                except MappingError:
                    errors += 1
                    continue
                stock = sellable_stock(levels.get(product.sku, {}), None)
                batch.append(product.to_input(stock).model_dump(mode="json", exclude_none=True))
                ids.append(str(raw["id"]))
            for start in range(0, len(batch), BATCH):
                response = f360.post("/products/batch", json={"create": batch[start:start + BATCH], "update": []})
                response.raise_for_status()
                done: list[tuple[int, str]] = []
                for result, article_id in zip(response.json()["create"], ids[start:start + BATCH]):
                    if result.get("error"):
                        errors += 1
                    else:
                        created += 1
                        done.append((result["id"], article_id))
                if status_puts:
                    put_statuses(client, pool, done)
    seconds = time.perf_counter() - started
    for c in put_clients:
        c.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    return {"seconds": seconds, "articles": articles, "created": created, "errors": errors, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--totalgest", required=True, help="TotalGest API root, e.g. http://127.0.0.1:8801/api/v1")
    parser.add_argument("--framework360", required=True, help="Framework360 API root")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--stock-page-size", type=int, default=1000)
    parser.add_argument("--status-puts", action="store_true", help="also PUT each created product's integration status")
    parser.add_argument("--put-concurrency", type=int, default=STATUS_PUT_CONCURRENCY,
                        help=f"status PUTs in flight (default: tgflow's, {STATUS_PUT_CONCURRENCY})")
    args = parser.parse_args()
    print(json.dumps(run(args.totalgest, args.framework360, args.page_size, args.stock_page_size, args.status_puts,
                         args.put_concurrency)))


if __name__ == "__main__":
    main()
