"""`tgflow orders ...` commands."""

import typer

app = typer.Typer(help="orders", no_args_is_help=True)
