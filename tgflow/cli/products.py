"""`tgflow products ...` commands."""

import typer

app = typer.Typer(help="products", no_args_is_help=True)
