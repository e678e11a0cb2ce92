"""The one settings object: environment variables (``TGFLOW_…``, nested with ``__``)
over a TOML file (``./tgflow.toml`` or ``$TGFLOW_CONFIG``)."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "tgflow.toml"

#: Framework360 payment codes -> TotalGest payment-method codes.
DEFAULT_PAYMENT_METHODS: dict[str, str] = {
    "stripe": "CC",
    "card": "CC",
    "paypal": "PP",
    "twint": "TW",
    "invoice": "RE",
    "bacs": "VB",
    "bank_transfer": "VB",
    "cod": "NN",
}


class ConfigError(ValueError):
    """A configuration a person must fix; the message is one line naming the file or the variable."""


def config_path() -> Path:
    return Path(os.environ.get("TGFLOW_CONFIG", DEFAULT_CONFIG_FILE))


def require_config_file() -> None:
    """A file named by ``TGFLOW_CONFIG`` must exist: a mistyped path would otherwise read as "nothing set"."""
    named = os.environ.get("TGFLOW_CONFIG")
    if named is not None and not Path(named).is_file():
        raise ConfigError(f"TGFLOW_CONFIG names {named}, which does not exist: fix the path, unset TGFLOW_CONFIG "
                          "(to read ./tgflow.toml), or create it with `tgflow configure`")


_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?$")


def _url_problem(value: str, *, bare_host: bool) -> str | None:
    """Why ``value`` is not an http(s) URL (or, with ``bare_host``, a host such as tg00.bweb.ch); None when fine."""
    if not value:
        return None
    shown = value
    example = "a host such as tg00.bweb.ch or a URL such as https://tg00.bweb.ch/api/v1" if bare_host \
        else "a URL such as https://shop.example.com/api/v1"
    if "://" not in value:
        if not (bare_host and _HOST.match(value)):
            return f"{shown!r} is not {example}"
        value = f"https://{value}"  # checked as the URL it stands for (its port, below)
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return f"{shown!r} has a malformed port: {example}"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        return f"{shown!r} is not {example}"
    return None


class TotalGestSettings(BaseModel):
    shop_id: str = ""
    owner_id: str = ""
    endpoint: str = Field("", description="bare host such as tg00.bweb.ch, or a full base URL")
    username: str = ""
    password: SecretStr = SecretStr("")
    #: Warehouses whose stock is sellable; ``None`` means all of them.
    warehouses: list[str] | None = None
    timeout_seconds: float = 30.0

    @field_validator("shop_id", "owner_id", "username")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        value = value.strip()
        problem = _url_problem(value.rstrip("/"), bare_host=True)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def base_url(self) -> str:
        """A bare host means the vendor's standard HTTPS API root."""
        endpoint = self.endpoint.strip().rstrip("/")
        if not endpoint:
            return ""
        if "://" in endpoint:
            return endpoint
        return f"https://{endpoint}/api/v1"


class Framework360Settings(BaseModel):
    base_url: str = ""
    api_key: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    timeout_seconds: float = 30.0

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        problem = _url_problem(value, bare_host=False)
        if problem:
            raise ValueError(problem)
        return value


class TemporalSettings(BaseModel):
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "tgflow"
    #: Web UI root used to print links to workflows.
    ui_url: str = "http://localhost:8233"
    api_key: SecretStr | None = None
    tls_cert_path: str | None = None
    tls_key_path: str | None = None


class OrderExportSettings(BaseModel):
    #: How many order exports the queue runs at once (protects TotalGest).
    max_concurrent: int = 10
    #: How long transient failures keep being retried before the export fails.
    retry_for_hours: float = 24.0
    #: Interval of the reconciliation schedule.
    reconcile_every_minutes: float = 5.0
    #: The reconciliation re-reads orders updated this long before its cursor (clock skew, late writes).
    reconcile_overlap_seconds: float = 120.0
    #: Backoff of an export step's transient failures (5xx, timeouts, 429): first wait and longest wait. Short:
    #: the TotalGest client already retries its safe calls inside the step, and a repeated step only looks up
    #: again before creating (cheap and safe), so a step that still fails is retried soon rather than minutes later.
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 10.0
    #: One attempt of an export step longer than this is given up and retried (a worker that died mid-call).
    attempt_timeout_seconds: float = 90.0
    #: The queue continues as new after this many history events (None: when Temporal suggests it).
    queue_continue_after_events: int | None = None


class ProductImportSettings(BaseModel):
    every_minutes: float = 5.0
    #: Cursors are moved back by this much so changes made during a run are not missed.
    cursor_overlap_seconds: float = 120.0
    article_page_size: int = 500
    stock_page_size: int = 1000
    #: Completed shop orders not yet in TotalGest reserve stock; only orders updated this recently are read.
    reserve_lookback_days: float = 14.0
    reserve_max_orders: int = 2000
    #: Retries of a pass (it resumes from its last heartbeat): first wait, longest wait, give up after.
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    pass_timeout_hours: float = 6.0
    heartbeat_timeout_seconds: float = 120.0


class ShipmentImportSettings(BaseModel):
    """Parcels TotalGest -> Framework360 (``shipment-import-<shop>``, ``tgflow import-shipments``)."""

    every_minutes: float = 5.0
    #: The cursor over ``/order-changes`` is moved back by this much so changes made during a run are read again.
    cursor_overlap_seconds: float = 120.0
    page_size: int = 200
    #: Retries of a pass (it resumes from its last page): first wait, longest wait, give up after.
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    pass_timeout_hours: float = 2.0
    heartbeat_timeout_seconds: float = 120.0
    #: One shipment's fulfillment keeps being retried (5xx, timeouts) this long before it is recorded as failed.
    shipment_retry_for_hours: float = 24.0
    #: One attempt of a shipment's fulfillment longer than this is given up and retried (a worker that died).
    attempt_timeout_seconds: float = 90.0


class ReconcileSettings(BaseModel):
    #: Interval of the drift report schedule (``drift-report-<shop>``): the ``tgflow reconcile`` report,
    #: read-only, with its findings recorded for ``tgflow status``.
    every_hours: float = 24.0


class AlertSettings(BaseModel):
    #: Where alerts are POSTed as JSON (``{"text": ...}`` works with Slack-style incoming webhooks).
    #: Unset: alerts are still recorded and shown by ``tgflow status``, just not sent. A secret: such URLs
    #: carry their token.
    webhook_url: SecretStr | None = None
    #: Failed orders plus products in error at or above this number raise the ``failures`` alert.
    failure_threshold: int = 1
    #: A schedule that has not completed a run for this many of its intervals raises an alert.
    stale_intervals: int = 3
    #: Interval of the health check schedule (``health-check-<shop>``) that evaluates and sends alerts.
    check_every_minutes: float = 5.0
    #: An alert still firing is sent again after this long.
    repeat_hours: float = 24.0
    #: Drift found by the last drift report raises the ``drift`` alert.
    on_drift: bool = True
    timeout_seconds: float = 10.0


class MetricsSettings(BaseModel):
    #: Prometheus endpoint of the worker (``/metrics``); off when unset.
    port: int | None = None
    host: str = "127.0.0.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TGFLOW_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    totalgest: TotalGestSettings = TotalGestSettings()
    f360: Framework360Settings = Framework360Settings()
    temporal: TemporalSettings = TemporalSettings()
    orders: OrderExportSettings = OrderExportSettings()
    products: ProductImportSettings = ProductImportSettings()
    shipments: ShipmentImportSettings = ShipmentImportSettings()
    metrics: MetricsSettings = MetricsSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    alerts: AlertSettings = AlertSettings()
    database_url: str = "sqlite:///./tgflow.db"
    payment_methods: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PAYMENT_METHODS))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _TomlFile(settings_cls, toml_file=config_path()),
        )

    def missing_fields(self) -> list[str]:
        """Names (as env variables) of required settings that are empty."""
        required = {
            "TGFLOW_TOTALGEST__SHOP_ID": self.totalgest.shop_id,
            "TGFLOW_TOTALGEST__OWNER_ID": self.totalgest.owner_id,
            "TGFLOW_TOTALGEST__ENDPOINT": self.totalgest.endpoint,
            "TGFLOW_TOTALGEST__USERNAME": self.totalgest.username,
            "TGFLOW_TOTALGEST__PASSWORD": self.totalgest.password.get_secret_value(),
            "TGFLOW_F360__BASE_URL": self.f360.base_url,
            "TGFLOW_F360__API_KEY": self.f360.api_key.get_secret_value(),
        }
        return [name for name, value in required.items() if not value]


class _TomlFile(TomlConfigSettingsSource):
    """The TOML source, whose syntax errors name the file (tomllib's name only the line and column)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path} is not valid TOML: {exc}") from None


def setting_name(loc: tuple[Any, ...]) -> str:
    """``("totalgest", "endpoint")`` -> ``TGFLOW_TOTALGEST__ENDPOINT``."""
    return "TGFLOW_" + "__".join(str(part).upper() for part in loc if not isinstance(part, int))


def describe_error(exc: Exception) -> str:
    """One line for a person: which setting is wrong and why (pydantic's own text is several lines)."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors():
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{setting_name(tuple(error.get('loc', ())))}: {message}")
        return "; ".join(problems) + f" (set in the environment or in {config_path()})"
    return str(exc).replace("\n", " ")


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings as TOML readable by the owner only (it holds passwords)."""
    path = path or config_path()
    data = _plain(settings.model_dump())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def load_settings(*, require_file: bool = True, require_shop: bool = False, **overrides: Any) -> Settings:
    """The settings, or a :class:`ConfigError` naming what to fix: a ``TGFLOW_CONFIG`` file that does not
    exist (unless ``require_file`` is off), a TOML syntax error, a malformed value, or (with
    ``require_shop``) an empty shop id, which would otherwise end up in workflow and schedule ids."""
    if require_file:
        require_config_file()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc)) from None
    if require_shop and not settings.totalgest.shop_id:
        raise ConfigError(f"TGFLOW_TOTALGEST__SHOP_ID is not set (in the environment or in {config_path()}): "
                          "every workflow and schedule id carries it; run `tgflow configure` or set it")
    return settings
