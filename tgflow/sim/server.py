"""Run an ASGI app on a loopback port in a background thread (tests, ``tgflow dev``)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerThread:
    """A real uvicorn server in a daemon thread; ``with ServerThread(app) as srv: srv.url``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None, *,
                 tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve HTTPS instead of HTTP."""
        self.host = host
        self.port = port or free_port(host)
        self._scheme = "https" if tls else "http"
        certfile, keyfile = tls or (None, None)
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on",
                           ssl_certfile=certfile, ssl_keyfile=keyfile)
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=f"asgi:{self.port}")

    @property
    def url(self) -> str:
        return f"{self._scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
