"""The web console on a loopback port for tests: a real uvicorn server in a thread, an admin and a viewer."""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import httpx

from tgflow.console import create_app
from tgflow.console.security import LoginThrottle
from tgflow.service.users import add_user
from tgflow.sim.server import ServerThread

ADMIN = ("anna", "anna-secret-1")
VIEWER = ("vic", "vic-secret-12")


@dataclass
class ConsoleServer:
    url: str
    throttle: LoginThrottle


@contextmanager
def running_console(settings, store) -> Iterator[ConsoleServer]:
    add_user(store, *ADMIN[:1], "admin", ADMIN[1])
    add_user(store, *VIEWER[:1], "viewer", VIEWER[1])
    throttle = LoginThrottle()
    with ServerThread(create_app(settings, store, throttle=throttle)) as server:
        yield ConsoleServer(server.url, throttle)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def login(http: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await http.get("/login")
    return await http.post("/login", data={"csrf": csrf_of(form.text), "name": name, "password": password,
                                           "next": "/orders"})


def tg_refs(tg_sim) -> Counter:
    """How many TotalGest orders carry each shop number (exactly once is the rule)."""
    return Counter(o["external_ref"] for o in tg_sim.sim.orders())


def add_article(tg, code: str) -> None:
    """The cause of an `unknown SKU` failure, fixed in TotalGest: an article with that code."""
    article = dict(tg.article("ART-00001"))
    article.pop("id", None)
    tg.upsert_article(article | {"code": code, "name": f"Article {code}"})
