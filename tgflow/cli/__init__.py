"""The ``tgflow`` command line (Typer + Rich)."""
