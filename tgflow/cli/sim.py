"""`tgflow sim ...`: run a simulator on its own (for demos and manual testing)."""

from __future__ import annotations

import typer
import uvicorn

app = typer.Typer(help="Run the TotalGest or Framework360 simulator as an HTTP server.", no_args_is_help=True)


@app.command()
def totalgest(
    port: int = typer.Option(8801, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    articles: int = typer.Option(300, help="Catalog size (50,000 and more work)."),
    seed: int = typer.Option(1, help="Seed of the generated data."),
) -> None:
    """TotalGest API at http://HOST:PORT/api/v1 (demo login: shop 1001, owner 42, demo / demo-password); admin at /_admin."""
    from tgflow.sim.totalgest import TotalGestSim, create_app

    uvicorn.run(create_app(TotalGestSim(articles=articles, seed=seed)), host=host, port=port, log_level="warning")


@app.command()
def framework360(
    port: int = typer.Option(8802, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    orders: int = typer.Option(20, help="Number of seeded orders."),
    seed: int = typer.Option(1, help="Seed of the generated data."),
) -> None:
    """Framework360 API at http://HOST:PORT/api/v1 (demo API key f360-demo-api-key); admin at /_admin."""
    from tgflow.sim.framework360 import Framework360Sim, create_app

    uvicorn.run(create_app(Framework360Sim(orders=orders, seed=seed)), host=host, port=port, log_level="warning")
