"""`tgflow webhook serve` and `tgflow webhook subscribe`: Framework360 order events into the export queue."""

from __future__ import annotations

import typer

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    EXIT_UNAVAILABLE,
    chosen_shop,
    connect_or_fail,
    console,
    emit_json,
    fail,
    load_settings,
    run,
)

app = typer.Typer(
    help=(
        "The Framework360 webhook receiver: `order.completed` events (signed with the webhook secret) go to the "
        "export queue at once; `order.cancelled` and `order.refunded` cancel the order or credit the refund in "
        "TotalGest; `orders.export_requested` (the shop's \"Send to TotalGest\") exports the selected orders and "
        "answers with a notification. Run it with `tgflow webhook serve`, register it with "
        "`tgflow webhook subscribe URL`. Lost webhooks are caught by the order reconciliation schedule."
    ),
    no_args_is_help=True,
)


def _shops(settings) -> list[str]:
    """The shops a receiver or a subscription covers: the one chosen by ``--shop`` / ``TGFLOW_SHOP``, else all."""
    from tgflow.config import ConfigError

    shop = chosen_shop()
    if shop is None:
        return settings.shop_ids()
    try:
        settings.shop(shop)
    except ConfigError as exc:
        fail(f"configuration: {exc}", EXIT_CONFIG)
    return [shop]


def _secret_or_fail(settings, shop_id: str) -> str:
    view = settings.for_shop(shop_id)
    secret = view.f360.webhook_secret.get_secret_value()
    if len(secret) < 16:
        where = f"shops[{shop_id}].f360.webhook_secret" if settings.multi_shop else "TGFLOW_F360__WEBHOOK_SECRET"
        fail(f"the webhook secret of shop {shop_id} is missing or shorter than 16 characters; set {where} "
             "(or `tgflow configure`)", EXIT_CONFIG)
    return secret


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8803, help="Port to listen on."),
) -> None:
    """Serve POST /webhooks/framework360/<shop id>, POST /webhooks/framework360 (and GET /healthz) until Ctrl-C.

    With several shops and no --shop, one receiver serves every shop: /webhooks/framework360/<shop id> is that
    shop's, and an event posted to /webhooks/framework360 goes to the shop whose Framework360 site id is its
    `site_id`. Requests whose X-F360-Signature does not match the body (with that shop's webhook secret) get 401
    and are not enqueued; an event for no configured shop gets 404; a disabled shop's events are accepted and
    ignored. Example: `tgflow webhook serve --host 0.0.0.0 --port 8803` behind your HTTPS proxy.
    """
    import uvicorn

    from tgflow.webhook import create_app

    settings = load_settings(one_shop=False)
    shops = _shops(settings)
    for shop_id in shops:
        _secret_or_fail(settings, shop_id)
    one = chosen_shop()

    async def _serve() -> None:
        client = await connect_or_fail(settings)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, client, shop=one), host=host, port=port,
                                               log_level="info"))
        root = f"http://{host}:{port}/webhooks/framework360"
        if len(shops) == 1:
            console.print(f"receiving Framework360 webhooks of shop {shops[0]} on {root} (and {root}/{shops[0]})",
                          highlight=False)
        else:
            console.print(f"receiving Framework360 webhooks of {len(shops)} shops on {root}/<shop id> "
                          f"({', '.join(shops)}) and on {root} by the event's site_id", highlight=False)
        await server.serve()

    run(_serve())


@app.command()
def subscribe(
    url: str = typer.Argument(..., help="Public URL of the receiver, ending in /webhooks/framework360 (with several "
                                        "shops, each shop is subscribed to URL/<shop id>)."),
    json_output: bool = typer.Option(False, "--json", help="Print the subscription(s) as JSON."),
) -> None:
    """Register the receiver with Framework360 for every event it handles (order.completed, order.updated,
    order.cancelled, order.refunded and orders.export_requested, the shop's "Send to TotalGest"), signed with the
    configured webhook secret. With several shops and no --shop, each shop's site is subscribed to its own
    URL/<shop id>, signed with its own secret, and each shop is reported. A URL without a path gets
    /webhooks/framework360. Example: `tgflow webhook subscribe https://sync.example.ch/webhooks/framework360`."""
    from urllib.parse import urlsplit

    from tgflow.clients.errors import ApiError
    from tgflow.clients.framework360 import Framework360Client
    from tgflow.webhook import HANDLED_EVENTS

    settings = load_settings(one_shop=False)
    shops = _shops(settings)
    secrets = {shop_id: _secret_or_fail(settings, shop_id) for shop_id in shops}
    if not url.startswith(("http://", "https://")):
        fail(f"{url!r} is not an http(s) URL", EXIT_CONFIG)
    events = list(HANDLED_EVENTS)

    async def _one(shop_id: str, target: str) -> str:
        async with Framework360Client(settings.for_shop(shop_id).f360) as f360:
            return await f360.subscribe_webhook(target, secrets[shop_id], events)

    if len(shops) == 1:  # one shop: the URL as given, as before (its root path is that shop's)
        try:
            sub_id = run(_one(shops[0], url))
        except ApiError as exc:
            fail(f"Framework360 refused the subscription: {exc}", EXIT_CONFIG if not exc.retryable else EXIT_UNAVAILABLE)
        if json_output:
            emit_json({"id": sub_id, "url": url, "events": events})
        else:
            console.print(f"subscribed {url} (id {sub_id}) to {', '.join(events)}", highlight=False)
        return

    root = url.rstrip("/")
    if urlsplit(root).path in ("", "/"):
        root += "/webhooks/framework360"

    async def _all() -> list[dict]:
        rows = []
        for shop_id in shops:
            target = f"{root}/{shop_id}"
            row: dict = {"shop": shop_id, "url": target}
            try:
                row |= {"ok": True, "id": await _one(shop_id, target), "events": events}
            except ApiError as exc:
                row |= {"ok": False, "error": str(exc), "retryable": exc.retryable}
            except Exception as exc:  # a shop's Framework360 not answering must not stop the other shops
                row |= {"ok": False, "error": f"{type(exc).__name__}: {exc}", "retryable": True}
            rows.append(row)
        return rows

    rows = run(_all())
    failed = [r for r in rows if not r["ok"]]
    if json_output:
        emit_json({"shops": rows, "events": events, "failed": len(failed)})
    else:
        for r in rows:
            if r["ok"]:
                console.print(f"shop {r['shop']}: subscribed {r['url']} (id {r['id']})", highlight=False)
            else:
                console.print(f"shop {r['shop']}: FAILED {r['url']}: {r['error']}", highlight=False)
        console.print(f"{len(rows) - len(failed)} of {len(rows)} shops subscribed to {', '.join(events)}",
                      highlight=False)
    if failed:
        raise typer.Exit(EXIT_UNAVAILABLE if len(failed) == len(rows) and all(r["retryable"] for r in failed)
                         else EXIT_FAILURES)
