"""`tgflow webhook ...` commands."""

import typer

app = typer.Typer(help="webhook", no_args_is_help=True)
