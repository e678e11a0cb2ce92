"""Validate a configuration against the real systems; each problem is one line naming what to fix."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from tgflow.clients.errors import (
    ApiError,
    AuthError,
    ConflictError,
    NotFoundError,
    TransientError,
)
from tgflow.clients.framework360 import Framework360Client
from tgflow.clients.totalgest import TotalGestClient
from tgflow.config import Settings


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


async def check_totalgest(settings: Settings) -> CheckResult:
    tg, n = settings.totalgest, settings.setting_name
    missing = [n for n in settings.missing_fields() if n.startswith("TGFLOW_TOTALGEST")]
    if missing:
        return CheckResult("totalgest", False, f"TotalGest settings missing: {', '.join(missing)} (run `tgflow configure`)")
    try:
        async with TotalGestClient(tg, timeout=min(tg.timeout_seconds, 15.0)) as client:
            await client.login()
            shop = await client.get_shop()
    except TransientError as exc:
        return CheckResult("totalgest", False,
                           f"TotalGest endpoint {tg.base_url} is unreachable or failing ({exc.code or exc.status}): "
                           f"check {n('totalgest.endpoint')} or try again later")
    except AuthError as exc:
        if exc.code == "invalid_credentials":
            return CheckResult("totalgest", False,
                               "TotalGest refused the login: check the username, password and owner id "
                               f"({n('totalgest.username')}, {n('totalgest.password')}, {n('totalgest.owner_id')})")
        if exc.code == "forbidden":
            return CheckResult("totalgest", False,
                               f"this TotalGest user may not access shop '{tg.shop_id}': check {n('totalgest.shop_id')}")
        return CheckResult("totalgest", False,
                           f"TotalGest at {tg.base_url} rejected the login ({exc.code or exc.status}): "
                           f"check {n('totalgest.endpoint')} and credentials")
    except NotFoundError as exc:
        if exc.code == "unknown_shop":
            return CheckResult("totalgest", False,
                               f"TotalGest knows no shop with id '{tg.shop_id}': check {n('totalgest.shop_id')}")
        return CheckResult("totalgest", False,
                           f"{tg.base_url} does not look like a TotalGest API (login answered 404): check {n('totalgest.endpoint')}")
    except ApiError as exc:
        return CheckResult("totalgest", False,
                           f"{tg.base_url} does not look like a TotalGest API ({exc.code or exc.status}): check {n('totalgest.endpoint')}")
    return CheckResult("totalgest", True, f"TotalGest shop '{shop.name}' (id {shop.id}, {shop.currency}) at {tg.base_url}")


async def check_framework360(settings: Settings) -> CheckResult:
    f, n = settings.f360, settings.setting_name
    missing = [n for n in settings.missing_fields() if n.startswith("TGFLOW_F360")]
    if missing:
        return CheckResult("framework360", False, f"Framework360 settings missing: {', '.join(missing)} (run `tgflow configure`)")
    try:
        async with Framework360Client(f, timeout=min(f.timeout_seconds, 15.0)) as client:
            site = await client.get_site()
    except TransientError as exc:
        return CheckResult("framework360", False,
                           f"Framework360 at {f.base_url} is unreachable or failing ({exc.code or exc.status}): check {n('f360.base_url')}")
    except AuthError:
        return CheckResult("framework360", False, f"Framework360 refused the API key: check {n('f360.api_key')}")
    except ConflictError:
        return CheckResult("framework360", False,
                           "the E-commerce module is not active on the Framework360 site: activate it in the site's admin")
    except ApiError as exc:
        return CheckResult("framework360", False,
                           f"{f.base_url} does not look like a Framework360 API ({exc.code or exc.status}): check {n('f360.base_url')}")
    if not site.ecommerce_active:
        return CheckResult("framework360", False,
                           f"the E-commerce module is not active on Framework360 site '{site.name}': activate it in the site's admin")
    if not f.webhook_secret.get_secret_value():
        return CheckResult("framework360", True,
                           f"Framework360 site '{site.name}' at {f.base_url}, E-commerce active "
                           "(no webhook secret: orders arrive through the order reconciliation only)")
    return CheckResult("framework360", True, f"Framework360 site '{site.name}' at {f.base_url}, E-commerce active")


async def check_temporal(settings: Settings) -> CheckResult:
    from tgflow.temporal import connect

    t = settings.temporal
    try:
        client = await asyncio.wait_for(connect(t), timeout=10)
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=10))
    except Exception as exc:
        return CheckResult("temporal", False,
                           f"Temporal at {t.address} (namespace {t.namespace}) is not reachable ({type(exc).__name__}): "
                           "check TGFLOW_TEMPORAL__ADDRESS / TGFLOW_TEMPORAL__NAMESPACE")
    return CheckResult("temporal", True, f"Temporal at {t.address}, namespace {t.namespace}, task queue {t.task_queue}")


def check_database(settings: Settings) -> CheckResult:
    from sqlalchemy.engine import make_url

    from tgflow.store import Store

    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        store = Store(settings.database_url)
        store.ping()
        store.close()
    except Exception as exc:
        return CheckResult("database", False,
                           f"status database {shown} is not usable ({type(exc).__name__}): check TGFLOW_DATABASE_URL")
    return CheckResult("database", True, f"status database {shown}")


async def check_all(settings: Settings, *, services: bool = True) -> list[CheckResult]:
    results = [await check_totalgest(settings), await check_framework360(settings)]
    if services:
        results += [await check_temporal(settings), check_database(settings)]
    return results


async def check_shops(settings: Settings) -> dict[str, Any]:
    """`tgflow check --json` with several shops: ``shops``, each shop's TotalGest and Framework360 checks (in the
    file's order, checked side by side), and ``checks``, Temporal and the status database (shared, once)."""
    async def one(shop_id: str) -> list[CheckResult]:
        return await check_all(settings.for_shop(shop_id), services=False)

    shops = settings.shops()
    per_shop, temporal = await asyncio.gather(asyncio.gather(*(one(shop.id) for shop in shops)),
                                              check_temporal(settings))
    shared = [temporal, check_database(settings)]
    rows = [{"shop": shop.id, "totalgest_shop_id": shop.totalgest.shop_id, "enabled": shop.enabled,
             "ok": all(r.ok for r in results), "checks": [r.as_dict() for r in results]}
            for shop, results in zip(shops, per_shop)]
    return {"ok": all(row["ok"] for row in rows) and all(r.ok for r in shared), "shops": rows,
            "checks": [r.as_dict() for r in shared]}
