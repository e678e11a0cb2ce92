"""`tgflow products ...` and `tgflow import-products`: the catalog TotalGest -> Framework360."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from tgflow.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    connect_or_fail,
    console,
    emit_json,
    err_console,
    fail,
    fit_table,
    interactive,
    load_settings,
    open_store,
    run,
    when,
    when_short,
)
from tgflow.service.product_rows import product_detail as _link_row  # shared with the console
from tgflow.service.product_rows import product_row, status_column

app = typer.Typer(
    help=(
        "The product catalog TotalGest → Framework360: what is linked, what failed and why, and where the "
        "next incremental import starts. Run an import now with `tgflow import-products`."
    ),
    no_args_is_help=True,
)
cursor_app = typer.Typer(
    help="The import's cursors: each incremental run reads only TotalGest changes since them (UTC, with overlap).",
    no_args_is_help=True,
)
app.add_typer(cursor_app, name="cursor")


class LinkStatus(str, Enum):
    linked = "linked"
    not_linked = "not_linked"
    error = "error"


class CursorName(str, Enum):
    articles = "articles"
    stock = "stock"

#: Rows of `tgflow products list` at a terminal unless --limit says otherwise.
PAGE = 50


@app.command("list")
def list_products(
    status: Optional[LinkStatus] = typer.Option(None, "--status", help="Only products with this sync status."),
    limit: Optional[int] = typer.Option(None, "--limit", min=0,
                                        help=f"Show at most this many, by SKU (default {PAGE} in the table, all with "
                                             "--json; 0 = all)."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many first (the next page: --offset 50)."),
    json_output: bool = typer.Option(False, "--json", help="Print the products as JSON."),
) -> None:
    """Products known to the import, with their sync status column (`Linked`, `Not linked`, `Error: reason`),
    their name (as the import last wrote it; "—" until a product is written again after the upgrade), stock
    and last sync; 50 at a time (`--limit`, `--offset`).

    Example: `tgflow products list --status error` lists what to fix in TotalGest (or why Framework360 refused it).
    With several shops and no --shop: every shop's products, shop after shop, with a Shop column ("shop" in
    --json); --limit and --offset page across them.
    """
    from tgflow.cli.across import covered_shops
    from tgflow.service.across import page_across
    from tgflow.store import products as pstore

    views = covered_shops()
    several = len(views) > 1
    wanted = status.value if status else None
    if limit is None:
        limit = 0 if json_output else PAGE
    store = open_store(views[0])

    def part(shop_id: str, start: int, room: int | None) -> tuple[list[dict[str, Any]], int]:
        links = [] if room == 0 else pstore.list_links(store, shop_id, wanted, room, start)
        return [product_row(link) for link in links], pstore.count_links(store, shop_id, wanted)

    rows, total = page_across(views, part, offset=offset, limit=limit or None)
    store.close()
    if json_output:
        emit_json(rows)
        return
    shown = f"{offset + 1}–{offset + len(rows)} of {total}" if rows else f"none of {total}"
    cells = []
    for r in rows:
        style = {"linked": "green", "error": "red"}.get(r["status"], "yellow")
        cells.append(([r["shop"]] if several else []) + [
            r["sku"], Text(r["name"] or "—"), Text(" ".join(r["column"].split()), style=style),
            str(r["f360_product_id"] or "—"), "—" if r["stock_quantity"] is None else str(r["stock_quantity"]),
            when_short(r["last_synced_at"])])
    headers = ["SKU", "Name", "Status", "F360 id", "Stock", "Synced (UTC)"]
    title = f"Products ({shown})"
    if several:
        headers, title = ["Shop", *headers], f"Products of {len(views)} shops ({shown})"
    s = int(several)
    table = fit_table(title, headers, cells, flexible=2 + s, right=(3 + s, 4 + s), caps={1 + s: 24})
    console.print(table)
    more = total - offset - len(rows)
    if rows and more > 0:
        flags = (f" --status {wanted}" if wanted else "") + (f" --limit {limit}" if limit != PAGE else "")
        console.print(f"{more} more: `tgflow products list{flags} --offset {offset + len(rows)}` "
                      "(or --limit 0 for all)", highlight=False, soft_wrap=True)


@cursor_app.command("show")
def cursor_show(json_output: bool = typer.Option(False, "--json", help="Print the cursors as JSON.")) -> None:
    """Where the next incremental import starts reading TotalGest articles and stock (UTC).
    Empty means the next run reads everything. With several shops and no --shop: every shop's."""
    from tgflow.cli.across import covered_shops
    from tgflow.service.across import page_across
    from tgflow.store import products as pstore

    views = covered_shops()
    several = len(views) > 1
    store = open_store(views[0])

    def part(shop_id: str, _start: int, _room: int | None) -> tuple[list[dict[str, Any]], int]:
        found = pstore.list_cursors(store, shop_id)
        return found, len(found)

    cursors, _ = page_across(views, part)
    store.close()
    if json_output:
        emit_json(cursors)
        return
    table = Table(title="Product import cursors" + (f" of {len(views)} shops" if several else ""))
    for col in (["Shop"] if several else []) + ["Stream", "Changes read since", "Saved at"]:
        table.add_column(col)
    for c in cursors:
        table.add_row(*([c["shop"]] if several else []), c["name"],
                      when(c["value"]) if c["value"] else "— (next run reads everything)", when(c["updated_at"]))
    console.print(table)


@cursor_app.command("reset")
def cursor_reset(
    name: Optional[CursorName] = typer.Option(None, "--name", help="Reset only this cursor (default: both)."),
    json_output: bool = typer.Option(False, "--json", help="Print what was reset as JSON."),
) -> None:
    """Forget the cursors: the next import reads the whole catalog again (it still writes only what
    differs). Use `tgflow import-products --full` instead to also draft products of deleted articles."""
    from tgflow.store import products as pstore

    settings = load_settings()
    store = open_store(settings)
    names = pstore.reset_cursor(store, settings.totalgest.shop_id, name.value if name else None)
    store.close()
    if json_output:
        emit_json({"reset": names})
    else:
        console.print(f"reset: {', '.join(names)} — the next import reads everything")


def _last_import_for(store, shop_id: str, link):
    """The import run that last wrote this link: the latest one started before the link changed."""
    from tgflow.store.products import run_that_wrote

    return run_that_wrote(store, shop_id, link)


@app.command("show")
def show(
    sku: str = typer.Argument(..., help="The article code (SKU), e.g. ART-00042."),
    json_output: bool = typer.Option(False, "--json", help="Print the product as JSON."),
) -> None:
    """One product: sync state, TotalGest and Framework360 ids, last error, last sync, Web UI link.

    Shows the state (`Linked`, `Not linked`, `Error: reason`), the TotalGest article id, the Framework360
    product id, failed attempts, when it was last synced and the Web UI link of the import that last wrote it.

    Example: `tgflow products show ART-00042`; then fix the cause and `tgflow products retry ART-00042 --wait`.
    """
    from tgflow.cli.common import EXIT_CONFIG
    from tgflow.store import products as pstore

    settings = load_settings()
    store = open_store(settings)
    shop = settings.totalgest.shop_id
    link = pstore.load_links(store, shop, [sku]).get(sku)
    if link is None:
        store.close()
        fail(f"no product with SKU {sku} is known to the import (see `tgflow products list`); "
             "an article appears after the import that reads it", EXIT_CONFIG)
    row = _link_row(link, _last_import_for(store, shop, link), settings)
    store.close()
    if json_output:
        emit_json(row)
        return
    style = {"linked": "green", "error": "red"}.get(row["status"], "yellow")
    table = Table(title=f"Product {sku}", show_header=False)
    table.add_row("status", f"[{style}]{row['column']}[/]")
    table.add_row("name", Text(row["name"] or "— (stored at the product's next write)"))
    table.add_row("TotalGest article id", str(row["tg_article_id"] or "—"))
    table.add_row("Framework360 product id", str(row["f360_product_id"] or "— (not created)"))
    table.add_row("published", "yes" if row["published"] else "no (draft)")
    table.add_row("stock written", "—" if row["stock_quantity"] is None else
                  f"{row['stock_quantity']} (reserved by unexported orders: {row['reserved_quantity']})")
    table.add_row("failed attempts", str(row["attempts"]))
    table.add_row("last synced", when(row["last_synced_at"]))
    table.add_row("last seen in TotalGest", when(row["last_seen_at"]))
    imp = row.get("last_import")
    if imp:
        table.add_row("last import", f"{imp['workflow_id']} ({imp['status']}, {when(imp['started_at'])})")
        table.add_row("Web UI", imp["url"] or "—")
    console.print(table)
    if row["status"] == "error":
        hint = ("retried by every import run; after fixing the cause: `tgflow products retry "
                f"{sku} --wait`") if row["retried_next_run"] else \
            f"fix the article in TotalGest (the next import picks it up) or `tgflow products retry {sku} --wait`"
        err_console.print(f"[red]error[/] {row['error']}\n{hint}", highlight=False, soft_wrap=True)


@app.command("retry")
def retry(
    skus: Optional[list[str]] = typer.Argument(None, help="Article codes (SKUs) to write again."),
    failed: bool = typer.Option(False, "--failed", help="Every product currently in error."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the import and report each product's outcome."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Re-drive failed products once their cause is fixed (an import run writes them again in full).

    The products are marked for a full rewrite and an import is started now (a worker must be running).
    Products Framework360 refused are retried from their saved content; for the others the next run re-reads
    the TotalGest catalog (it still writes only these and real changes). Unknown SKUs are reported and skipped.

    Examples: `tgflow products retry --failed --wait`, `tgflow products retry ART-00042 ART-00043`.
    Exit code 1 when a product is still in error (or unknown) after --wait.
    """
    from tgflow.cli.common import EXIT_CONFIG
    from tgflow.service.products import mark_and_reimport
    from tgflow.temporal import workflow_url

    if bool(skus) == failed:
        fail("name the SKUs to retry, or pass --failed for every product in error (not both)", EXIT_CONFIG)
    settings = load_settings()
    shop = settings.totalgest.shop_id
    store = open_store(settings)

    async def _go() -> tuple[Any, Any]:
        done = await mark_and_reimport(lambda: connect_or_fail(settings), settings, store,
                                       None if failed else list(dict.fromkeys(skus)))
        for sku in done.unknown:
            err_console.print(f"[yellow]skipped[/] {sku}: no product with this SKU is known to the import",
                              highlight=False)
        if done.handle is None or not wait:
            return done, None
        if interactive() and not json_output:
            return done, await _wait_with_progress(done.client, done.handle)
        return done, await done.handle.result()

    try:
        done, report = run(_go())
    except typer.Exit as exc:
        store.close()
        raise typer.Exit(exc.exit_code)
    except Exception as exc:
        store.close()
        try:
            fail(f"the product import failed: {_failure_text(exc)}", EXIT_FAILURES)
        except typer.Exit as exit_:
            raise typer.Exit(exit_.exit_code)
    marked, unknown, reread, handle = done.marked, done.unknown, done.catalog_reread, done.handle
    if not marked:
        store.close()
        if json_output:
            emit_json({"retried": [], "unknown": unknown, "workflow_id": None})
        else:
            console.print("nothing to retry: no product in error" if failed else "nothing to retry")
        raise typer.Exit(EXIT_FAILURES if unknown else EXIT_OK)
    out: dict[str, Any] = {"workflow_id": handle.id, "url": workflow_url(settings.temporal, handle.id),
                           "retried": marked, "unknown": unknown, "catalog_reread": reread}
    if not wait:
        store.close()
        if json_output:
            emit_json(out)
        else:
            console.print(f"{len(marked)} product(s) marked; import started: {handle.id}\n{out['url']}",
                          highlight=False)
        raise typer.Exit(EXIT_FAILURES if unknown else EXIT_OK)
    from tgflow.store import products as pstore

    links = pstore.load_links(store, shop, marked)
    store.close()
    results = [{"sku": sku, "status": links[sku].status, "error": links[sku].last_error,
                "f360_product_id": links[sku].f360_product_id} for sku in marked]
    out |= {"results": results, "import": report.model_dump(mode="json")}
    still = [r for r in results if r["status"] != "linked"]
    if json_output:
        emit_json(out)
    else:
        table = Table(title=f"Retried products ({len(results)})")
        for col in ("SKU", "Status", "F360 id"):
            table.add_column(col)
        for r in results:
            style = "green" if r["status"] == "linked" else "red"
            table.add_row(r["sku"], f"[{style}]{status_column(r['status'], r['error'])}[/]",
                          str(r["f360_product_id"] or "—"))
        console.print(table)
        console.print(f"{len(results) - len(still)} linked, {len(still)} still failing, {len(unknown)} unknown · "
                      f"{out['url']}", highlight=False)
    raise typer.Exit(EXIT_FAILURES if still or unknown else EXIT_OK)


def import_products(
    full: bool = typer.Option(False, "--full", help="Walk the whole TotalGest catalog and set products of deleted "
                                                   "articles to draft (never deletes)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the end and print the report (progress shown meanwhile)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result (handle or report) as JSON."),
) -> None:
    """Run a product import TotalGest → Framework360 now (a worker must be running: `tgflow worker`).

    Without --wait it prints the workflow id and link and returns. With --wait it prints articles read,
    products created, updated, unchanged, set to draft, errors with reasons and the duration; exit code 1
    when some products had errors.
    """
    from tgflow.service.products import start_import
    from tgflow.temporal import workflow_url

    settings = load_settings()

    async def _go() -> Any:
        client = await connect_or_fail(settings)
        handle = await start_import(client, settings, full=full)
        if not wait:
            return {"workflow_id": handle.id, "run_id": handle.result_run_id,
                    "url": workflow_url(settings.temporal, handle.id)}
        if interactive() and not json_output:
            return await _wait_with_progress(client, handle)
        return await handle.result()

    try:
        result = run(_go())
    except typer.Exit as exc:
        raise typer.Exit(exc.exit_code)
    except Exception as exc:
        try:
            fail(f"the product import failed: {_failure_text(exc)}", EXIT_FAILURES)
        except typer.Exit as exit_:
            raise typer.Exit(exit_.exit_code)
    if not wait:
        if json_output:
            emit_json(result)
        else:
            what = ("product import started" if result["workflow_id"].endswith("-manual")
                    else "the scheduled product import is running; attached to it")
            console.print(f"{what}: {result['workflow_id']}\n{result['url']}", highlight=False)
        raise typer.Exit(EXIT_OK)
    report = result.model_dump(mode="json")
    if json_output:
        emit_json(report)
    else:
        _print_report(report)
    raise typer.Exit(EXIT_FAILURES if result.errors else EXIT_OK)


async def _wait_with_progress(client, handle):
    from tgflow.service.products import live_progress

    task = asyncio.ensure_future(handle.result())
    with console.status("importing products…") as spinner:
        while not task.done():
            try:
                p = await live_progress(client, handle)
                if p.get("phase"):
                    spinner.update(f"importing products: {p['phase']} · {p.get('articles_read', 0)} articles read · "
                                   f"{p.get('created', 0)} created · {p.get('updated', 0)} updated · "
                                   f"{p.get('errors', 0)} errors")
            except Exception:
                pass
            await asyncio.wait([task], timeout=1.0)
    return task.result()


def _failure_text(exc: BaseException) -> str:
    cause = exc
    while getattr(cause, "cause", None) is not None or cause.__cause__ is not None:
        cause = getattr(cause, "cause", None) or cause.__cause__
    return str(cause) or type(cause).__name__


def _print_report(r: dict[str, Any]) -> None:
    table = Table(title=f"Product import {'(full) ' if r['full'] else ''}— {r['status']}", show_header=False)
    for label, key in (("articles read", "articles_read"), ("stock rows read", "stock_rows_read"),
                       ("created", "created"), ("updated", "updated"), ("stock updated", "stock_updated"),
                       ("unchanged", "unchanged"), ("set to draft", "drafted"), ("errors", "errors")):
        table.add_row(label, str(r[key]))
    table.add_row("duration", f"{r['duration_seconds']:.1f} s")
    console.print(table)
    for reason in r["error_samples"]:
        err_console.print(f"[red]error[/] {reason}", highlight=False, soft_wrap=True)
    if r["errors"] > len(r["error_samples"]):
        err_console.print(f"… and {r['errors'] - len(r['error_samples'])} more: `tgflow products list --status error`")
