"""The web console (``tgflow console``): server-rendered pages for the people who run the shop, and the JSON API
under ``/api`` the pages are built on. Everything it shows comes from the same service and store functions as
the CLI (``tgflow status``, ``orders list/show``, ``export-orders``, ``products list/show``, ``schedule ...``).

Nothing is anonymous: pages send to the login form, ``/api`` answers 401 (it also takes HTTP Basic, for
scripts). ``admin`` users act, ``viewer`` users read; a viewer's POST to an action gets 403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tgflow.config import Settings
from tgflow.console.security import LoginThrottle, SecurityHeaders, Sessions, csrf_ok, csrf_token
from tgflow.service import order_rows, product_rows, users
from tgflow.service.jsonable import json_value
from tgflow.store import Store

HERE = Path(__file__).parent
ORDER_STATUSES = ("linked", "not_linked", "pending", "failed")
PRODUCT_STATUSES = ("linked", "not_linked", "pending", "error")
#: How long a page waits for an export's report before showing its progress instead.
REPORT_WAIT_SECONDS = 20.0


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=json_value, ensure_ascii=False).encode()


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


class Problem(Exception):
    """A request that cannot be served: the status code and one line naming what to fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Console:
    """The console's state: settings, status store, a Temporal client connected on first use, the throttle.

    Several shops (``[[shops]]``, none chosen with --shop): ``shops`` lists their ids; lists and the overview
    cover every shop unless ``?shop=ID`` names one, and everything acting on a shop needs it
    (:meth:`scoped`). One shop: ``shops`` is empty and ``?shop=`` is not needed."""

    def __init__(self, settings: Settings, store: Store, secret_key: str | None = None,
                 throttle: LoginThrottle | None = None) -> None:
        self.settings = settings
        self.store = store
        several = settings.multi_shop and len(settings.shop_ids()) > 1
        self.shops: list[str] = settings.shop_ids() if several else []
        #: The shop this console (or scoped copy) acts on: its TotalGest shop id (the store's and the ids' key)
        #: and its id; None with several shops and none chosen.
        self.shop: str | None = None if several else settings.totalgest.shop_id
        self.shop_key: str | None = None if several else settings.shop_key
        self.secret_key = secret_key or secrets.token_urlsafe(32)
        self.throttle = throttle or LoginThrottle()
        self._client: Any = None
        self._lock: asyncio.Lock | None = None
        self.templates = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                                     autoescape=select_autoescape(["html"]))
        self.templates.filters["when"] = _when
        self.templates.globals["ui_url"] = settings.temporal.ui_url
        self.templates.globals["namespace"] = settings.temporal.namespace

    async def client(self) -> Any:
        """The Temporal client, connected on first use (in the server's own event loop)."""
        from tgflow.temporal import connect

        if self._client is not None:
            return self._client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                t = self.settings.temporal
                try:
                    self._client = await asyncio.wait_for(connect(t), timeout=10)
                except Exception:
                    raise Problem(503, f"Temporal does not answer at {t.address}: start it (`tgflow dev`, or the "
                                       "server) or fix TGFLOW_TEMPORAL__ADDRESS") from None
        return self._client

    def scoped(self, request: Request, *, every: bool = False) -> Console | None:
        """This console for the shop of ``?shop=ID``; with several shops and none named: None when ``every``
        (a list or the overview of every shop), else 400 naming the shops."""
        if not self.shops:
            return self
        wanted = request.query_params.get("shop") or None
        if wanted is None:
            if every:
                return None
            raise Problem(400, f"{len(self.shops)} shops are configured ({', '.join(self.shops)}): choose one "
                               "with ?shop=ID")
        if wanted not in self.shops:
            raise Problem(404, f"no shop {wanted!r} is configured; the shops are: {', '.join(self.shops)}")
        view = copy.copy(self)
        view.settings = self.settings.for_shop(wanted)
        view.shop, view.shop_key = view.settings.totalgest.shop_id, wanted
        view.client = self.client  # type: ignore[method-assign]  # one Temporal connection for every shop
        return view

    def views(self) -> list[Settings]:
        """Every shop's settings (several shops)."""
        return [self.settings.for_shop(shop) for shop in self.shops]

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        user = request.state.user if hasattr(request.state, "user") else None
        chosen = request.query_params.get("shop") or None if self.shops else None

        def shop_q(shop: str | None = None, sep: str = "?") -> str:
            """``?shop=ID`` (or ``&shop=ID``) for links acting on a row's shop or the chosen one."""
            shop = shop or chosen
            return f"{sep}shop={quote(shop)}" if self.shops and shop else ""

        html = self.templates.get_template(name).render(
            request=request, user=user, csrf=csrf_token(request.session), shop=self.shop_key or chosen,
            shops=self.shops, chosen_shop=chosen, shop_q=shop_q, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status_code)


# ---- who is asking ----------------------------------------------------------------------------------------------

def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name, password


async def _user(console: Console, request: Request) -> tuple[dict[str, str] | None, str]:
    """The user making the request and how they proved it (``session`` | ``basic``); ``(None, "")``: nobody.
    The role is read again on every request, so removing or demoting a user takes effect at once."""
    name = request.session.get("user")
    if isinstance(name, str) and name:
        role = await run_in_threadpool(users.current_role, console.store, name)
        if role is not None:
            return {"name": name, "role": role}, "session"
        request.session.clear()
    basic = _basic_credentials(request) if request.url.path.startswith("/api") else None
    if basic is not None:
        address = _client_address(request)
        wait = console.throttle.wait_seconds(address)
        if wait:
            raise Problem(429, f"too many failed logins from {address}: try again in {wait} s")
        user = await run_in_threadpool(users.authenticate, console.store, *basic)
        if user is None:
            console.throttle.failed(address)
            raise Problem(401, "wrong user name or password")
        console.throttle.succeeded(address)
        return user, "basic"
    return None, ""


def page(console: Console, *, admin: bool = False) -> Callable[[Callable[..., Awaitable[Response]]], Callable]:
    """A page: logged-in users only (others go to the login form); ``admin``: a POST action, CSRF-checked."""

    def wrap(fn: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                user, _ = await _user(console, request)
                if user is None:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                request.state.user = user
                if request.method == "POST":
                    form = await request.form()
                    if not csrf_ok(request.session, str(form.get("csrf") or "")):
                        raise Problem(403, "refused: this form's security token is missing or out of date; "
                                           "reload the page and try again")
                    if admin and user["role"] != "admin":
                        raise Problem(403, f"refused: {user['name']} is a viewer; only an admin may do this")
                    request.state.form = form
                return await fn(request)
            except Problem as exc:
                return console.render(request, "error.html", exc.status, message=exc.message)

        return endpoint

    return wrap


def api(console: Console, *, admin: bool = False) -> Callable[[Callable[..., Awaitable[Any]]], Callable]:
    """An API route: session (with an ``X-CSRF-Token`` header on POST) or HTTP Basic; 401 otherwise."""

    def wrap(fn: Callable[..., Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                user, how = await _user(console, request)
                if user is None:
                    raise Problem(401, "log in first: a console session, or HTTP Basic with a console user "
                                       "(`tgflow console add-user`)")
                request.state.user = user
                if request.method == "POST":
                    if how == "session" and not csrf_ok(request.session, request.headers.get("x-csrf-token")):
                        raise Problem(403, "refused: the X-CSRF-Token header is missing or out of date")
                    if admin and user["role"] != "admin":
                        raise Problem(403, f"refused: {user['name']} is a viewer; only an admin may do this")
                result = await fn(request)
                return result if isinstance(result, Response) else JSON(result)
            except Problem as exc:
                return JSON({"error": exc.message}, status_code=exc.status)

        return endpoint

    return wrap


# ---- the data, shared by pages and API ---------------------------------------------------------------------------

def _page_number(request: Request) -> int:
    try:
        return max(int(request.query_params.get("page") or 1), 1)
    except ValueError:
        raise Problem(400, "page: give a whole number (1, 2, …)") from None


def _status(request: Request, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get("status") or None
    if value is not None and value not in allowed:
        raise Problem(400, f"status {value!r}: use one of {', '.join(allowed)}")
    return value


async def _orders(console: Console, request: Request) -> dict[str, Any]:
    status, q, number = _status(request, ORDER_STATUSES), request.query_params.get("q"), _page_number(request)
    view = console.scoped(request, every=True)
    if view is None:
        return await run_in_threadpool(order_rows.order_page_across, console.store, console.views(), status=status,
                                       q=q, page=number) | {"shop": None}
    return await run_in_threadpool(order_rows.order_page, console.store, view.shop, status=status, q=q,
                                   page=number) | ({"shop": view.shop_key} if console.shops else {})


async def _order(console: Console, ident: str) -> dict[str, Any]:
    row = await run_in_threadpool(order_rows.order_detail, console.settings, console.store, ident)
    if row is None:
        raise Problem(404, f"order {ident} is not in the status store yet: check the number, or export it")
    return row


async def _products(console: Console, request: Request) -> dict[str, Any]:
    status, q, number = _status(request, PRODUCT_STATUSES), request.query_params.get("q"), _page_number(request)
    view = console.scoped(request, every=True)
    if view is None:
        return await run_in_threadpool(product_rows.product_page_across, console.store, console.views(),
                                       status=status, q=q, page=number) | {"shop": None}
    return await run_in_threadpool(product_rows.product_page, console.store, view.shop, status=status, q=q,
                                   page=number) | ({"shop": view.shop_key} if console.shops else {})


async def _overview(console: Console, request: Request) -> dict[str, Any]:
    """What `tgflow status --json` shows: of the shop of ``?shop=``, or of every shop."""
    from tgflow.service.status import shops_status_report, status_report

    view = console.scoped(request, every=True)
    client = None
    try:
        client = await console.client()
    except Problem:
        pass
    if view is None:
        return await shops_status_report(console.settings, console.store, client)
    return await status_report(view.settings, console.store, client)


async def _product(console: Console, sku: str) -> dict[str, Any]:
    row = await run_in_threadpool(product_rows.find_product, console.settings, console.store, sku)
    if row is None:
        raise Problem(404, f"no product with SKU {sku} is known to the import")
    return row


async def _resolve(console: Console, values: list[str]) -> tuple[list[int], dict[str, str]]:
    from tgflow.service.orders import BULK_MAX, resolve_orders

    if not values:
        raise Problem(400, "no orders given: select one or more orders (order_ids)")
    if len(values) > BULK_MAX:
        raise Problem(400, f"at most {BULK_MAX} orders at once; split the list")
    resolved = await resolve_orders(console.settings, console.store, values)
    return resolved.ids, resolved.unknown


def _order_values(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in raw):
        raise Problem(400, 'order_ids: give a list of Framework360 ids or shop numbers, e.g. {"order_ids": [17]}')
    return [str(v) for v in raw]


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json() if (await request.body()) else {}
    except ValueError:
        raise Problem(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "the request body must be a JSON object")
    return body


def _export_id_ok(console: Console, workflow_id: str) -> bool:
    from tgflow.contracts.ids import is_bulk_export_workflow_id

    return is_bulk_export_workflow_id(console.shop, workflow_id)


async def _export_state(console: Console, workflow_id: str, wait: float) -> dict[str, Any]:
    """A bulk export's report when it has ended (waiting up to ``wait`` s), else its progress so far."""
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError

    if not _export_id_ok(console, workflow_id):
        raise Problem(404, f"{workflow_id} is not an order export of shop {console.shop}")
    client = await console.client()
    handle = client.get_workflow_handle(workflow_id)
    from tgflow.temporal import workflow_url

    url = workflow_url(console.settings.temporal, workflow_id)
    try:
        report = await asyncio.wait_for(handle.result(), timeout=wait) if wait else None
        if report is None:
            desc = await handle.describe()
            if desc.status is not None and desc.status.name == "COMPLETED":
                report = await handle.result()
    except asyncio.TimeoutError:
        report = None
    except WorkflowFailureError as exc:
        return {"done": True, "error": f"the export did not finish: {exc.cause or exc}", "url": url}
    except RPCError:
        raise Problem(404, f"no order export {workflow_id} in Temporal") from None
    if report is not None:
        if hasattr(report, "model_dump"):
            report = report.model_dump(mode="json")
        return {"done": True, "report": report, "url": url, "workflow_id": workflow_id}
    try:
        progress = await handle.query("progress", rpc_timeout=None)
    except Exception:
        progress = None
    return {"done": False, "progress": progress, "url": url, "workflow_id": workflow_id}


# ---- the app ------------------------------------------------------------------------------------------------------

def create_app(settings: Settings, store: Store, *, secret_key: str | None = None,
               throttle: LoginThrottle | None = None) -> Starlette:
    """The console as an ASGI app. ``secret_key`` (default: the ``console.secret`` setting) signs the session
    cookies; without one, a random key: logins last as long as the process."""
    if secret_key is None and settings.console.secret is not None:
        secret_key = settings.console.secret.get_secret_value()
    console = Console(settings, store, secret_key, throttle)

    # -- login --
    async def login_form(request: Request) -> Response:
        return console.render(request, "login.html", next=request.query_params.get("next") or "/", error=None)

    async def login(request: Request) -> Response:
        form = await request.form()
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if not csrf_ok(request.session, str(form.get("csrf") or "")):
            return console.render(request, "login.html", 403, next=target,
                                  error="This form is out of date: reload the page and log in again.")
        address = _client_address(request)
        wait = console.throttle.wait_seconds(address)
        if wait:
            return console.render(request, "login.html", 429, next=target,
                                  error=f"Too many failed logins from your address: try again in {wait} s.")
        user = await run_in_threadpool(users.authenticate, store, str(form.get("name") or ""),
                                       str(form.get("password") or ""))
        if user is None:
            console.throttle.failed(address)
            return console.render(request, "login.html", 401, next=target, error="Wrong user name or password.")
        console.throttle.succeeded(address)
        request.session.clear()  # a new session (and CSRF token) for the logged-in user
        request.session["user"] = user["name"]
        csrf_token(request.session)
        return RedirectResponse(target, status_code=303)

    async def logout(request: Request) -> Response:
        form = await request.form()
        if csrf_ok(request.session, str(form.get("csrf") or "")):
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- pages --
    @page(console)
    async def overview_page(request: Request) -> Response:
        return console.render(request, "overview.html", data=await _overview(console, request))

    @page(console)
    async def orders_page(request: Request) -> Response:
        data = await _orders(console, request)
        return console.render(request, "orders.html", data=data, statuses=ORDER_STATUSES,
                              query=lambda **kw: _query(request, **kw))

    @page(console)
    async def order_page(request: Request) -> Response:
        row = await _order(console.scoped(request), request.path_params["ident"])
        return console.render(request, "order.html", order=row)

    def _on_shop(view: Console) -> str:
        return f"?shop={quote(view.shop_key)}" if console.shops and view.shop_key else ""

    @page(console, admin=True)
    async def export_action(request: Request) -> Response:
        from tgflow.service.orders import start_export

        view = console.scoped(request)
        values = [str(v) for v in request.state.form.getlist("order_ids")]
        ids, unknown = await _resolve(view, values)
        if not ids:
            raise Problem(400, "none of these orders is known: " + "; ".join(unknown.values()))
        handle = await start_export(await console.client(), view.settings, ids)
        return RedirectResponse(f"/orders/exports/{quote(handle.id)}{_on_shop(view)}", status_code=303)

    @page(console, admin=True)
    async def retry_action(request: Request) -> Response:
        view = console.scoped(request)
        ids = await run_in_threadpool(order_rows.failed_order_ids, store, view.shop)
        if not ids:
            return console.render(request, "message.html", title="Retry failed",
                                  message="Nothing to retry: no order failed.")
        handle = await order_rows.start_retry(await console.client(), view.settings, store, ids)
        return RedirectResponse(f"/orders/exports/{quote(handle.id)}{_on_shop(view)}", status_code=303)

    @page(console)
    async def export_page(request: Request) -> Response:
        state = await _export_state(console.scoped(request), request.path_params["workflow_id"], REPORT_WAIT_SECONDS)
        return console.render(request, "report.html", state=state)

    @page(console)
    async def products_page(request: Request) -> Response:
        data = await _products(console, request)
        return console.render(request, "products.html", data=data, statuses=PRODUCT_STATUSES,
                              query=lambda **kw: _query(request, **kw))

    @page(console)
    async def product_page(request: Request) -> Response:
        row = await _product(console.scoped(request), request.path_params["sku"])
        return console.render(request, "product.html", product=row, started=request.query_params.get("started"))

    @page(console, admin=True)
    async def product_retry_action(request: Request) -> Response:
        view = console.scoped(request)
        sku = request.path_params["sku"]
        done = await _retry_products(view, [sku])
        on_shop = f"&shop={quote(view.shop_key)}" if console.shops and view.shop_key else ""
        return RedirectResponse(f"/products/{quote(sku)}?started={quote(done['workflow_id'] or '')}{on_shop}",
                                status_code=303)

    @page(console)
    async def schedules_page(request: Request) -> Response:
        return console.render(request, "schedules.html", schedules=await _schedules(console.scoped(request)))

    @page(console, admin=True)
    async def schedule_action_page(request: Request) -> Response:
        view = console.scoped(request)
        await _schedule_action(view, request.path_params["which"], request.path_params["action"],
                               str(request.state.form.get("note") or "") or None, request.state.user["name"])
        return RedirectResponse(f"/schedules{_on_shop(view)}", status_code=303)

    # -- API --
    @api(console)
    async def api_status(request: Request) -> Any:
        return await _overview(console, request)

    @api(console)
    async def api_orders(request: Request) -> Any:
        return await _orders(console, request)

    @api(console)
    async def api_order(request: Request) -> Any:
        return await _order(console.scoped(request), request.path_params["ident"])

    @api(console, admin=True)
    async def api_export(request: Request) -> Any:
        from tgflow.service.orders import empty_report, export_orders_now

        view = console.scoped(request)
        body = await _json_body(request)
        ids, unknown = await _resolve(view, _order_values(body.get("order_ids")))
        report = await export_orders_now(await console.client(), view.settings, ids) if ids else empty_report()
        return report.model_dump(mode="json") | {"unknown": list(unknown)}

    @api(console, admin=True)
    async def api_retry(request: Request) -> Any:
        view = console.scoped(request)
        body = await _json_body(request)
        if body.get("order_ids") is not None:
            ids, unknown = await _resolve(view, _order_values(body.get("order_ids")))
        else:
            ids, unknown = await run_in_threadpool(order_rows.failed_order_ids, store, view.shop), {}
        if not ids:
            from tgflow.service.orders import empty_report

            return empty_report().model_dump(mode="json") | {"unknown": list(unknown)}
        handle = await order_rows.start_retry(await console.client(), view.settings, store, ids)
        report = await handle.result()
        if hasattr(report, "model_dump"):
            report = report.model_dump(mode="json")
        return report | {"unknown": list(unknown)}

    @api(console)
    async def api_export_state(request: Request) -> Any:
        return await _export_state(console.scoped(request), request.path_params["workflow_id"], 0)

    @api(console)
    async def api_products(request: Request) -> Any:
        return await _products(console, request)

    @api(console)
    async def api_product(request: Request) -> Any:
        return await _product(console.scoped(request), request.path_params["sku"])

    @api(console, admin=True)
    async def api_products_retry(request: Request) -> Any:
        body = await _json_body(request)
        skus = body.get("skus")
        if skus is not None and (not isinstance(skus, list) or not all(isinstance(s, str) for s in skus)):
            raise Problem(400, 'skus: give a list of article codes, e.g. {"skus": ["ART-00042"]}, or none for '
                               "every product in error")
        return await _retry_products(console.scoped(request), skus)

    @api(console)
    async def api_schedules(request: Request) -> Any:
        return await _schedules(console.scoped(request))

    @api(console, admin=True)
    async def api_schedule_action(request: Request) -> Any:
        body = await _json_body(request)
        note = body.get("note")
        return await _schedule_action(console.scoped(request), request.path_params["which"], request.path_params["action"],
                                      note if isinstance(note, str) and note else None, request.state.user["name"])

    async def not_found(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        message = "no such page" if code == 404 else "method not allowed" if code == 405 else "error"
        if request.url.path.startswith("/api"):
            return JSON({"error": message}, status_code=code)
        return console.render(request, "error.html", code, message=message)

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview_page),
        Route("/orders", orders_page),
        Route("/orders/export", export_action, methods=["POST"]),
        Route("/orders/retry", retry_action, methods=["POST"]),
        Route("/orders/exports/{workflow_id}", export_page),
        Route("/orders/{ident}", order_page),
        Route("/products", products_page),
        Route("/products/{sku}/retry", product_retry_action, methods=["POST"]),
        Route("/products/{sku}", product_page),
        Route("/schedules", schedules_page),
        Route("/schedules/{which}/{action}", schedule_action_page, methods=["POST"]),
        Route("/api/status", api_status),
        Route("/api/orders", api_orders),
        Route("/api/orders/export", api_export, methods=["POST"]),
        Route("/api/orders/retry", api_retry, methods=["POST"]),
        Route("/api/orders/exports/{workflow_id}", api_export_state),
        Route("/api/orders/{ident}", api_order),
        Route("/api/products", api_products),
        Route("/api/products/retry", api_products_retry, methods=["POST"]),
        Route("/api/products/{sku}", api_product),
        Route("/api/schedules", api_schedules),
        Route("/api/schedules/{which}/{action}", api_schedule_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.console = console
    app.add_middleware(Sessions, secret_key=console.secret_key)
    app.add_middleware(SecurityHeaders)
    return app


def _query(request: Request, **changes: Any) -> str:
    """The current list's query string with some parameters changed (``None`` removes one)."""
    params = {k: v for k, v in request.query_params.items()}
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


async def _retry_products(console: Console, skus: list[str] | None) -> dict[str, Any]:
    from tgflow.service.products import mark_and_reimport
    from tgflow.temporal import workflow_url

    done = await mark_and_reimport(console.client, console.settings, console.store, skus)
    wid = done.handle.id if done.handle is not None else None
    return {"retried": done.marked, "unknown": done.unknown, "catalog_reread": done.catalog_reread,
            "workflow_id": wid, "url": workflow_url(console.settings.temporal, wid) if wid else None}


async def _schedules(console: Console) -> list[dict[str, Any]]:
    from tgflow.jobs import jobs, minutes
    from tgflow.service.status import schedule_overview

    client = await console.client()
    return [await schedule_overview(client, job.schedule_id)
            | {"which": job.which, "job": job.title, "every": minutes(job.every)} for job in jobs(console.settings)]


async def _schedule_action(console: Console, which: str, action: str, note: str | None, by: str) -> dict[str, Any]:
    from temporalio.service import RPCError, RPCStatusCode

    from tgflow.jobs import jobs
    from tgflow.service.schedules import schedule_action
    from tgflow.service.shop_schedules import disabled_refusal

    job = next((j for j in jobs(console.settings) if j.which == which), None)
    if job is None:
        raise Problem(404, f"no schedule {which!r}: use one of {', '.join(j.which for j in jobs(console.settings))}")
    if action not in ("pause", "unpause", "trigger"):
        raise Problem(404, f"no action {action!r}: use pause, unpause or trigger")
    if action == "unpause" and not console.settings.shop_enabled:
        raise Problem(409, disabled_refusal(console.settings.shop_key))
    if action in ("pause", "unpause"):
        note = f"{note or action + 'd'} (by {by} in the console)"
    try:
        await schedule_action(await console.client(), job.schedule_id, action, note)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Problem(409, f"schedule {job.schedule_id} does not exist yet: "
                               "`tgflow schedule create --which all`") from None
        raise
    return {"schedule_id": job.schedule_id, "action": action, "ok": True}
