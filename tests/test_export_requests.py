""""Send to TotalGest" in the shop (issue 14 B): Framework360's ``orders.export_requested`` → one bulk export
→ exactly one notification with the report, whatever redelivers the event."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter

import httpx
import pytest
import uvicorn
from temporalio.client import WorkflowExecutionStatus

from tests.test_metrics import cli_env, tgflow_cli
from tgflow.clients.framework360 import sign
from tgflow.contracts.export_requests import (
    MESSAGE_MAX,
    TITLE_MAX,
    ExportRequestResult,
    RequestFailure,
    RequestOutcome,
    compose_notice,
)
from tgflow.contracts.ids import export_request_workflow_id
from tgflow.sim.server import free_port
from tgflow.store import export_requests as erstore
from tgflow.webhook import HANDLED_EVENTS, create_app
from tgflow.workflows.export_requests import bulk_child_id

SHOP = "1001"
PATH = "/webhooks/framework360"
#: Who pressed the button: personal data, must never reach workflow history.
PERSON = "Zoë Beispiel-Admin"


def fast(settings) -> None:
    settings.orders.retry_initial_seconds = 0.1
    settings.orders.retry_max_seconds = 0.5


def request_event(order_ids: list[int], request_id: str, event_id: str | None = None) -> bytes:
    return json.dumps({"id": event_id or f"evt_{request_id}", "type": "orders.export_requested",
                       "created_at": "2026-01-01T00:00:00+00:00", "site_id": "site_1",
                       "data": {"order_ids": order_ids, "request_id": request_id, "requested_by": PERSON}}).encode()


def signed(settings, body: bytes) -> dict[str, str]:
    return {"X-F360-Signature": sign(settings.f360.webhook_secret.get_secret_value(), body),
            "Content-Type": "application/json"}


def notes_of(f360_sim, request_id: str) -> list[dict]:
    return [n for n in f360_sim.sim.notifications() if n["request_id"] == request_id]


def tg_refs(tg_sim) -> Counter:
    return Counter(o["external_ref"] for o in tg_sim.sim.orders())


async def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def finished(client, request_id: str):
    return await client.get_workflow_handle(export_request_workflow_id(SHOP, request_id),
                                            result_type=ExportRequestResult).result()


@pytest.fixture
async def http(settings, client, store):
    app = create_app(settings, client, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as http:
        yield http


@pytest.fixture
async def receiver(settings, client, store, f360_sim):
    """A real receiver on loopback, subscribed in the simulator to the button's event only."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, client, store=store), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    f360_sim.sim.subscribe(f"http://127.0.0.1:{port}{PATH}", ["orders.export_requested"],
                           settings.f360.webhook_secret.get_secret_value())
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


async def history_text(client, workflow_id: str) -> str:
    """The history as JSON with every payload decoded (payload data is base64 in the raw JSON)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    decoded: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "metadata" in node and isinstance(node.get("data"), str):
                decoded.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    raw = history.to_json()
    walk(json.loads(raw))
    assert decoded, "no payload found in the history"
    return raw + "\n".join(decoded)


# ---- end to end ----------------------------------------------------------------------------------------------------


async def test_button_with_three_orders_one_bad_gives_one_warning_and_totalgest_has_the_two(
        client, settings, worker, tg_sim, f360_sim, store, receiver):
    fast(settings)
    sim = f360_sim.sim
    good = [sim.create_order(), sim.create_order()]
    bad = sim.create_order(problem="unknown_sku")
    pressed = await asyncio.to_thread(sim.request_export, [good[0]["id"], bad["id"], good[1]["id"]], PERSON)
    rid = pressed["request_id"]
    await wait_for(lambda: notes_of(f360_sim, rid), "the notification")
    result = await finished(client, rid)

    notes = notes_of(f360_sim, rid)
    assert len(notes) == 1
    note = notes[0]
    assert note["level"] == "warning"
    assert note["title"] == "TotalGest: 2 of 3 orders sent, 1 failed"
    assert bad["number"] in note["message"] and "NOPE-404" in note["message"]
    assert good[0]["number"] not in note["message"] and good[1]["number"] not in note["message"]
    # TotalGest has the two good orders, once each, and not the bad one
    refs = tg_refs(tg_sim)
    assert refs[good[0]["number"]] == 1 and refs[good[1]["number"]] == 1 and refs[bad["number"]] == 0
    assert (result.sent, result.failed, result.level, result.notification_id) == (2, 1, "warning", note["id"])
    # the status store knows who asked and that the report went out; Temporal does not know who asked
    row = erstore.get(store, SHOP, rid)
    assert row.requested_by == PERSON and row.status == "notified" and row.notification_id == note["id"]
    wf_id = export_request_workflow_id(SHOP, rid)
    for text in (await history_text(client, wf_id), await history_text(client, bulk_child_id(wf_id))):
        assert PERSON not in text and "Beispiel" not in text
    desc = await client.get_workflow_handle(wf_id).describe()
    assert not any(PERSON in str(v) for v in desc.typed_search_attributes)
    assert bad["number"] in (await history_text(client, wf_id))  # the report itself is there: numbers and reasons


async def test_event_delivered_three_times_runs_one_workflow_and_posts_one_notification(
        http, settings, client, worker, tg_sim, f360_sim, store):
    fast(settings)
    order = f360_sim.sim.create_order()
    rid = f"req_{uuid.uuid4().hex[:12]}"
    body = request_event([order["id"]], rid)
    answers = []
    for _ in range(2):
        response = await http.post(PATH, content=body, headers=signed(settings, body))
        answers.append((response.status_code, response.json()["status"]))
    assert answers == [(202, "started"), (202, "duplicate")]
    await finished(client, rid)
    # the third delivery, after it ended, to a restarted receiver (its memory of event ids is gone)
    app = create_app(settings, client, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r2") as again:
        response = await again.post(PATH, content=body, headers=signed(settings, body))
    assert (response.status_code, response.json()["status"]) == (202, "duplicate")
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{export_request_workflow_id(SHOP, rid)}'")]
    assert len(runs) == 1 and runs[0].status == WorkflowExecutionStatus.COMPLETED
    notes = notes_of(f360_sim, rid)
    assert len(notes) == 1 and notes[0]["level"] == "info" and notes[0]["title"] == "TotalGest: 1 of 1 order sent"
    assert tg_refs(tg_sim)[order["number"]] == 1


@pytest.mark.parametrize("problems,level,title", [
    ([None, None], "info", "TotalGest: 2 of 2 orders sent"),
    (["unknown_sku", "bad_payment"], "error", "TotalGest: 0 of 2 orders sent, 2 failed"),
])
async def test_level_follows_the_outcome(http, settings, client, worker, tg_sim, f360_sim, problems, level, title):
    fast(settings)
    orders = [f360_sim.sim.create_order(problem=p) for p in problems]
    rid = f"req_{uuid.uuid4().hex[:12]}"
    body = request_event([o["id"] for o in orders], rid)
    assert (await http.post(PATH, content=body, headers=signed(settings, body))).status_code == 202
    result = await finished(client, rid)
    notes = notes_of(f360_sim, rid)
    assert len(notes) == 1 and notes[0]["level"] == level == result.level and notes[0]["title"] == title
    refs = tg_refs(tg_sim)
    in_tg = [refs[o["number"]] for o in orders]
    if level == "info":
        assert in_tg == [1, 1] and "0 failed" in notes[0]["message"]
    else:
        assert in_tg == [0, 0]
        assert all(o["number"] in notes[0]["message"] for o in orders)


async def test_more_than_500_or_no_ids_are_refused_and_start_nothing(http, settings, client, f360_sim, store):
    # the shop itself never sends more (the simulator's button refuses), and the receiver refuses them too
    with pytest.raises(ValueError, match="1 to 500"):
        f360_sim.sim.request_export(list(range(1, 502)))
    for ids in (list(range(1, 502)), [], ["7"]):
        rid = f"req_{uuid.uuid4().hex[:12]}"
        body = request_event(ids, rid)  # type: ignore[arg-type]
        response = await http.post(PATH, content=body, headers=signed(settings, body))
        assert response.status_code == 400 and "order_ids" in response.json()["message"]
        assert erstore.get(store, SHOP, rid) is None
        assert [w async for w in client.list_workflows(
            f"WorkflowId = '{export_request_workflow_id(SHOP, rid)}'")] == []
    assert f360_sim.sim.notifications() == []


async def test_a_lost_acknowledgement_posts_the_report_again_never_none(
        http, settings, client, worker, tg_sim, f360_sim, store, deps):
    """Documented choice (tgflow/activities/notifications.py): an ambiguous failure is retried, so the person
    may get a second identical bell but never no report; a definite answer is recorded and never repeated."""
    fast(settings)
    sim = f360_sim.sim
    order = sim.create_order()
    rid = f"req_{uuid.uuid4().hex[:12]}"
    sim.reset_stats()
    sim.set_faults(error_after_commit_rate=1.0)  # every notification is stored, and its answer lost (500)
    body = request_event([order["id"]], rid)
    assert (await http.post(PATH, content=body, headers=signed(settings, body))).status_code == 202
    await wait_for(lambda: notes_of(f360_sim, rid), "the first notification")
    sim.set_faults()
    result = await finished(client, rid)
    notes = notes_of(f360_sim, rid)
    lost = sim.stats()["by_status"].get("500", 0)
    assert lost >= 1 and len(notes) == lost + 1  # each lost answer was posted again, the answered one recorded
    assert len({(n["title"], n["message"], n["level"]) for n in notes}) == 1  # identical copies
    row = erstore.get(store, SHOP, rid)
    assert row.status == "notified" and row.notification_id == notes[-1]["id"] == result.notification_id
    assert row.post_attempts == len(notes)
    # Once answered, never again: the activity re-run by a new workflow run for the same request posts nothing.
    from tgflow.activities.notifications import NotificationActivities
    from tgflow.contracts.export_requests import Notice, NotifyInput

    again = await NotificationActivities(deps).notify_export_request(NotifyInput(
        shop_id=SHOP, request_id=rid, workflow_id="x", notice=Notice(title="t", message="m", level="info")))
    assert again.posted is False and again.notification_id == notes[-1]["id"]
    assert len(notes_of(f360_sim, rid)) == len(notes)


async def test_webhook_subscribe_subscribes_every_handled_event_including_the_button(settings, f360_sim, tmp_path):
    env = cli_env(settings, tmp_path)
    url = "http://127.0.0.1:9/webhooks/framework360"
    out = await asyncio.to_thread(tgflow_cli, env, "webhook", "subscribe", url, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["events"] == HANDLED_EVENTS
    human = await asyncio.to_thread(tgflow_cli, env, "webhook", "subscribe", url)
    assert human.returncode == 0 and "orders.export_requested" in human.stdout and url in human.stdout
    subs = list(f360_sim.sim._subscriptions.values())
    assert len(subs) == 2 and all(s["events"] == HANDLED_EVENTS for s in subs)
    assert "orders.export_requested" in HANDLED_EVENTS and "order.refunded" in HANDLED_EVENTS


# ---- the notice and the id (pure) ------------------------------------------------------------------------------


def test_long_failure_lists_are_cut_with_and_n_more_within_4000_characters():
    failures = [RequestFailure(order_id=i, number=f"F360-{10000 + i}", reason="SKU NOPE-404 is not a TotalGest "
                               "article: create it in TotalGest or fix the SKU in the shop") for i in range(1, 501)]
    notice = compose_notice(RequestOutcome(total=500, failures=failures))
    assert notice.level == "error" and len(notice.title) <= TITLE_MAX
    assert len(notice.message) <= MESSAGE_MAX
    shown = notice.message.count("\n- ")
    assert 0 < shown < 500 and notice.message.endswith(f"… and {500 - shown} more")
    assert "F360-10001: SKU NOPE-404" in notice.message
    few = compose_notice(RequestOutcome(total=3, succeeded=1, already_linked=1, failures=failures[:1]))
    assert few.level == "warning" and few.title == "TotalGest: 2 of 3 orders sent, 1 failed"
    assert "… and" not in few.message and "1 already there" in few.message


def test_request_ids_are_sanitized_and_kept_apart_in_workflow_ids():
    assert export_request_workflow_id(SHOP, "req_ab12") == "export-request-1001-req_ab12"
    odd = export_request_workflow_id(SHOP, "a/b c'")
    assert odd.startswith("export-request-1001-a_b_c_-") and "'" not in odd and " " not in odd
    assert odd != export_request_workflow_id(SHOP, "a_b_c_")
    long = export_request_workflow_id(SHOP, "x" * 5000)
    assert len(long) < 120 and long != export_request_workflow_id(SHOP, "x" * 4999)


async def test_the_dev_demo_presses_the_button_once_and_a_report_arrives(settings, client, worker, tg_sim, f360_sim,
                                                                       receiver):
    from tgflow.dev import _press_send_button

    fast(settings)
    sim = f360_sim.sim
    latest = [sim.create_order() for _ in range(2)]
    await _press_send_button(sim, after=0)
    await wait_for(lambda: sim.notifications(), "the demo's notification")
    rid = sim.notifications()[0]["request_id"]
    result = await finished(client, rid)
    notes = sim.notifications()
    assert len(notes) == 1 and notes[0]["request_id"] == rid and result.total == 5
    refs = tg_refs(tg_sim)
    assert all(refs[o["number"]] == 1 for o in latest)  # the latest completed orders were among those sent
