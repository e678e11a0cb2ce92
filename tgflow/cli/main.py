"""The ``tgflow`` command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Optional

import typer
from pydantic import ValidationError

from tgflow.cli import alerts, common, db, drift, orders, products, schedule, shipments, shops, sim, status, webhook
from tgflow.cli import console as console_cli
from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    chosen_shop,
    connect_or_fail,
    console,
    emit_json,
    fail,
    load_settings,
    run,
)
from tgflow.config import Settings, config_path, describe_error, save_settings

app = typer.Typer(
    name="tgflow",
    help=(
        "Keep a Framework360 shop and the TotalGest ERP in sync, run by Temporal.\n\n"
        "Start here: `tgflow dev` runs everything locally against simulators. For a real shop: "
        "`tgflow configure`, `tgflow check`, `tgflow setup`, then `tgflow worker` and `tgflow schedule create --which all`."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from tgflow import __version__

        try:
            shown = version("tgflow")
        except PackageNotFoundError:  # run from a source tree that is not installed
            shown = __version__
        console.print(f"tgflow {shown}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                      help="Print tgflow's version and exit."),
    shop: Optional[str] = typer.Option(None, "--shop", envvar="TGFLOW_SHOP", metavar="ID",
                                       help="The shop the command acts on, with several [[shops]] configured "
                                            "(`tgflow shops` lists them); may be left out with one shop."),
) -> None:
    """Keep a Framework360 shop and the TotalGest ERP in sync, run by Temporal."""
    common.selected_shop = shop or None


def configure(
    shop_id: Optional[str] = typer.Option(None, help="TotalGest Shop ID (Winkel ID)."),
    owner_id: Optional[str] = typer.Option(None, help="TotalGest Owner ID (Eigenaar ID)."),
    endpoint: Optional[str] = typer.Option(None, help="TotalGest API endpoint: a host such as tg00.bweb.ch, or a full URL."),
    username: Optional[str] = typer.Option(None, help="TotalGest username."),
    password: Optional[str] = typer.Option(None, help="TotalGest password (asked hidden when omitted)."),
    f360_url: Optional[str] = typer.Option(None, help="Framework360 API root, e.g. https://shop.example.com/api/v1."),
    f360_api_key: Optional[str] = typer.Option(None, help="Framework360 API key (asked hidden when omitted)."),
    webhook_secret: Optional[str] = typer.Option(None, help="Secret for Framework360 webhooks (at least 16 characters)."),
    skip_validation: bool = typer.Option(False, "--skip-validation", help="Save without asking TotalGest and Framework360 first."),
) -> None:
    """Ask for (or take as options) the TotalGest and Framework360 settings, validate them, save them (mode 0600)."""
    # The file named by TGFLOW_CONFIG may be the one being created; the shop id is asked below.
    current = load_settings(require_file=False, require_shop=False, one_shop=False)
    if current.multi_shop:
        fail(f"`tgflow configure` writes the single-shop form, and {config_path()} has [[shops]] tables: edit the "
             "shop's table there, then run `tgflow --shop ID check`", EXIT_CONFIG)

    def ask(value: Optional[str], prompt: str, default: str, hide: bool = False) -> str:
        if value is not None:
            return value
        return typer.prompt(prompt, default=default or None, hide_input=hide, show_default=not hide)

    tg = current.totalgest
    f = current.f360
    values = {
        "totalgest": {
            "shop_id": ask(shop_id, "TotalGest Shop ID", tg.shop_id),
            "owner_id": ask(owner_id, "TotalGest Owner ID", tg.owner_id),
            "endpoint": ask(endpoint, "TotalGest API endpoint (e.g. tg00.bweb.ch)", tg.endpoint),
            "username": ask(username, "TotalGest username", tg.username),
            "password": ask(password, "TotalGest password", tg.password.get_secret_value(), hide=True),
        },
        "f360": {
            "base_url": ask(f360_url, "Framework360 API URL", f.base_url),
            "api_key": ask(f360_api_key, "Framework360 API key", f.api_key.get_secret_value(), hide=True),
            "webhook_secret": ask(webhook_secret, "Framework360 webhook secret", f.webhook_secret.get_secret_value(), hide=True),
        },
    }
    data = current.model_dump()
    for section, fields in values.items():
        data[section].update(fields)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        fail(f"configuration: {describe_error(exc)} (nothing saved)", EXIT_CONFIG)
    secret = settings.f360.webhook_secret.get_secret_value()
    if secret and len(secret) < 16:
        fail("the webhook secret must have at least 16 characters", EXIT_CONFIG)
    if not skip_validation:
        from tgflow.service.check import check_framework360, check_totalgest

        for result in run(_validate(settings, check_totalgest, check_framework360)):
            if not result.ok:
                fail(f"{result.message} (nothing saved)", EXIT_CONFIG)
            console.print(f"[green]ok[/]  {result.message}", highlight=False)
    path = save_settings(settings)
    console.print(f"saved to {path} (readable by you only)", highlight=False)


async def _validate(settings: Settings, *checks):
    return [await check(settings) for check in checks]


def check(json_output: bool = typer.Option(False, "--json", help="Print the results as JSON.")) -> None:
    """Validate the saved configuration: TotalGest login and shop, Framework360 site with E-commerce active,
    Temporal and the status database. Exit code 0 when all are fine. With several shops and no --shop: each
    shop's TotalGest and Framework360, one block per shop (--json: `shops`, a list), then Temporal and the
    database once."""
    from tgflow.service.check import check_all

    everything = load_settings(require_shop=False, one_shop=False)  # a missing shop id is one of the lines below
    if not chosen_shop() and len(everything.shop_ids()) > 1:
        return _check_shops(everything, json_output)
    settings = load_settings(require_shop=False)
    results = run(check_all(settings))
    if json_output:
        emit_json({"ok": all(r.ok for r in results), "checks": [r.as_dict() for r in results]})
    else:
        for r in results:
            mark = "[green]ok[/]   " if r.ok else "[red]FAIL[/] "
            console.print(f"{mark}{r.name:<13}{r.message}", highlight=False, soft_wrap=True)
    if not all(r.ok for r in results):
        codes = {r.name for r in results if not r.ok}
        raise typer.Exit(EXIT_UNAVAILABLE if codes <= {"temporal", "database"} else EXIT_CONFIG)


def _check_shops(settings: Settings, json_output: bool) -> None:
    """`tgflow check` with several shops and no --shop: one block per shop, Temporal and the database once;
    exit 2 when a shop's check fails (a setting to fix), else 3 when Temporal or the database does not answer."""
    from tgflow.service.check import check_shops

    data = run(check_shops(settings))
    if json_output:
        emit_json(data)
    else:
        for shop in data["shops"]:
            tg = f" (TotalGest shop {shop['totalgest_shop_id']})" if shop["totalgest_shop_id"] != shop["shop"] else ""
            console.print(f"[bold]shop {shop['shop']}[/]{tg}{'' if shop['enabled'] else ', disabled'}:",
                          highlight=False)
            for r in shop["checks"]:
                mark = "[green]ok[/]   " if r["ok"] else "[red]FAIL[/] "
                console.print(f"  {mark}{r['name']:<13}{r['message']}", highlight=False, soft_wrap=True)
        console.print("[bold]every shop[/]:", highlight=False)
        for r in data["checks"]:
            mark = "[green]ok[/]   " if r["ok"] else "[red]FAIL[/] "
            console.print(f"  {mark}{r['name']:<13}{r['message']}", highlight=False, soft_wrap=True)
    if any(not shop["ok"] for shop in data["shops"]):
        raise typer.Exit(EXIT_CONFIG)
    if not data["ok"]:
        raise typer.Exit(EXIT_UNAVAILABLE)


def setup() -> None:
    """Bring the status database to the latest schema revision (`tgflow db upgrade`) and register
    tgflow's custom search attributes on the Temporal namespace. Safe to run again; run it after
    every upgrade of tgflow."""
    from tgflow.temporal import register_search_attributes

    settings = load_settings()
    result = db.upgrade_database(settings)
    console.print(db.describe_upgrade(result, db.shown_url(settings)), highlight=False, soft_wrap=True)

    async def _setup() -> list[str]:
        client = await connect_or_fail(settings)
        return await register_search_attributes(client, settings.temporal.namespace)

    added = run(_setup())
    if added:
        console.print(f"registered search attributes: {', '.join(added)}")
    else:
        console.print("search attributes already registered")


def worker(
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
    log_format: str = typer.Option("text", help="text, or json for one JSON object per line."),
) -> None:
    """Run the Temporal worker (all workflows and activities) until SIGINT/SIGTERM: every configured shop,
    each on its own task queue, or only the one chosen with `tgflow --shop ID`."""
    from tgflow.logs import setup_logging
    from tgflow.worker import run_worker

    try:
        setup_logging(log_level, log_format)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    # With [[shops]] and no --shop / TGFLOW_SHOP: every shop, one worker each in this process.
    settings = load_settings(one_shop=bool(chosen_shop()))

    async def _run() -> None:
        runtime = None
        if settings.metrics.port:
            from tgflow.metrics import prometheus_runtime

            runtime = prometheus_runtime(settings.metrics.port, settings.metrics.host)
        client = await connect_or_fail(settings, runtime)
        await run_worker(settings, client=client)

    run(_run())


def dev(
    demo_traffic: bool = typer.Option(True, "--demo-traffic/--no-demo-traffic", help="Complete a new demo order every few seconds."),
    articles: int = typer.Option(300, help="Size of the simulated TotalGest catalog."),
    data_dir: str = typer.Option(".tgflow-dev", help="Where the dev stack keeps its databases and config."),
    temporal_port: int = typer.Option(7233, help="Temporal frontend port."),
    ui_port: int = typer.Option(8233, help="Temporal Web UI port."),
    totalgest_port: int = typer.Option(8801, help="TotalGest simulator port."),
    framework360_port: int = typer.Option(8802, help="Framework360 simulator port."),
    webhook_port: int = typer.Option(8803, help="Webhook receiver port."),
    metrics_port: int = typer.Option(9464, help="Prometheus metrics of the worker on http://127.0.0.1:PORT/metrics."),
    console_port: int = typer.Option(8800, help="The web console (`tgflow console`) on http://127.0.0.1:PORT."),
    exit_after: Optional[float] = typer.Option(None, help="Stop by itself after this many seconds (smoke tests).", hidden=True),
    keep: bool = typer.Option(False, "--keep", help=(
        "Continue the last run: keep the status database, Temporal's database and the simulators' data in "
        "--data-dir. Without it every start is fresh (the last run's data there is removed), so the "
        "simulators, Temporal and the status database always agree.")),
) -> None:
    """Run the whole stack locally: Temporal dev server with Web UI, both simulators, the webhook
    receiver and a worker, wired together. Starts fresh unless --keep. Ctrl-C (or SIGTERM, SIGHUP)
    stops everything, the Temporal dev server included."""
    from tgflow.dev import DevOptions, run_dev

    run_dev(DevOptions(
        demo_traffic=demo_traffic, articles=articles, data_dir=data_dir, temporal_port=temporal_port,
        ui_port=ui_port, totalgest_port=totalgest_port, framework360_port=framework360_port,
        webhook_port=webhook_port, metrics_port=metrics_port, console_port=console_port, exit_after=exit_after, keep=keep,
    ))


def show_config_path() -> None:
    """Print where the configuration file is read from (TGFLOW_CONFIG or ./tgflow.toml)."""
    console.print(str(config_path()))


# ---- attaching the commands: the one way ---------------------------------------------------------------------------
#: Top-level commands, in the order `tgflow --help` lists them: (name, function, hidden). Each cli module
#: exposes plain functions; none registers itself.
COMMANDS: list[tuple[str, Callable[..., None], bool]] = [
    ("configure", configure, False),
    ("check", check, False),
    ("setup", setup, False),
    ("worker", worker, False),
    ("dev", dev, False),
    ("status", status.status, False),
    ("export-orders", orders.export_orders, False),
    ("enqueue-order", orders.enqueue_order, False),
    ("import-products", products.import_products, False),
    ("import-shipments", shipments.import_shipments, False),
    ("drift-report", drift.drift_report, False),
    ("reconcile", drift.drift_report, True),  # the drift report's former name, kept working
    ("config-path", show_config_path, False),
    ("shops", shops.shops, False),
]
#: Command groups (`tgflow <group> ...`): each cli module's ``app: typer.Typer``.
GROUPS: list[tuple[str, typer.Typer]] = [
    ("orders", orders.app),
    ("products", products.app),
    ("schedule", schedule.app),
    ("alerts", alerts.app),
    ("webhook", webhook.app),
    ("sim", sim.app),
    ("db", db.app),
    ("console", console_cli.app),
]


def attach(root: typer.Typer) -> None:
    """Attach every command and group to ``root`` (the only place commands are attached)."""
    for name, function, hidden in COMMANDS:
        root.command(name, hidden=hidden)(function)
    for name, group in GROUPS:
        root.add_typer(group, name=name)


attach(app)


def flags_as_flags(command) -> None:
    """Show on/off options as bare flags in ``--help`` (``--json``), not as ``--json <bool>``: this Typer
    writes the value type of every option, flags and its own ``--help`` included, unless it has a metavar."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    original = command.get_help_option

    def get_help_option(ctx):
        option = original(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        flags_as_flags(sub)


def cli() -> None:
    """The ``tgflow`` command, its flags shown as flags."""
    command = typer.main.get_command(app)
    flags_as_flags(command)
    command(prog_name="tgflow")


def main() -> None:
    """Console entry point. Ends without interpreter teardown: once Temporal's native client
    has run, its threads can abort a finishing interpreter (temporalio/sdk-python#300) and
    turn a success into SIGABRT, which scripts would read as a failure."""
    try:
        cli()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
