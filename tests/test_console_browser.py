"""The console in a real browser (issue 14 A): Playwright driving the system Chromium (Debian's `chromium`,
which `scripts/test.sh` installs where it can) against a real console server, worker, Temporal dev server and
the simulators. Each page is screenshotted into the test's temporary folder."""

from __future__ import annotations

import shutil

import pytest

from tests.console_util import ADMIN, VIEWER, add_article, running_console, tg_refs
from tgflow.service.orders import export_orders_now
from tgflow.service.products import start_import
from tgflow.store import orders as ostore

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no system Chromium: install Debian's `chromium` package (scripts/test.sh does it where it can)")


async def _log_in(browser, url: str, user: tuple[str, str], shots, name: str):
    context = await browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto("/orders")
    assert page.url.startswith(url + "/login")
    await page.screenshot(path=shots / f"{name}-login.png")
    await page.fill("input[name=name]", user[0])
    await page.fill("input[name=password]", user[1])
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/orders")
    return context, page


async def test_an_operator_sends_failed_orders_to_totalgest_and_a_viewer_cannot(settings, store, worker, client, tg_sim,
                                                                                f360_sim, tmp_path):
    from playwright.async_api import async_playwright

    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0
    shop = settings.totalgest.shop_id
    sim = f360_sim.sim
    good = sim.create_order()
    fixable = [sim.create_order(problem="unknown_sku") for _ in range(2)]
    stuck = sim.create_order(problem="bad_payment")
    first = await export_orders_now(client, settings, [good["id"], *[o["id"] for o in fixable], stuck["id"]])
    assert (first.succeeded, first.failed) == (1, 3)
    add_article(tg_sim.sim, "NOPE-404")  # the cause of the two fixable failures, fixed in TotalGest
    report = await start_import(client, settings, wait=True)  # products for the products pages
    assert report.status == "completed", report
    sku = "ART-00007"
    shots = tmp_path

    with running_console(settings, store) as console:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context, page = await _log_in(browser, console.url, ADMIN, shots, "admin")
                await page.screenshot(path=shots / "orders.png", full_page=True)

                # Filter failed orders: exactly the three failures, each with its reason.
                await page.select_option("select[name=status]", "failed")
                await page.click("form.filters button[type=submit]")
                await page.wait_for_url("**/orders?status=failed*")
                rows = page.locator("table.list tbody tr")
                assert await rows.count() == 3
                assert "Failed:" in await rows.first.locator("td.status").inner_text()
                await page.screenshot(path=shots / "orders-failed.png", full_page=True)

                # Select two, Send to TotalGest, read the report.
                for order in fixable:
                    await page.check(f"input[name=order_ids][value='{order['id']}']")
                await page.click("button:has-text('Send to TotalGest')")
                await page.wait_for_url("**/orders/exports/order-bulk-export-*")
                summary = await page.locator(".summary").inner_text()
                assert "2 exported" in summary and "0 failed" in summary and "(of 2)" in summary
                linked = await page.locator("table.report-linked").inner_text()
                assert all(o["number"] in linked for o in fixable)
                await page.screenshot(path=shots / "report.png", full_page=True)
                refs = tg_refs(tg_sim)
                assert all(refs[o["number"]] == 1 for o in fixable) and refs[stuck["number"]] == 0
                assert all(sim.order(o["id"])["integrations"]["totalgest"]["status"] == "linked" for o in fixable)

                # The order page: each attempt, its reason, the link to its workflow in the Web UI.
                await page.click(f"table.report-linked a:has-text('{fixable[0]['number']}')")
                await page.wait_for_url(f"**/orders/{fixable[0]['number']}")
                attempts = await page.locator("table.list").first.inner_text()
                assert "failed" in attempts and "NOPE-404" in attempts and "linked" in attempts
                assert await page.locator("a[href*='/namespaces/default/workflows/']").count() >= 1
                await page.screenshot(path=shots / "order.png", full_page=True)

                # "Select all" (the console's one script file) ticks every box of the page.
                await page.goto("/orders")
                await page.check("#select-all")
                assert await page.locator("input[name=order_ids]:checked").count() == 4

                # A form POST without its CSRF token is refused, and nothing is exported.
                refused = await context.request.post("/orders/export", form={"order_ids": str(stuck["id"])})
                assert refused.status == 403 and "security token" in await refused.text()
                assert ostore.find_link(store, shop, stuck["number"]).attempts == 1

                for path, name in (("/", "overview"), ("/products", "products"), (f"/products/{sku}", "product"),
                                   ("/schedules", "schedules")):
                    await page.goto(path)
                    assert await page.locator("h1").first.is_visible()
                    await page.screenshot(path=shots / f"{name}.png", full_page=True)
                    if name == "product":  # the product page: its status column and, for an admin, retry
                        body = await page.locator("body").inner_text()
                        assert sku in body and "Linked" in body, body[:500]
                        assert await page.locator("form[action$='/retry'] button").count() == 1
                await context.close()

                # A viewer sees no action buttons, and a forged POST (with a valid token) gets 403.
                context, page = await _log_in(browser, console.url, VIEWER, shots, "viewer")
                await page.screenshot(path=shots / "viewer-orders.png", full_page=True)
                assert await page.locator("button:has-text('Send to TotalGest')").count() == 0
                assert await page.locator("button:has-text('Retry failed')").count() == 0
                assert await page.locator("input[name=order_ids]").count() == 0
                await page.goto(f"/orders/{stuck['number']}")
                assert await page.locator("button:has-text('Retry')").count() == 0
                token = await page.locator("input[name=csrf]").first.get_attribute("value")
                forged = await context.request.post("/orders/export",
                                                    form={"order_ids": str(stuck["id"]), "csrf": token})
                assert forged.status == 403 and "viewer" in await forged.text()
                assert ostore.find_link(store, shop, stuck["number"]).attempts == 1
                assert tg_refs(tg_sim)[stuck["number"]] == 0
                await context.close()
            finally:
                await browser.close()
    for name in ("orders", "orders-failed", "report", "order", "overview", "products", "schedules", "viewer-orders"):
        assert (shots / f"{name}.png").stat().st_size > 5000, name
