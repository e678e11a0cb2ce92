"""`tgflow dev`, the README's main command, brings the whole stack up and it works:
the first product import fills Framework360, demo orders arrive in TotalGest, and
it stops cleanly by itself."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal

import httpx

from tgflow.sim.server import free_port


def _cli(config: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"TGFLOW_CONFIG": config}
    return subprocess.run([sys.executable, "-m", "tgflow", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _poll(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_dev_stack_imports_products_exports_orders_and_stops_on_sigint(tmp_path):
    ports = {name: free_port() for name in ("temporal", "ui", "tg", "f360", "webhook", "metrics", "console")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgflow", "dev", "--data-dir", str(tmp_path / "dev"), "--articles", "120",
         "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"]),
         "--totalgest-port", str(ports["tg"]), "--framework360-port", str(ports["f360"]),
         "--webhook-port", str(ports["webhook"]), "--metrics-port", str(ports["metrics"]),
         "--console-port", str(ports["console"])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        tg = f"http://127.0.0.1:{ports['tg']}/_admin"
        f360 = f"http://127.0.0.1:{ports['f360']}/_admin"
        _poll(lambda: len(httpx.get(f"{f360}/products").json()) == 120, 90, "the first import of 120 products")
        orders = _poll(lambda: httpx.get(f"{tg}/orders").json(), 90, "an order in TotalGest")
        assert orders[0]["external_ref"].startswith("F360-")
        statuses = _poll(
            lambda: [o["integrations"]["totalgest"]["status"] for o in httpx.get(f"{f360}/orders").json()
                     if o["integrations"]["totalgest"]["status"] == "linked"],
            60, "a linked order on Framework360")
        assert statuses
        assert httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=5).status_code == 200  # the Web UI
        metrics = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=5).text
        assert "tgflow_api_calls" in metrics

        # The README's walkthrough: a failed order found by its number, its reason read, the cause fixed in
        # (simulated) TotalGest, the order re-driven and linked, with the CLI only.
        config = str(tmp_path / "dev" / "tgflow.toml")
        bad = httpx.post(f"{f360}/orders", json={"problem": "unknown_sku"}).json()
        shown = _poll(lambda: (r := _cli(config, "orders", "show", bad["number"], "--json")).returncode == 0
                      and (d := json.loads(r.stdout))["status"] == "failed" and d, 90, "the bad order failed")
        assert "NOPE-404" in shown["reason"] and shown["url"].startswith(f"http://localhost:{ports['ui']}/")
        failed = json.loads(_cli(config, "orders", "list", "--status", "failed", "--json").stdout)
        assert bad["number"] in [o["number"] for o in failed]
        # The web console shows it too, to its printed demo admin (issue 14).
        console = httpx.get(f"http://127.0.0.1:{ports['console']}/api/orders", params={"status": "failed"},
                            auth=("admin", "tgflow-dev"), timeout=10).json()
        assert bad["number"] in [o["number"] for o in console["orders"]]
        # The same steps as a person reads them (README): the human output names the order and the reason.
        listed = _cli(config, "orders", "list", "--status", "failed")
        assert listed.returncode == 0 and bad["number"] in listed.stdout and "Failed" in listed.stdout, listed
        text = _cli(config, "orders", "show", bad["number"])
        flat = " ".join(text.stdout.split())
        assert text.returncode == 0 and "NOPE-404" in flat and f"tgflow orders retry {bad['number']}" in flat, text
        httpx.post(f"{tg}/articles", json={"code": "NOPE-404", "name": "Tyre 29x2.4", "price_gross": "53.00",
                                           "vat_code": "N", "vat_rate": "8.1", "currency": "CHF", "unit": "pz",
                                           "active": True}).raise_for_status()
        retried = _cli(config, "orders", "retry", bad["number"], "--wait", "--json")
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert json.loads(retried.stdout)["linked"][0]["number"] == bad["number"]
        assert [o["external_ref"] for o in httpx.get(f"{tg}/orders").json()].count(bad["number"]) == 1
        column = httpx.get(f"{f360}/orders/{bad['id']}").json()["integrations"]["totalgest"]
        assert column["status"] == "linked"

        # The demo traffic refunded one exported order and cancelled another, by itself, through the shop:
        # the refund is one credit note in TotalGest, the cancellation a cancelled order or one credit note.
        def demo_done():
            shop = httpx.get(f"{f360}/orders").json()
            refunded = [o for o in shop if o["refunds"]]
            cancelled = [o for o in shop if o["status"] == "cancelled"
                         and o["integrations"]["totalgest"]["status"] == "linked"]
            refs = [n["external_ref"] for n in httpx.get(f"{tg}/credit-notes").json()]
            tg_status = {o["external_ref"]: o["status"] for o in httpx.get(f"{tg}/orders").json()}
            return (len(refunded) == 1 and len(cancelled) == 1
                    and refs.count(f"{refunded[0]['number']}-R{refunded[0]['refunds'][0]['id']}") == 1
                    and (tg_status[cancelled[0]["number"]] == "cancelled"
                         or refs.count(f"{cancelled[0]['number']}-C") == 1) and refs)
        demo_refs = _poll(demo_done, 90, "the demo's refund credited and its cancellation handled in TotalGest")
        assert len(demo_refs) == len(set(demo_refs)) <= 2, demo_refs

        # README "A parcel and a refund", the refund half: a goodwill refund in the shop (the simulator's admin
        # route, which sends order.refunded) → `orders show` has the refund and its credit note → TotalGest
        # holds exactly one credit note for it.
        order = httpx.post(f"{f360}/orders", json={}).json()
        _poll(lambda: httpx.get(f"{f360}/orders/{order['id']}").json()["integrations"]["totalgest"]["status"]
              == "linked", 90, "the new order linked")
        refund = httpx.post(f"{f360}/orders/{order['id']}/refund", json={"amount": "5.00", "reason": "goodwill"})
        assert refund.status_code == 201, refund.text
        refund = refund.json()
        shown = _poll(lambda: [a for a in json.loads(_cli(config, "orders", "show", order["number"], "--json")
                                                     .stdout)["adjustments"] if a["status"] == "done"],
                      90, "the refund credited in TotalGest")
        [adj] = shown
        assert adj["kind"] == "refund" and adj["refund_id"] == refund["id"] and adj["tg_credit_note_number"]
        text = _cli(config, "orders", "show", order["number"])
        flat = " ".join(text.stdout.split())
        assert text.returncode == 0 and adj["tg_credit_note_number"] in flat and "refund" in flat, text.stdout
        notes = [n for n in httpx.get(f"{tg}/credit-notes").json()
                 if n["external_ref"] == f"{order['number']}-R{refund['id']}"]
        assert len(notes) == 1 and notes[0]["number"] == adj["tg_credit_note_number"], notes
        assert Decimal(notes[0]["total_gross"]) == Decimal("5.00")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "tgflow dev is up" in out and "stopped." in out
    assert f"Console            http://127.0.0.1:{ports['console']}  (user admin, password tgflow-dev" in out
    assert (tmp_path / "dev" / "tgflow.toml").exists()
    # Each failed order is one short line in the terminal (details at DEBUG), not 400 characters of ids.
    assert f"order {bad['number']} failed: unknown SKU NOPE-404 (tgflow orders show {bad['number']})" in out
    messages = [re.sub(r"^\S+ \S+ [A-Z]+ \S+: ", "", line) for line in out.splitlines()]  # no time/level/logger
    assert not [m for m in messages if "failed" in m and len(m) > 140], out


# ---- stopping: every child goes, whatever the terminal does (issue 11, item 3) -----------------------------------

import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


class Dev:
    """``tgflow dev`` in a child process on free ports; stdout is a pipe the test reads (and may close)."""

    def __init__(self, tmp_path: Path, *extra: str, articles: int = 40) -> None:
        self.ports = {name: free_port() for name in ("temporal", "ui", "tg", "f360", "webhook", "metrics", "console")}
        self.data = tmp_path / "dev"
        self.stderr_path = tmp_path / f"dev-{time.monotonic_ns()}.err"
        self.stderr = open(self.stderr_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tgflow", "dev", "--data-dir", str(self.data), "--articles", str(articles),
             "--no-demo-traffic", "--temporal-port", str(self.ports["temporal"]), "--ui-port", str(self.ports["ui"]),
             "--totalgest-port", str(self.ports["tg"]), "--framework360-port", str(self.ports["f360"]),
             "--webhook-port", str(self.ports["webhook"]), "--metrics-port", str(self.ports["metrics"]),
             "--console-port", str(self.ports["console"]), *extra],
            env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=tmp_path)
        self.out: list[str] = []
        for line in self.proc.stdout:  # the banner, up to its last line
            self.out.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        assert "tgflow dev is up" in "".join(self.out), "".join(self.out) + self.err()
        self.tg = f"http://127.0.0.1:{self.ports['tg']}/_admin"
        self.f360 = f"http://127.0.0.1:{self.ports['f360']}/_admin"
        self.config = str(self.data / "tgflow.toml")

    def err(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, close_stdout: bool = False) -> str:
        if close_stdout:
            self.proc.stdout.close()  # like `| tee` killed by the same Ctrl-C
        self.proc.send_signal(sig)
        self.proc.wait(timeout=90)
        rest = "" if close_stdout else self.proc.stdout.read()
        self.stderr.close()
        return "".join(self.out) + rest


def _processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (the Temporal dev server's --db-filename)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path) in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_dev_stops_every_child_on_a_signal_even_with_its_stdout_pipe_closed(tmp_path, sig):
    dev = Dev(tmp_path)
    temporal = _processes_using(dev.data / "temporal.db")
    assert len(temporal) == 1, "the Temporal dev server is not running"
    try:
        dev.stop(sig, close_stdout=True)
        assert dev.proc.returncode == 0, dev.err()
        assert "Traceback" not in dev.err(), dev.err()
        assert _processes_using(dev.data / "temporal.db") == []
        assert [name for name, port in dev.ports.items() if _port_taken(port)] == []
    finally:
        for pid in _processes_using(dev.data / "temporal.db"):  # what a failing run leaves behind
            os.kill(pid, signal.SIGKILL)


# ---- restarting: fresh by default, --keep keeps all of it (issue 11, item 8) ------------------------------------

def _status(config: str) -> dict:
    result = _cli(config, "status", "--json")
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def _imported(dev: Dev, articles: int, after: str | None) -> dict:
    """Wait for this start's import (not ``after``, the last run's) to finish; the status then."""
    def done():
        data = _status(dev.config)
        run = data["last_product_import"]
        return run and run["run_id"] != after and run["status"] != "running" and data
    data = _poll(done, 90, "the start-up product import")
    assert len(httpx.get(f"{dev.f360}/products").json()) == articles
    return data


def _export_one(dev: Dev) -> dict:
    order = httpx.post(f"{dev.f360}/orders", json={}).json()
    _poll(lambda: httpx.get(f"{dev.f360}/orders/{order['id']}").json()["integrations"]["totalgest"]["status"]
          == "linked", 90, "the new order linked")
    return order


def _assert_consistent(dev: Dev, articles: int, after: str | None = None) -> dict:
    """What status shows exists in both simulators: no stale products or orders, an import without 404s."""
    data = _imported(dev, articles, after)
    run = data["last_product_import"]
    assert run["status"] == "completed" and run["counts"].get("errors", 0) == 0, run
    assert data["products"] == {"linked": articles, "pending": 0, "error": 0, "not_linked": 0}, data["products"]
    assert data["orders"]["failed"] == 0
    shop_orders = {o["number"] for o in httpx.get(f"{dev.f360}/orders").json()}
    tg_orders = {o["number"] for o in httpx.get(f"{dev.tg}/orders").json()}
    listed = json.loads(_cli(dev.config, "orders", "list", "--json").stdout)
    assert {o["number"] for o in listed} <= shop_orders
    assert {o["tg_order_number"] for o in listed if o["status"] == "linked"} <= tg_orders
    return data


def test_dev_restarts_fresh_by_default_and_keeps_everything_with_keep(tmp_path):
    articles = 40
    dev = Dev(tmp_path, articles=articles)
    assert "fresh start" in "".join(dev.out)
    try:
        _assert_consistent(dev, articles)
        first = _export_one(dev)
    finally:
        out = dev.stop()
    assert "stopped." in out

    # Fresh (the default): the last run's links are gone with its simulators.
    dev = Dev(tmp_path, articles=articles)
    assert "fresh start: removed the last run's data" in "".join(dev.out)
    try:
        before = _assert_consistent(dev, articles)["last_product_import"]["run_id"]
        listed = json.loads(_cli(dev.config, "orders", "list", "--json").stdout)
        assert first["number"] not in {o["number"] for o in listed}
        second = _export_one(dev)
    finally:
        dev.stop(signal.SIGTERM)

    # --keep: simulators, status database and Temporal continue together.
    dev = Dev(tmp_path, "--keep", articles=articles)
    assert "--keep: continuing the last run's data" in "".join(dev.out)
    try:
        data = _assert_consistent(dev, articles, after=before)
        assert data["last_product_import"]["counts"].get("created", 0) == 0  # nothing re-created
        shown = json.loads(_cli(dev.config, "orders", "show", second["number"], "--json").stdout)
        assert shown["status"] == "linked"
        tg_refs = [o["external_ref"] for o in httpx.get(f"{dev.tg}/orders").json()]
        assert tg_refs.count(second["number"]) == 1
    finally:
        dev.stop()


def test_keep_refuses_data_of_a_run_that_did_not_stop_cleanly(tmp_path):
    data = tmp_path / "dev"
    data.mkdir()
    (data / "tgflow.db").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    result = subprocess.run([sys.executable, "-m", "tgflow", "dev", "--keep", "--data-dir", str(data),
                             "--temporal-port", str(free_port())], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "did not stop cleanly" in result.stderr and "without --keep" in result.stderr
    assert (data / "tgflow.db").exists()


def test_dev_help_shows_the_fresh_or_keep_choice():
    result = subprocess.run([sys.executable, "-m", "tgflow", "dev", "--help"], capture_output=True, text=True,
                            timeout=60, env=os.environ | {"COLUMNS": "200"})
    assert "--keep" in result.stdout and "fresh" in result.stdout
