"""The web console: ``tgflow console`` (see :func:`tgflow.console.app.create_app`)."""

from tgflow.console.app import create_app

__all__ = ["create_app"]
