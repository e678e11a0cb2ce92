"""`tgflow webhook serve` and `tgflow webhook subscribe`: Framework360 order events into the export queue."""

from __future__ import annotations

import typer

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
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


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8803, help="Port to listen on."),
) -> None:
    """Serve POST /webhooks/framework360 (and GET /healthz) until Ctrl-C.

    Requests whose X-F360-Signature does not match the body get 401 and are not enqueued.
    Example: `tgflow webhook serve --host 0.0.0.0 --port 8803` behind your HTTPS proxy.
    """
    import uvicorn

    from tgflow.webhook import create_app

    settings = load_settings()
    if len(settings.f360.webhook_secret.get_secret_value()) < 16:
        fail("the webhook secret is missing or shorter than 16 characters; set TGFLOW_F360__WEBHOOK_SECRET "
             "(or `tgflow configure`)", EXIT_CONFIG)

    async def _serve() -> None:
        client = await connect_or_fail(settings)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, client), host=host, port=port,
                                               log_level="info"))
        console.print(f"receiving Framework360 webhooks on http://{host}:{port}/webhooks/framework360",
                      highlight=False)
        await server.serve()

    run(_serve())


@app.command()
def subscribe(
    url: str = typer.Argument(..., help="Public URL of the receiver, ending in /webhooks/framework360."),
    json_output: bool = typer.Option(False, "--json", help="Print the subscription as JSON."),
) -> None:
    """Register the receiver with Framework360 for every event it handles (order.completed, order.updated,
    order.cancelled, order.refunded and orders.export_requested, the shop's "Send to TotalGest"), signed with the
    configured webhook secret. Example: `tgflow webhook subscribe https://sync.example.ch/webhooks/framework360`."""
    from tgflow.clients.errors import ApiError
    from tgflow.clients.framework360 import Framework360Client
    from tgflow.webhook import HANDLED_EVENTS

    settings = load_settings()
    secret = settings.f360.webhook_secret.get_secret_value()
    if len(secret) < 16:
        fail("the webhook secret is missing or shorter than 16 characters; set TGFLOW_F360__WEBHOOK_SECRET", EXIT_CONFIG)
    if not url.startswith(("http://", "https://")):
        fail(f"{url!r} is not an http(s) URL", EXIT_CONFIG)

    async def _go() -> str:
        async with Framework360Client(settings.f360) as f360:
            return await f360.subscribe_webhook(url, secret, list(HANDLED_EVENTS))

    try:
        sub_id = run(_go())
    except ApiError as exc:
        fail(f"Framework360 refused the subscription: {exc}", EXIT_CONFIG if not exc.retryable else EXIT_UNAVAILABLE)
    if json_output:
        emit_json({"id": sub_id, "url": url, "events": list(HANDLED_EVENTS)})
    else:
        console.print(f"subscribed {url} (id {sub_id}) to {', '.join(HANDLED_EVENTS)}", highlight=False)
