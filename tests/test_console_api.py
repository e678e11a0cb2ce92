"""The console's JSON API and its rules (issue 14 A), over HTTP against a real server on loopback, the real
Temporal dev server, the simulators and a real SQLite status store. Every check reads what TotalGest,
Framework360 or the status store hold afterwards."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.console_util import ADMIN, VIEWER, add_article, csrf_of, login, running_console, tg_refs
from tests.test_metrics import cli_env
from tgflow.store import orders as ostore
from tgflow.store import products as pstore
from tgflow.store import users as ustore

SECURITY = {"x-frame-options": "DENY"}


def fast(settings) -> None:
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0


@pytest.fixture
def console(settings, store):
    with running_console(settings, store) as server:
        yield server


async def test_nothing_is_anonymous_and_every_answer_carries_the_security_headers(console):
    async with httpx.AsyncClient(base_url=console.url) as http:
        for path in ("/", "/orders", "/orders/17", "/products", "/schedules"):
            r = await http.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        for path in ("/api/status", "/api/orders", "/api/orders/17", "/api/products", "/api/schedules"):
            r = await http.get(path)
            assert r.status_code == 401, path
            assert "log in" in r.json()["error"]
        r = await http.post("/api/orders/export", json={"order_ids": [1]})
        assert r.status_code == 401
        for path in ("/login", "/api/orders", "/static/console.css", "/nope"):
            r = await http.get(path)
            assert r.headers["x-frame-options"] == "DENY", path
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        page = (await http.get("/login")).text
        assert "<script>" not in page and "<script " not in page.replace('<script src="/static/', "")


async def test_send_to_totalgest_through_the_api_then_fix_and_retry(console, settings, worker, tg_sim, f360_sim, store):
    fast(settings)
    sim = f360_sim.sim
    good = [sim.create_order() for _ in range(2)]
    bad = sim.create_order(problem="unknown_sku")
    async with httpx.AsyncClient(base_url=console.url, auth=ADMIN, timeout=120) as http:
        # Ids and shop numbers in any mix, like `tgflow export-orders --json`; an unknown number is reported.
        r = await http.post("/api/orders/export",
                            json={"order_ids": [good[0]["id"], good[1]["number"], str(bad["id"]), "F360-NOPE"]})
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["total"], report["succeeded"], report["failed"]) == (3, 2, 1)
        assert report["unknown"] == ["F360-NOPE"]
        assert report["failures"][0]["number"] == bad["number"] and "NOPE-404" in report["failures"][0]["reason"]
        refs = tg_refs(tg_sim)
        assert all(refs[o["number"]] == 1 for o in good) and refs[bad["number"]] == 0

        # The list, filtered in the database: the failed order with its reason in the status column.
        failed = (await http.get("/api/orders", params={"status": "failed"})).json()
        assert [o["number"] for o in failed["orders"]] == [bad["number"]] and failed["total"] == 1
        assert failed["orders"][0]["column"].startswith("Failed: ") and "NOPE-404" in failed["orders"][0]["column"]
        found = (await http.get("/api/orders", params={"q": good[1]["number"]})).json()
        assert [o["order_id"] for o in found["orders"]] == [good[1]["id"]]
        assert found["orders"][0]["column"].startswith("Linked ")
        one = (await http.get(f"/api/orders/{bad['number']}")).json()
        assert one["attempt_history"][-1]["outcome"] == "failed" and "NOPE-404" in one["attempt_history"][-1]["message"]
        assert one["url"].endswith(f"/workflows/{one['workflow_id']}")
        assert (await http.get("/api/orders/F360-NOPE")).status_code == 404

        # Fixed in TotalGest: "Retry failed" re-drives it; it is exported once, the others are not touched.
        add_article(tg_sim.sim, "NOPE-404")
        r = await http.post("/api/orders/retry", json={})
        assert r.status_code == 200, r.text
        assert (r.json()["succeeded"], r.json()["failed"]) == (1, 0)
        refs = tg_refs(tg_sim)
        assert refs[bad["number"]] == 1 and all(refs[o["number"]] == 1 for o in good)
        assert sim.order(bad["id"])["integrations"]["totalgest"]["status"] == "linked"
        assert ostore.find_link(store, settings.totalgest.shop_id, bad["number"]).status == "linked"


async def test_a_viewer_reads_but_an_action_gets_403_and_changes_nothing(console, settings, worker, tg_sim, f360_sim,
                                                                         store):
    order = f360_sim.sim.create_order()
    async with httpx.AsyncClient(base_url=console.url, auth=VIEWER, timeout=60) as http:
        assert (await http.get("/api/orders")).status_code == 200
        r = await http.post("/api/orders/export", json={"order_ids": [order["id"]]})
        assert r.status_code == 403 and "viewer" in r.json()["error"]
        assert (await http.post("/api/orders/retry", json={})).status_code == 403
        assert (await http.post("/api/schedules/import/pause", json={"note": "x"})).status_code == 403
        assert (await http.post("/api/products/retry", json={})).status_code == 403
    assert tg_refs(tg_sim)[order["number"]] == 0
    assert ostore.find_link(store, settings.totalgest.shop_id, str(order["id"])) is None


async def test_a_session_needs_the_csrf_token_on_every_post(console, settings, tg_sim, f360_sim, store):
    order = f360_sim.sim.create_order()
    async with httpx.AsyncClient(base_url=console.url, timeout=60) as http:
        r = await login(http, *ADMIN)
        assert r.status_code == 303, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain HTTP here
        page = await http.get("/orders")
        assert page.status_code == 200 and "Send to TotalGest" in page.text
        # A form POST without the token (or with another session's) is refused, and nothing is exported.
        r = await http.post("/orders/export", data={"order_ids": str(order["id"])})
        assert r.status_code == 403 and "security token" in r.text
        r = await http.post("/orders/export", data={"order_ids": str(order["id"]), "csrf": "forged"})
        assert r.status_code == 403
        # The API with a session cookie wants the token in X-CSRF-Token.
        r = await http.post("/api/orders/export", json={"order_ids": [order["id"]]})
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
        r = await http.post("/api/orders/export", json={"order_ids": [999999]},
                            headers={"X-CSRF-Token": csrf_of(page.text)})
        assert r.status_code == 200 and r.json()["unknown"] == ["999999"] and r.json()["total"] == 0
        # The login form itself carries a token.
        r = await http.post("/login", data={"name": ADMIN[0], "password": ADMIN[1]})
        assert r.status_code == 403
    assert tg_refs(tg_sim)[order["number"]] == 0
    assert ostore.find_link(store, settings.totalgest.shop_id, str(order["id"])) is None


async def test_repeated_failed_logins_from_one_address_are_slowed_down(console, store):
    async with httpx.AsyncClient(base_url=console.url) as http:
        for _ in range(5):
            r = await login(http, ADMIN[0], "wrong password")
            assert r.status_code == 401 and "Wrong user name or password" in r.text
        # Now even the right password waits: the form says for how long, and so does the API.
        r = await login(http, *ADMIN)
        assert r.status_code == 429 and "Too many failed logins" in r.text
        r = await http.get("/api/orders", auth=ADMIN)
        assert r.status_code == 429 and "too many failed logins" in r.json()["error"]
        assert "session" not in r.headers.get("set-cookie", "")
    console.throttle.succeeded("127.0.0.1")  # the wait is over (the throttle's clock is not what is tested)
    async with httpx.AsyncClient(base_url=console.url) as http:
        assert (await login(http, *ADMIN)).status_code == 303
        assert (await http.get("/api/orders")).status_code == 200


async def test_a_removed_user_loses_access_at_the_next_request(console, store):
    async with httpx.AsyncClient(base_url=console.url) as http:
        assert (await login(http, *VIEWER)).status_code == 303
        assert (await http.get("/api/orders")).status_code == 200
        ustore.remove_user(store, VIEWER[0])
        assert (await http.get("/api/orders")).status_code == 401
        assert (await http.get("/orders")).status_code == 303


async def test_lists_are_paged_and_filtered_in_the_database(console, settings, store):
    shop = settings.totalgest.shop_id
    ostore.ensure_known(store, shop, [(i, f"F360-{10000 + i}", "completed") for i in range(1, 121)])
    for i in (7, 77, 107):
        ostore.record_result(store, shop, i, outcome="failed", reason=f"order F360-{10000 + i}: SKU NOPE-{i} unknown")
    pstore.save_links(store, shop, {f"ART-{i:05d}": {"status": "error" if i % 40 == 0 else "linked",
                                                    "last_error": "refused" if i % 40 == 0 else None,
                                                    "name": f"Tasse {i}" if i % 30 else f"Teekanne Nr. {i}"}
                                    for i in range(1, 121)})
    pstore.save_links(store, shop, {"ART-00005": {"name": None}})  # imported before names were stored
    async with httpx.AsyncClient(base_url=console.url, auth=VIEWER) as http:
        p3 = (await http.get("/api/orders", params={"page": 3})).json()
        assert (p3["total"], p3["pages"], len(p3["orders"])) == (120, 3, 20)
        assert [o["order_id"] for o in p3["orders"]][:2] == [20, 19]  # newest first
        failed = (await http.get("/api/orders", params={"status": "failed"})).json()
        assert [o["order_id"] for o in failed["orders"]] == [107, 77, 7]
        assert failed["orders"][0]["column"] == "Failed: order F360-10107: SKU NOPE-107 unknown"
        assert [o["order_id"] for o in (await http.get("/api/orders", params={"q": "f360-1007"})).json()["orders"]] \
            == [79, 78, 77, 76, 75, 74, 73, 72, 71, 70]
        assert (await http.get("/api/orders", params={"status": "bogus"})).status_code == 400
        products = (await http.get("/api/products", params={"page": 2})).json()
        assert (products["total"], len(products["products"]), products["products"][0]["sku"]) == (120, 50, "ART-00051")
        errors = (await http.get("/api/products", params={"status": "error", "q": "art-0008"})).json()
        assert [p["sku"] for p in errors["products"]] == ["ART-00080"] and errors["products"][0]["column"] == \
            "Error: refused"
        assert (await http.get("/api/products/ART-00080")).json()["error"] == "refused"
        # Search by name too (any case, in the database): these SKUs do not contain the query.
        teapots = (await http.get("/api/products", params={"q": "TEEKANNE"})).json()
        assert [(p["sku"], p["name"]) for p in teapots["products"]] == [
            ("ART-00030", "Teekanne Nr. 30"), ("ART-00060", "Teekanne Nr. 60"), ("ART-00090", "Teekanne Nr. 90"),
            ("ART-00120", "Teekanne Nr. 120")]
        assert teapots["total"] == 4
        assert [p["sku"] for p in (await http.get("/api/products", params={"q": "nr. 6"})).json()["products"]] \
            == ["ART-00060"]
        assert (await http.get("/api/products/ART-00030")).json()["name"] == "Teekanne Nr. 30"
    async with httpx.AsyncClient(base_url=console.url) as http:
        await login(http, *VIEWER)
        page = (await http.get("/products", params={"q": "teekanne", "status": "error"})).text
        assert "Teekanne Nr. 120" in page and "ART-00120" in page and "Teekanne Nr. 30" not in page
        first = (await http.get("/products")).text
        row = first.split('href="/products/ART-00005"', 1)[1].split("</tr>", 1)[0]
        assert "<td>—</td>" in row and "Tasse 4<" in first
        assert (await http.get("/api/products/NOPE")).status_code == 404


async def test_schedules_pause_with_a_note_unpause_and_run_now(console, client, settings):
    from tgflow.service.monitoring import ensure_schedule_for

    await ensure_schedule_for(client, settings, "drift")
    schedule_id = f"drift-report-{settings.totalgest.shop_id}"
    handle = client.get_schedule_handle(schedule_id)
    try:
        async with httpx.AsyncClient(base_url=console.url, auth=ADMIN) as http:
            listed = {s["which"]: s for s in (await http.get("/api/schedules")).json()}
            assert listed["drift"]["exists"] and not listed["drift"]["paused"] and not listed["import"]["exists"]
            r = await http.post("/api/schedules/drift/pause", json={"note": "TotalGest maintenance"})
            assert r.status_code == 200, r.text
            desc = await handle.describe()
            assert desc.schedule.state.paused and "TotalGest maintenance (by anna" in desc.schedule.state.note
            assert (await http.post("/api/schedules/drift/unpause", json={})).status_code == 200
            assert not (await handle.describe()).schedule.state.paused
            assert (await http.post("/api/schedules/drift/trigger", json={})).status_code == 200
            assert (await http.post("/api/schedules/import/trigger", json={})).status_code == 409
            assert (await http.post("/api/schedules/nope/trigger", json={})).status_code == 404
    finally:
        await handle.delete()


def _cli(env, *args, stdin: str = ""):
    return subprocess.run([sys.executable, "-m", "tgflow", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_console_users_from_the_command_line(settings, store, tmp_path):
    import json

    env = cli_env(settings, tmp_path)
    proc = _cli(env, "console", "add-user", "anna", "--role", "admin", stdin="a-long-password\n")
    assert proc.returncode == 0, proc.stderr
    assert "added console user anna (admin)" in proc.stdout
    user = ustore.get_user(store, "anna")
    assert user.role == "admin" and "a-long-password" not in user.password_hash and user.password_hash.startswith(
        "scrypt$")
    proc = _cli(env, "console", "add-user", "vic", "--role", "viewer", "--json", stdin="another-password\n")
    assert json.loads(proc.stdout) == {"name": "vic", "role": "viewer", "added": True}
    from tgflow.service.users import authenticate

    assert authenticate(store, "vic", "another-password") == {"name": "vic", "role": "viewer"}
    assert authenticate(store, "vic", "wrong-password") is None

    proc = _cli(env, "console", "add-user", "bob", "--role", "admin", stdin="short\n")
    assert proc.returncode == 2 and "at least 8 characters" in proc.stderr and ustore.get_user(store, "bob") is None
    proc = _cli(env, "console", "add-user", "bob", "--role", "owner", stdin="a-long-password\n")
    assert proc.returncode == 2

    proc = _cli(env, "console", "users")
    assert proc.returncode == 0 and "anna" in proc.stdout and "viewer" in proc.stdout and "scrypt" not in proc.stdout
    listed = json.loads(_cli(env, "console", "users", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("anna", "admin"), ("vic", "viewer")]
    assert all(set(u) == {"name", "role", "created_at", "updated_at"} for u in listed)

    proc = _cli(env, "console", "remove-user", "vic")
    assert proc.returncode == 0 and "removed console user vic" in proc.stdout and ustore.get_user(store, "vic") is None
    proc = _cli(env, "console", "remove-user", "vic", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout) == {"name": "vic", "removed": False}
    proc = _cli(env, "console", "remove-user", "vic")
    assert proc.returncode == 1 and "no console user named vic" in proc.stderr


async def test_behind_https_the_session_cookie_is_secure(settings, store, tmp_path):
    import shutil
    import ssl

    from tgflow.console import create_app
    from tgflow.service.users import add_user
    from tgflow.sim.server import ServerThread

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no test certificate can be made")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with ServerThread(create_app(settings, store), tls=(str(cert), str(key))) as server:
        async with httpx.AsyncClient(base_url=server.url, verify=ssl.create_default_context(cafile=str(cert))) as http:
            r = await login(http, *ADMIN)
            assert r.status_code == 303
            cookie = r.headers["set-cookie"].lower()
            assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_tgflow_console_serves_and_refuses_a_short_secret(settings, store, tmp_path):
    import time

    from tgflow.sim.server import free_port

    for variable in ("TGFLOW_CONSOLE__SECRET", "TGFLOW_CONSOLE_SECRET"):  # the setting, and its former name
        env = cli_env(settings, tmp_path, **{variable: "short-Secret-6"})
        proc = _cli(env, "console", "--port", str(free_port()))
        assert proc.returncode == 2 and f"{variable}: must have at least 32 characters" in proc.stderr, proc.stderr
        assert "short-Secret-6" not in proc.stdout + proc.stderr

    port = free_port()  # from the console.port setting
    env = cli_env(settings, tmp_path, TGFLOW_CONSOLE_SECRET="x" * 40, TGFLOW_CONSOLE__PORT=str(port))
    server = subprocess.Popen([sys.executable, "-m", "tgflow", "console"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == f"tgflow console on http://127.0.0.1:{port} (Ctrl-C stops it)"
        for _ in range(200):  # the banner comes just before uvicorn binds the port
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/orders", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/orders"
        assert httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_with_the_console_secret_set_a_login_outlives_the_console_process(settings, store):
    from pydantic import SecretStr

    settings.console = settings.console.model_copy(update={"secret": SecretStr("s" * 40)})
    with running_console(settings, store) as first:
        async with httpx.AsyncClient(base_url=first.url) as http:
            await login(http, *VIEWER)
            cookie = http.cookies["tgflow_console"]
    with running_console(settings, store) as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, cookies={"tgflow_console": cookie}) as http:
            r = await http.get("/api/status")
            assert r.status_code == 200 and "error" not in r.json()
    settings.console = settings.console.model_copy(update={"secret": SecretStr("t" * 40)})
    with running_console(settings, store) as rekeyed:
        async with httpx.AsyncClient(base_url=rekeyed.url, cookies={"tgflow_console": cookie}) as http:
            assert (await http.get("/api/status")).status_code == 401


async def test_a_product_in_error_is_retried_from_the_console(console, settings, worker, client, tg_sim, f360_sim, store):
    shop = settings.totalgest.shop_id
    pstore.save_links(store, shop, {"ART-00001": {"status": "error", "last_error": "Framework360 refused it"}})
    async with httpx.AsyncClient(base_url=console.url, timeout=60) as http:
        await login(http, *ADMIN)
        page = await http.get("/products/ART-00001")
        assert page.status_code == 200 and "Error: Framework360 refused it" in page.text and ">Retry<" in page.text
        r = await http.post("/products/ART-00001/retry", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 303 and r.headers["location"].startswith("/products/ART-00001?started=")
        workflow_id = r.headers["location"].split("started=", 1)[1]
    await client.get_workflow_handle(workflow_id).result()
    link = pstore.load_links(store, shop, ["ART-00001"])["ART-00001"]
    assert link.status == "linked" and link.last_error is None
    assert f360_sim.sim.product_by_sku("ART-00001")["id"] == link.f360_product_id
