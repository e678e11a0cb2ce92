"""The product import's workflow and activity inputs/results (pure pydantic, no I/O).

Field names and shapes are part of running workflows' histories and of the pass activity's
heartbeat details (``PassProgress``): rename or retype nothing here without a replay test.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

#: The pass's phases, in order (``PassProgress.phase``); ``done`` once the last one finished.
PHASES = ("reserved", "stock", "articles", "statuses", "retry", "flush", "draft", "done")


# ---- the workflow -------------------------------------------------------------------------------------------------

class ProductImportInput(BaseModel):
    shop_id: str
    #: Walk the whole catalog (no cursors) and set products of vanished articles to draft.
    full: bool = False
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    pass_timeout_hours: float = 6.0
    heartbeat_timeout_seconds: float = 120.0


class ProductImportReport(BaseModel):
    shop_id: str
    full: bool = False
    status: str = "completed"  # completed | completed_with_errors | skipped
    #: A skipped run names the import that was running instead.
    skipped_for: str | None = None
    articles_read: int = 0
    stock_rows_read: int = 0
    created: int = 0
    updated: int = 0
    stock_updated: int = 0
    unchanged: int = 0
    drafted: int = 0
    errors: int = 0
    #: The first error reasons, each naming the SKU; all of them are in the status store.
    error_samples: list[str] = Field(default_factory=list)
    started_at: AwareDatetime
    finished_at: AwareDatetime
    duration_seconds: float = 0.0


# ---- the activities -----------------------------------------------------------------------------------------------

class BeginImportInput(BaseModel):
    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime


class BeginImportResult(BaseModel):
    articles_since: AwareDatetime | None = None
    stock_since: AwareDatetime | None = None
    #: Set when this run must not import: another import of the shop is running (its workflow id).
    skipped_for: str | None = None


class ImportCounts(BaseModel):
    articles_read: int = 0
    stock_rows_read: int = 0
    created: int = 0
    updated: int = 0
    stock_updated: int = 0
    unchanged: int = 0
    drafted: int = 0
    errors: int = 0

    def add(self, other: "ImportCounts") -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ImportPassInput(BaseModel):
    shop_id: str
    full: bool = False
    #: The run's start (workflow time): the full walk drafts what it did not see after it.
    started_at: AwareDatetime
    articles_since: AwareDatetime | None = None
    stock_since: AwareDatetime | None = None


class PassProgress(BaseModel):
    """The heartbeat: where a retried attempt resumes, and the counts so far."""

    phase: str = "reserved"
    cursor: str | None = None
    after_id: int = 0
    counts: ImportCounts = Field(default_factory=ImportCounts)
    error_samples: list[str] = Field(default_factory=list)


class ImportPassResult(BaseModel):
    counts: ImportCounts
    error_samples: list[str] = Field(default_factory=list)


class FinishImportInput(BaseModel):
    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime
    succeeded: bool
    full: bool = False
    counts: ImportCounts = Field(default_factory=ImportCounts)
    error_samples: list[str] = Field(default_factory=list)
    failure: str | None = None
