"""`tgflow schedule ...` commands."""

import typer

app = typer.Typer(help="schedule", no_args_is_help=True)
