"""What the phases of a pass share: the progress heartbeat, the outcome of a batch of writes, status values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from tgflow.activities.deps import Deps
from tgflow.clients.framework360 import IntegrationStatus
from tgflow.contracts.products import ImportCounts, PassProgress
from tgflow.mapping.products import MappedProduct
from tgflow.store.models import ProductLink, utcnow

#: How many error reasons travel in activity results and reports (all are in the store).
MAX_ERROR_SAMPLES = 20
#: Written article pages whose links and status PUTs may still be going on while the next page is written.
PAGES_IN_FLIGHT = 2


def warehouses(deps: Deps) -> list[str] | None:
    """The warehouses whose stock is sellable (None: all)."""
    return deps.settings.totalgest.warehouses


# ---- progress (the pass's heartbeat) -------------------------------------------------------------------------------

def beat(progress: PassProgress) -> None:
    activity.heartbeat(progress.model_dump(mode="json"))


def merge(progress: PassProgress, outcome: Outcome) -> None:
    progress.counts.add(outcome.counts)
    room = MAX_ERROR_SAMPLES - len(progress.error_samples)
    if room > 0:
        progress.error_samples.extend(outcome.errors[:room])


def advance(progress: PassProgress, phase: str) -> None:
    progress.phase, progress.cursor, progress.after_id = phase, None, 0
    beat(progress)


# ---- what a batch of writes leaves to store and to send ------------------------------------------------------------

@dataclass
class Item:
    """One product to bring in line: mapped content + where it stands."""

    mapped: MappedProduct
    tg_article_id: int | None
    link: ProductLink | None
    stock: int
    reserved: int
    hashes: dict[str, str] = field(default_factory=dict)
    fp: str = ""


@dataclass
class StatusPut:
    """One status-column write; its link is stored ``pending`` until the PUT is confirmed."""

    sku: str
    product_id: int
    status: IntegrationStatus


@dataclass
class Outcome:
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[str] = field(default_factory=list)
    #: Link values to store (by SKU) and the status PUTs still to send after storing them.
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    puts: list[StatusPut] = field(default_factory=list)
    #: Keys (SKUs) of the articles of a page, to mark seen by this pass once its links are stored.
    seen: list[str] = field(default_factory=list)

    def put(self, sku: str, product_id: int, status: IntegrationStatus) -> None:
        self.changes[sku]["status"] = "pending"
        self.puts.append(StatusPut(sku, product_id, status))


def status(value: str, tg_article_id: int | None, message: str | None = None) -> IntegrationStatus:
    return IntegrationStatus(status=value, remote_id=str(tg_article_id) if tg_article_id is not None else None,
                             message=message, synced_at=utcnow())


def intended_status(link: ProductLink) -> IntegrationStatus:
    """What a ``pending`` link's unconfirmed PUT was to write: a refusal keeps its reason, the rest is linked."""
    if link.last_error:
        return status("error", link.tg_article_id, link.last_error)
    return status("linked", link.tg_article_id)
