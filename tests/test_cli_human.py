"""Every list/show/report command's human output, as a person sees it: at a wide terminal (a real pty,
200 columns, Rich's terminal rendering) and in a pipe at 80 columns. Each check is about the content a
person needs (the reason, the number, the status, the hint to run next), and the hints printed are run
as pasted."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.test_metrics import IMPORT_TIMEOUT, cli_env
from tgflow.service.orders import export_orders_now
from tgflow.service.products import start_import
from tgflow.store import orders as ostore

SHOP = "1001"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
HINT = re.compile(r"`(tgflow [^`]+)`")


@dataclass
class Out:
    mode: str
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run_pipe(env: dict[str, str], *args: str, timeout: float = 120) -> Out:
    proc = subprocess.run([sys.executable, "-m", "tgflow", *args], env=env | {"COLUMNS": "80"},
                          capture_output=True, text=True, timeout=timeout)
    return Out("pipe", proc.returncode, proc.stdout, proc.stderr)


def run_tty(env: dict[str, str], *args: str, timeout: float = 120) -> Out:
    """stdout is a real terminal 200 columns wide (stderr a pipe); ANSI styling removed before checks."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "tgflow", *args], env=env | {"COLUMNS": "200", "TERM": "xterm"},
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks: list[bytes] = []
    err = b""
    watched: list = [master, proc.stderr]
    try:
        while master in watched:
            ready, _, _ = select.select(watched, [], [], timeout)
            if not ready:
                raise AssertionError(f"tgflow {' '.join(args)} gave no output for {timeout} s")
            if proc.stderr in ready:
                data = proc.stderr.read1(65536)
                if not data:
                    watched.remove(proc.stderr)
                err += data
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    data = b""
                if not data:
                    watched.remove(master)
                chunks.append(data)
        err += proc.stderr.read()
        code = proc.wait(timeout=timeout)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    out = ANSI.sub("", b"".join(chunks).decode(errors="replace")).replace("\r\n", "\n")
    return Out("tty", code, out, ANSI.sub("", err.decode(errors="replace")))


def both(env: dict[str, str], *args: str) -> list[Out]:
    return [run_tty(env, *args), run_pipe(env, *args)]


async def each(env: dict[str, str], *args: str) -> list[Out]:
    return await asyncio.to_thread(both, env, *args)


async def pipe(env: dict[str, str], *args: str) -> Out:
    return await asyncio.to_thread(run_pipe, env, *args)


async def tty(env: dict[str, str], *args: str) -> Out:
    return await asyncio.to_thread(run_tty, env, *args)


def fits(out: Out, width: int = 80) -> None:
    """Piped at 80 columns, no line is wider (tables are laid out for the width)."""
    if out.mode == "pipe":
        wide = [line for line in out.stdout.splitlines() if len(line) > width]
        assert not wide, wide


def hints(text: str) -> list[str]:
    return list(dict.fromkeys(HINT.findall(text)))


async def run_hint(env: dict[str, str], hint: str) -> Out:
    args = shlex.split(hint)
    assert args[0] == "tgflow"
    return await pipe(env, *args[1:])


def add_article(tg, code: str) -> None:
    article = dict(tg.article("ART-00001"))
    article.pop("id", None)
    tg.upsert_article(article | {"code": code, "name": f"Article {code}"})


def fast(settings) -> None:
    settings.orders.retry_initial_seconds = 0.2
    settings.orders.retry_max_seconds = 1.0


# ---- without servers ------------------------------------------------------------------------------------------

def test_every_help_shows_flags_as_flags_and_version_prints(capsys, monkeypatch):
    import typer

    from tgflow import __version__
    from tgflow.cli.main import app, flags_as_flags

    monkeypatch.setenv("COLUMNS", "120")
    command = typer.main.get_command(app)
    flags_as_flags(command)

    def paths(cmd, prefix):
        yield prefix
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            yield from paths(sub, [*prefix, name])

    seen = 0
    for path in paths(command, []):
        with pytest.raises(SystemExit) as exited:
            command([*path, "--help"], prog_name="tgflow")
        output = capsys.readouterr().out
        assert exited.value.code in (0, None), (path, output)
        assert "<bool>" not in output, (path, output)
        assert "--help" in output and "Usage: tgflow" in output, (path, output)
        seen += 1
    assert seen >= 30
    # The real entry point too.
    proc = subprocess.run([sys.executable, "-m", "tgflow", "orders", "list", "--help"], capture_output=True,
                          text=True, env=os.environ | {"COLUMNS": "120"}, timeout=60)
    assert proc.returncode == 0 and "<bool>" not in proc.stdout and re.search(r"--json\s+Print", proc.stdout)
    proc = subprocess.run([sys.executable, "-m", "tgflow", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"tgflow {__version__}"


def test_json_times_are_iso_8601_with_t(capsys):
    from datetime import timezone
    from decimal import Decimal

    from tgflow.cli.common import emit_json

    emit_json({"at": datetime(2026, 11, 30, 15, 5, 41, tzinfo=timezone.utc), "price": Decimal("53.00")})
    data = json.loads(capsys.readouterr().out)
    assert data == {"at": "2026-11-30T15:05:41+00:00", "price": "53.00"}


# ---- orders -----------------------------------------------------------------------------------------------------

async def test_orders_human_output_hints_and_unknown_ids(client, settings, tmp_path, worker, tg_sim, f360_sim, store):
    fast(settings)
    env = cli_env(settings, tmp_path)
    sim = f360_sim.sim
    bad = sim.create_order(problem="unknown_sku", lines=2)
    good = sim.create_order()

    # export-orders takes the shop number (not in the status store yet) and the id, in one call.
    report = await pipe(env, "export-orders", bad["number"], str(good["id"]))
    assert report.code == 1, report
    assert "1 exported" in report.stdout and "1 failed" in report.stdout and good["number"] in report.stdout
    assert bad["number"] in report.stderr and "NOPE-404" in report.stderr
    tg_refs = [o["external_ref"] for o in tg_sim.sim.orders()]
    assert tg_refs.count(good["number"]) == 1 and tg_refs.count(bad["number"]) == 0
    again = await tty(env, "export-orders", good["number"])
    assert again.code == 0 and "1 already linked" in again.stdout, again

    # orders list: one line per order, the reason cut with "…" in a pipe, in full at a wide terminal.
    for out in await each(env, "orders", "list"):
        assert out.code == 0, out
        fits(out)
        bad_lines = [line for line in out.stdout.splitlines() if bad["number"] in line and "│" in line]
        assert len(bad_lines) == 1 and "Failed" in bad_lines[0], (out.mode, out.stdout)
        good_lines = [line for line in out.stdout.splitlines() if good["number"] in line and "│" in line]
        assert len(good_lines) == 1 and "Linked" in good_lines[0]
        if out.mode == "pipe":
            assert "…" in bad_lines[0]
        else:
            assert "NOPE-404" in bad_lines[0]
        assert f"`tgflow orders show {bad['number']}`" in out.stdout
    for out in await each(env, "orders", "list", "--status", "failed"):
        assert out.code == 0 and bad["number"] in out.stdout and good["number"] not in out.stdout, out

    # orders show, by number and by id: the full reason, the attempt, the Web UI link, the next step.
    shown = []
    for ident in (bad["number"], str(bad["id"])):
        for out in await each(env, "orders", "show", ident):
            assert out.code == 0, out
            fits(out)
            flat = " ".join(out.stdout.split())
            assert "Failed:" in flat and "NOPE-404" in flat and "unknown in TotalGest" in flat, flat
            assert "failed" in flat
            assert f"Web UI: http://localhost:8233/namespaces/default/workflows/order-export-{SHOP}-{bad['id']}\n" \
                in out.stdout
            shown.append(out)
    show_hints = hints(shown[0].stdout)
    assert show_hints == [f"tgflow orders retry {bad['number']} --wait"], show_hints

    # Every hint works when pasted: here the cause is not fixed yet, so the retry reports it again.
    retried = await run_hint(env, show_hints[0])
    assert retried.code == 1 and "NOPE-404" in retried.stderr and bad["number"] in retried.stderr, retried

    # A mistyped id: `orders show` says so and suggests an export, which reports it and stores nothing.
    missing = await pipe(env, "orders", "show", "99999999")
    assert missing.code == 2 and "99999999" in missing.stderr
    listing, hint = hints(missing.stderr)
    assert (listing, hint) == ("tgflow orders list", "tgflow export-orders 99999999")
    listed_hint = await run_hint(env, listing)
    assert listed_hint.code == 0 and bad["number"] in listed_hint.stdout
    for out in (await run_hint(env, hint), await tty(env, "export-orders", "99999999", "--wait")):
        assert out.code == 1, out
        assert "1 unknown" in out.stdout and "Framework360 has no order with id 99999999" in out.stderr, out
    as_json = await pipe(env, "export-orders", "99999999", "--json")
    assert as_json.code == 1 and json.loads(as_json.stdout)["unknown"] == ["99999999"]
    enq = await pipe(env, "enqueue-order", "99999999", str(good["id"]))
    assert enq.code == 1 and "enqueued 1 order(s)" in enq.stdout and "no order with id 99999999" in enq.stderr
    unknown_number = await pipe(env, "export-orders", "F360-99999")
    assert unknown_number.code == 1 and "no order numbered F360-99999" in unknown_number.stderr
    # ... and an id reaching the export workflow by another way (webhook, queue, an older database row).
    direct = await export_orders_now(client, settings, [99999998])
    assert direct.failed == 1 and "no order with id 99999998" in direct.failures[0].reason
    assert ostore.get_link(store, SHOP, 99999998) is None
    ostore.record_result(store, SHOP, 99999996, outcome="failed", reason="Framework360 has no order with id 99999996")
    healed = await pipe(env, "orders", "retry", "99999996", "--wait")
    assert healed.code == 1 and "99999996" in healed.stderr, healed
    assert ostore.get_link(store, SHOP, 99999996) is None
    listed = json.loads((await pipe(env, "orders", "list", "--status", "failed", "--json")).stdout)
    assert [o["number"] for o in listed] == [bad["number"]]
    status = json.loads((await pipe(env, "status", "--json")).stdout)
    assert status["orders"]["failed"] == 1 and status["oldest_failed_order"]["number"] == bad["number"]
    # JSON times are ISO 8601 with a T, timezone-aware.
    stamp = listed[0]["last_attempt_at"]
    assert "T" in stamp and datetime.fromisoformat(stamp).tzinfo is not None

    # The cause fixed in TotalGest: the retry by number links it, once.
    add_article(tg_sim.sim, "NOPE-404")
    fixed = await tty(env, "orders", "retry", bad["number"], "--wait")
    assert fixed.code == 0 and "1 exported" in fixed.stdout and bad["number"] in fixed.stdout, fixed
    assert [o["external_ref"] for o in tg_sim.sim.orders()].count(bad["number"]) == 1
    assert sim.order(bad["id"])["integrations"]["totalgest"]["status"] == "linked"
    for out in await each(env, "orders", "show", bad["number"]):
        assert out.code == 0 and "Linked" in out.stdout and not hints(out.stdout), out


# ---- products, status, schedules, alerts, reconcile ----------------------------------------------------------------

@pytest.fixture
async def cleanup_schedules(client, settings):
    from tgflow.jobs import jobs

    yield
    for job in jobs(settings):
        try:
            await client.get_schedule_handle(job.schedule_id).delete()
        except Exception:
            pass


async def test_products_status_schedules_alerts_reconcile_human_output(client, settings, tmp_path, worker, tg_sim,
                                                                        f360_sim, store, cleanup_schedules):
    fast(settings)
    env = cli_env(settings, tmp_path)
    f360_sim.sim.reject_skus({"ART-00007": "EAN 7612345000071 already used by another product"})
    report = await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
    assert report.created == 299 and report.errors == 1
    bad = f360_sim.sim.create_order(problem="unknown_sku")
    await export_orders_now(client, settings, [bad["id"]])

    first = f360_sim.sim.product_by_sku("ART-00001")
    # Names come from the status store: with Framework360 out of reach the list still shows them.
    no_f360 = env | {"TGFLOW_F360__BASE_URL": "http://127.0.0.1:9/api/v1"}
    for out in await each(no_f360, "products", "list"):
        assert out.code == 0, out
        fits(out)
        rows = [line for line in out.stdout.splitlines() if re.search(r"ART-\d{5}", line)]
        assert len(rows) == 50, (out.mode, len(rows))
        assert "1–50 of 300" in out.stdout
        assert "250 more: `tgflow products list --offset 50`" in " ".join(out.stdout.split())
        line = next(r for r in rows if "ART-00001" in r)
        cells = [c for c in line.split("│")[1:-1]]
        assert cells[1].strip().startswith(first["name"][:8]) and "Linked" in cells[2]
        # Numbers are right-aligned: each id and stock cell ends at its column's edge.
        for row in rows:
            parts = row.split("│")[1:-1]
            for number_cell in (parts[3], parts[4]):
                assert number_cell.endswith(" ") and not number_cell.endswith("  ") and number_cell.strip(), row
        err = next(r for r in rows if "ART-00007" in r)
        assert "Error" in err
        (page_hint,) = [h for h in hints(out.stdout) if "--offset" in h]
        nxt = await run_hint(env, page_hint)
        assert nxt.code == 0 and "51–100 of 300" in nxt.stdout, nxt
        page_two = set(re.findall(r"ART-\d{5}", nxt.stdout))
        assert len(page_two) == 50 and not page_two & set(re.findall(r"ART-\d{5}", out.stdout))
    limited = await pipe(env, "products", "list", "--status", "error", "--limit", "5")
    assert limited.code == 0 and "ART-00007" in limited.stdout and "1–1 of 1" in limited.stdout
    assert "more:" not in limited.stdout
    listed = json.loads((await pipe(no_f360, "products", "list", "--json")).stdout)
    assert len(listed) == 300
    assert next(r for r in listed if r["sku"] == "ART-00001")["name"] == first["name"]

    refused = json.loads((await pipe(no_f360, "products", "show", "ART-00007", "--json")).stdout)
    assert refused["name"] and refused["name"] != "ART-00007"  # the mapped name Framework360 refused, stored
    for out in await each(no_f360, "products", "show", "ART-00007"):
        assert out.code == 0 and "Error: Framework360 refused it" in " ".join(out.stdout.split()), out
        assert refused["name"][:20] in " ".join(out.stdout.split()), out
        assert "tgflow products retry ART-00007" in out.stderr
    for out in await each(env, "products", "cursor", "show"):
        assert out.code == 0 and "articles" in out.stdout and "stock" in out.stdout, out

    # Schedules: all of them at once, before and after they exist.
    from tgflow.jobs import jobs

    for out in await each(env, "schedule", "describe", "--which", "all"):
        assert out.code == 0, out
        assert out.stdout.count("not created") == len(jobs(settings)) == 5, out.stdout
        assert "`tgflow schedule create --which health`" in out.stdout
    created = await pipe(env, "schedule", "create", "--which", "all")
    assert created.code == 0, created
    for out in await each(env, "schedule", "describe", "--which", "all"):
        assert out.code == 0, out
        fits(out)
        for sid in (f"product-import-{SHOP}", f"order-reconcile-{SHOP}", f"drift-report-{SHOP}",
                    f"health-check-{SHOP}", f"shipment-import-{SHOP}"):
            assert sid in out.stdout, (sid, out.stdout)
        assert out.stdout.count("active") == 5 and "next:" in out.stdout
    one = json.loads((await pipe(env, "schedule", "describe", "--which", "health", "--json")).stdout)
    assert one["schedule_id"] == f"health-check-{SHOP}" and one["paused"] is False
    assert datetime.fromisoformat(one["next_runs"][0]).tzinfo is not None

    # Status: the counts, the oldest failure with its reason, every schedule.
    for out in await each(env, "status"):
        assert out.code == 1, out  # a failed order and a product in error need a person
        flat = " ".join(out.stdout.split())
        assert "oldest failed order" in flat and bad["number"] in flat and "NOPE-404" in flat
        assert "oldest failed product: ART-00007" in flat
        assert f"schedule product-import-{SHOP}: active" in flat
        assert re.search(r"orders\s*│\s*0\s*│\s*0\s*│\s*1\s*│", out.stdout), out.stdout
        assert "Temporal at " in flat

    # Alerts: one health check now, then the list names what fires and why.
    checked = await pipe(env, "alerts", "check")
    assert checked.code == 1 and "failures" in checked.stdout, checked
    for out in await each(env, "alerts", "list"):
        assert out.code == 1 and "FIRING" in out.stdout and "failures" in out.stdout, out

    # Reconcile: the completed orders never exported are named.
    missing = f360_sim.sim.create_order()
    for out in await each(env, "reconcile"):
        assert out.code == 1, out
        flat = " ".join(out.stdout.split())
        assert "drift(s)" in flat and missing["number"] in out.stdout and "missing in TotalGest" in flat


async def test_status_with_temporal_down_says_where_and_exits_3(settings, tmp_path, tg_sim, f360_sim, store):
    # `store`: the status database exists (status only reads one; it never creates it)
    from tgflow.sim.server import free_port

    data = settings.model_dump()
    data["temporal"]["address"] = f"127.0.0.1:{free_port()}"
    from tgflow.config import Settings

    down = Settings.model_validate(data)
    env = cli_env(down, tmp_path)
    for out in await each(env, "status"):
        assert out.code == 3, out
        flat = " ".join(out.stdout.split())
        assert f"Temporal at {data['temporal']['address']}" in flat and "TGFLOW_TEMPORAL__ADDRESS" in flat, flat
        assert "schedules, order queue: unknown" in flat
        assert "totalgest" in flat and "ok" in flat
    as_json = await pipe(env, "status", "--json")
    assert as_json.code == 3
    body = json.loads(as_json.stdout)
    assert body["services"]["temporal"]["ok"] is False
    assert data["temporal"]["address"] in body["services"]["temporal"]["message"]
