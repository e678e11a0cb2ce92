"""`tgflow dev`, the README's main command, brings the whole stack up and it works:
the first product import fills Framework360, demo orders arrive in TotalGest, and
it stops cleanly by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

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
    ports = {name: free_port() for name in ("temporal", "ui", "tg", "f360", "webhook", "metrics")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgflow", "dev", "--data-dir", str(tmp_path / "dev"), "--articles", "120",
         "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"]),
         "--totalgest-port", str(ports["tg"]), "--framework360-port", str(ports["f360"]),
         "--webhook-port", str(ports["webhook"]), "--metrics-port", str(ports["metrics"])],
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
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "tgflow dev is up" in out and "stopped." in out
    assert (tmp_path / "dev" / "tgflow.toml").exists()
