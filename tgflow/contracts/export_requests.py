""""Send to TotalGest" from the shop's order list (Framework360 event ``orders.export_requested``).

Workflow/activity inputs and results, and the pure composition of the one notification that answers a
request. Ids, counts, order numbers and reasons only: never customer data, never ``requested_by`` (a person's
display name: it stays in the status store and the DEBUG log) and never a credential, because all of this goes
to workflow history. Pure pydantic, importable by use cases, workflows and activities alike.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: Framework360 sends 1 to this many order ids per request (contract 1.1).
MAX_REQUEST_ORDERS = 500
#: ``TgSyncKind`` of the request workflow.
REQUEST_KIND = "order-export-request"
#: Framework360's limits on a notification (contract 1.1 ``POST /notifications``).
TITLE_MAX = 120
MESSAGE_MAX = 4000
#: One failed order's line in the message at most (a reason is one line; this only cuts pathological ones).
LINE_MAX = 400

NotificationLevel = Literal["info", "warning", "error"]


class ExportPacing(BaseModel):
    """How hard each order's export tries (the same values as ``tgflow export-orders`` uses)."""

    max_concurrent: int = 10
    retry_for_hours: float = 24.0
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 10.0
    attempt_timeout_seconds: float = 90.0


class NotifyRetry(BaseModel):
    """How long the notification is retried while Framework360 does not answer."""

    retry_for_hours: float = 24.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    attempt_timeout_seconds: float = 30.0


class ExportRequestInput(BaseModel):
    """The request workflow's input: which orders, and the request it answers."""

    shop_id: str
    request_id: str
    order_ids: list[int] = Field(min_length=1, max_length=MAX_REQUEST_ORDERS)
    pacing: ExportPacing = Field(default_factory=ExportPacing)
    notify: NotifyRetry = Field(default_factory=NotifyRetry)


class RequestFailure(BaseModel):
    order_id: int
    number: str | None = None
    reason: str


class RequestOutcome(BaseModel):
    """What the bulk export did with the requested orders."""

    total: int = 0
    #: Registered in TotalGest by this request.
    succeeded: int = 0
    #: Already in TotalGest before (also counts as sent: the order is there).
    already_linked: int = 0
    #: Cancelled in the shop before export: not sent, not a failure.
    cancelled: int = 0
    failures: list[RequestFailure] = Field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.succeeded + self.already_linked

    @property
    def failed(self) -> int:
        return len(self.failures)


class Notice(BaseModel):
    title: str = Field(max_length=TITLE_MAX)
    message: str = Field(max_length=MESSAGE_MAX)
    level: NotificationLevel


class NotifyInput(BaseModel):
    """The notification activity's input (the composed notice and the request it answers)."""

    shop_id: str
    request_id: str
    workflow_id: str
    notice: Notice


class NotifyResult(BaseModel):
    notification_id: int
    #: False when the status store says an earlier run already posted it (nothing posted now).
    posted: bool


class ExportRequestResult(BaseModel):
    request_id: str
    total: int
    sent: int
    already_linked: int
    failed: int
    cancelled: int
    level: NotificationLevel
    notification_id: int


# ---- the notification (pure: safe in workflow code) ---------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def compose_notice(outcome: RequestOutcome) -> Notice:
    """Title with the counts, one line per failed order (number and reason), within Framework360's limits.

    Level ``info`` when every order is in TotalGest (or was cancelled in the shop), ``warning`` when some
    failed, ``error`` when none was sent."""
    total, sent, failed = outcome.total, outcome.sent, outcome.failed
    if failed == 0:
        level: NotificationLevel = "info"
    elif sent == 0:
        level = "error"
    else:
        level = "warning"
    title = f"TotalGest: {sent} of {_plural(total, 'order')} sent"
    if failed:
        title += f", {failed} failed"
    title = title[:TITLE_MAX]
    head: list[str] = []
    parts = [f"{outcome.succeeded} registered in TotalGest now"]
    if outcome.already_linked:
        parts.append(f"{outcome.already_linked} already there")
    if outcome.cancelled:
        parts.append(f"{outcome.cancelled} cancelled in the shop (not sent)")
    parts.append(f"{failed} failed")
    head.append(", ".join(parts) + ".")
    if failed:
        head.append("Fix the cause of each failed order, then send it again:")
    lines = [_clip(f"- {f.number or f'order id {f.order_id}'}: {' '.join(f.reason.split())}", LINE_MAX)
             for f in sorted(outcome.failures, key=lambda f: f.order_id)]
    return Notice(title=title, message=_fit("\n".join(head), lines), level=level)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fit(head: str, lines: list[str]) -> str:
    """``head`` then as many whole lines as fit in MESSAGE_MAX, then "… and N more" for the rest."""
    text = head
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1
        tail = f"\n… and {rest} more" if rest else ""
        if len(text) + 1 + len(line) + len(tail) <= MESSAGE_MAX:
            text += "\n" + line
            continue
        # This line does not fit together with what must follow it: stop here, naming what is left.
        more = f"\n… and {len(lines) - i} more"
        if len(text) + len(more) > MESSAGE_MAX:  # only a pathological head gets here
            text = text[:MESSAGE_MAX - len(more)]
        return text + more
    return text
