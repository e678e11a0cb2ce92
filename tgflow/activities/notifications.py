"""The notification that answers a "Send to TotalGest" request: ``POST /notifications`` once per request.

Framework360 does not dedupe notifications and has no route to look one up, so the status store is what
makes it once: the request's row records the notification id Framework360 answered, and a run (a retried
activity, a re-run workflow) that finds it posts nothing.

An ambiguous failure - the POST was sent but no answer came back (a timeout, a dropped connection, a 5xx
that may have come after Framework360 stored it, a worker killed before recording the id) - is retried,
so the report is posted again. **We choose a possible duplicate bell over a possibly missing report**: the
person who pressed the button waits for exactly this message to learn which orders failed and why, and
nothing else tells them; a second copy is identical (same title, message, level and ``request_id``), so it
is recognisable and harmless. Every POST is counted in the store (``post_attempts``) and a repeat is logged,
so a duplicate can be explained. A definite refusal (wrong API key, a body Framework360 rejects) is not
retried: it fails the request's workflow with the one-line reason.
"""

from __future__ import annotations

import logging

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tgflow.activities.calls import temporal_errors
from tgflow.activities.deps import Deps
from tgflow.clients.framework360 import NotificationInput
from tgflow.contracts.export_requests import NotifyInput, NotifyResult
from tgflow.store import export_requests as erstore

log = logging.getLogger(__name__)

#: ApplicationError type of a notification Framework360 refuses (a person fixes the settings).
NOTIFICATION_REFUSED = "NotificationRefused"


def _notification_refused(reason: str, _number: str | None) -> ApplicationError:
    return ApplicationError(reason, type=NOTIFICATION_REFUSED, non_retryable=True)


class NotificationActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn
    async def notify_export_request(self, params: NotifyInput) -> NotifyResult:
        """Post the request's report unless the status store says it was posted; record its id."""
        db, shop, rid = self.deps.db, params.shop_id, params.request_id
        done = await db(erstore.notification_of, self.deps.store, shop, rid)
        if done is not None:
            return NotifyResult(notification_id=done, posted=False)
        before = await db(erstore.count_post, self.deps.store, shop, rid, params.workflow_id)
        if before:
            log.warning("request %s: %d earlier POST(s) of its notification got no answer; posting it again "
                        "(a second identical bell rather than no report)", rid, before)
        notice = params.notice
        # A TransientError (5xx, timeout, connection) propagates: Temporal retries, posting again (see above).
        with temporal_errors("posting the notification to Framework360", _notification_refused):
            notification_id = await self.deps.framework360.create_notification(NotificationInput(
                title=notice.title, message=notice.message, level=notice.level, request_id=rid))
        kept = await db(erstore.mark_notified, self.deps.store, shop, rid, notification_id=notification_id,
                        level=notice.level, title=notice.title)
        return NotifyResult(notification_id=kept, posted=True)


__all__ = ["NOTIFICATION_REFUSED", "NotificationActivities"]
