"""`tgflow schedule ...` over one shop or every shop: one row per shop × schedule, and a shop's ``enabled``
setting applied to its schedules.

``enabled = false`` pauses the shop's schedules with :data:`DISABLED_NOTE`; once the shop is enabled again,
``tgflow schedule create`` unpauses the schedules carrying that note, and only those: a schedule a person
paused (any other note) stays paused. The order reconciliation reads from its cursor (the newest
``updated_at`` it saw, minus ``orders.reconcile_overlap_seconds``), which does not move while its schedule is
paused, so its first run after re-enabling catches up every order completed meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tgflow.config import Settings, ShopSettings
from tgflow.jobs import Job, jobs
from tgflow.service.monitoring import ensure_schedule_for
from tgflow.service.schedules import paused_on_create, schedule_action

#: The note of a schedule paused because its shop has ``enabled = false``: the mark ``schedule create`` looks
#: for before unpausing it (a pause with any other note is a person's and is kept).
DISABLED_NOTE = "shop disabled in settings (enabled = false); `tgflow schedule create` unpauses it once enabled"
ENABLED_NOTE = "shop enabled again in settings"


@dataclass(frozen=True)
class ShopTarget:
    """One shop and the single-shop settings view every per-shop code path takes."""

    shop: ShopSettings
    view: Settings


def targets(settings: Settings, shop_id: str | None) -> list[ShopTarget]:
    """The shop named (``--shop``), else every shop (the single-shop form's one shop included)."""
    chosen = [settings.shop(shop_id)] if shop_id else settings.shops()
    return [ShopTarget(shop, settings.for_shop(shop.id)) for shop in chosen]


def _problem(exc: BaseException) -> str:
    if isinstance(exc, RPCError):
        return f"Temporal refused ({exc.status.name if exc.status else 'error'}): {' '.join(str(exc).split())}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def missing(exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


async def apply_enabled(client: Client, schedule_id: str, enabled: bool) -> str | None:
    """Pause the schedule of a disabled shop (with :data:`DISABLED_NOTE`), unpause one paused for that reason
    once the shop is enabled. Returns what it did (``"paused"`` / ``"unpaused"``) or None. Safe to repeat."""
    handle = client.get_schedule_handle(schedule_id)
    state = (await handle.describe()).schedule.state
    if not enabled and not state.paused:
        await handle.pause(note=DISABLED_NOTE)
        return "paused"
    if enabled and state.paused and (state.note or "") == DISABLED_NOTE:
        await handle.unpause(note=ENABLED_NOTE)
        return "unpaused"
    return None


def disabled_refusal(shop_id: str) -> str:
    """Why a disabled shop's schedule is not unpaused (the CLI's row, the console's answer)."""
    return (f"shop {shop_id} is disabled in settings (enabled = false): set enabled = true, then "
            "`tgflow schedule create --which all`")


def _jobs(chosen: list[ShopTarget], which: str) -> Iterator[tuple[ShopTarget, Job]]:
    """Each chosen shop's schedule named ``which`` (or all of them), shop after shop."""
    for target in chosen:
        for job in jobs(target.view):
            if which in ("all", job.which):
                yield target, job


def _row(target: ShopTarget, job: Job, **values: Any) -> dict[str, Any]:
    return {"shop": target.shop.id, "which": job.which, "schedule_id": job.schedule_id, **values}


async def create_rows(client: Client, chosen: list[ShopTarget], which: str) -> list[dict[str, Any]]:
    """Create or update each shop's schedules (``which``: one name or ``all``), then apply its ``enabled``."""
    rows = []
    for target, job in _jobs(chosen, which):
        try:
            with paused_on_create(None if target.shop.enabled else DISABLED_NOTE):
                created = await ensure_schedule_for(client, target.view, job.which)
            change = await apply_enabled(client, job.schedule_id, target.shop.enabled)
            if created and not target.shop.enabled:
                change = "paused"  # created paused
        except Exception as exc:
            rows.append(_row(target, job, ok=False, error=_problem(exc)))
            continue
        rows.append(_row(target, job, ok=True, created=created,
                         every_minutes=job.every.total_seconds() / 60, enabled=target.shop.enabled,
                         paused_for_disabled=change == "paused", unpaused_for_enabled=change == "unpaused"))
    return rows


async def action_rows(client: Client, chosen: list[ShopTarget], which: str, action: str,
                      note: str | None = None) -> list[dict[str, Any]]:
    """Pause, unpause, trigger or delete each shop's schedule(s). A missing schedule is a failed row, except
    for ``delete`` (already gone: ok, ``existed`` false). Unpausing a disabled shop's schedule is refused (its
    row says to enable the shop), so ``enabled = false`` keeps meaning what it says."""
    rows = []
    for target, job in _jobs(chosen, which):
        if action == "unpause" and not target.shop.enabled:
            rows.append(_row(target, job, action=action, ok=False, error=disabled_refusal(target.shop.id)))
            continue
        try:
            await schedule_action(client, job.schedule_id, action, note)
        except Exception as exc:
            if missing(exc) and action == "delete":
                rows.append(_row(target, job, action=action, ok=True, existed=False))
            elif missing(exc):
                rows.append(_row(target, job, action=action, ok=False,
                                 error=f"schedule {job.schedule_id} does not exist; create it with "
                                       "`tgflow schedule create`"))
            else:
                rows.append(_row(target, job, action=action, ok=False, error=_problem(exc)))
            continue
        rows.append(_row(target, job, action=action, ok=True, **({"existed": True} if action == "delete" else {})))
    return rows


async def describe_schedule(client: Client, schedule_id: str) -> dict[str, Any]:
    """What `tgflow schedule describe` shows of one schedule; ``exists`` false when it was never created."""
    try:
        desc = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return {"schedule_id": schedule_id, "exists": False}
        raise
    spec = desc.schedule.spec
    info = desc.info
    return {
        "schedule_id": schedule_id,
        "exists": True,
        "every_seconds": [i.every.total_seconds() for i in spec.intervals],
        "paused": desc.schedule.state.paused,
        "note": desc.schedule.state.note or None,
        "overlap": desc.schedule.policy.overlap.name,
        "next_runs": [t.isoformat() for t in info.next_action_times[:3]],
        "recent_runs": [{"started_at": a.started_at.isoformat(),
                         "workflow_id": getattr(a.action, "workflow_id", None)} for a in info.recent_actions[-5:]],
        "running": [r.workflow_id for r in info.running_actions],
        "total_runs": info.num_actions,
        "skipped_overlaps": info.num_actions_skipped_overlap,
    }


async def describe_rows(client: Client, chosen: list[ShopTarget], which: str) -> list[dict[str, Any]]:
    """Each shop's schedule(s) described. A schedule not created is a failed row when asked for by name, and
    shown as not created (ok) with ``all``."""
    rows = []
    for target, job in _jobs(chosen, which):
        try:
            data = await describe_schedule(client, job.schedule_id)
        except Exception as exc:
            rows.append(_row(target, job, exists=None, ok=False, error=_problem(exc)))
            continue
        ok = data["exists"] or which == "all"
        rows.append(_row(target, job, enabled=target.shop.enabled, **data, ok=ok,
                         **({} if ok else {"error": f"schedule {job.schedule_id} does not exist; create it "
                                                    f"with `tgflow --shop {target.shop.id} schedule create "
                                                    f"--which {job.which}`"})))
    return rows
