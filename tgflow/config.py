"""The one settings object: environment variables (``TGFLOW_…``, nested with ``__``)
over a TOML file (``./tgflow.toml`` or ``$TGFLOW_CONFIG``).

Several shops (issue 15). A file either has the single-shop form (top-level ``[totalgest]`` and ``[f360]``,
or the ``TGFLOW_TOTALGEST__*`` / ``TGFLOW_F360__*`` variables), which is one shop whose id is its TotalGest
shop id, or ``[[shops]]`` tables, never both::

    [orders]                      # the defaults of every shop
    max_concurrent = 10
    [[shops]]
    id = "acme"                   # letters, digits, dashes; at most 32
    enabled = true                # the default
    payment_methods = {klarna = "RE"}   # merged over the top-level payment_methods
    orders = {max_concurrent = 4}       # merged over the top-level [orders]; [products] likewise
    [shops.totalgest]
    shop_id = "1001"; owner_id = "42"; endpoint = "tg00.bweb.ch"; username = "u"; password = "…"
    [shops.f360]
    base_url = "https://acme.example.com/api/v1"; api_key = "…"; webhook_secret = "…"

``settings.shops()`` lists every shop's effective values (:class:`ShopSettings`), ``settings.shop(id)`` one.

Migration path: the code reads ``settings.totalgest.*``, ``settings.f360.*``, ``settings.orders.*`` … as
if there were one shop. ``settings.for_shop(id)`` returns a :class:`Settings` *view* whose ``totalgest``,
``f360``, ``orders``, ``products`` and ``payment_methods`` are that shop's, so any existing code path runs
for one shop unchanged: the CLI gives every command the view of the shop chosen by ``--shop`` /
``TGFLOW_SHOP`` (``tgflow.cli.common.load_settings``). A worker, webhook receiver or report that serves
every shop later loops over ``settings.shops()`` and hands each part ``settings.for_shop(shop.id)``; call
sites move to ``shop.id`` for workflow/schedule ids one at a time. Until then:

- workflow and schedule ids and status-store rows are keyed by ``totalgest.shop_id`` (as today), so two
  ``[[shops]]`` with the same TotalGest shop id are refused;
- each ``[[shops]]`` view polls its own task queue, ``<temporal.task_queue>-<id>`` (or the shop's
  ``task_queue``), so a worker started for one shop (``TGFLOW_SHOP=acme tgflow worker``) never runs
  another shop's tasks with the wrong credentials. The single-shop form keeps ``temporal.task_queue``;
  moving an existing deployment into ``[[shops]]`` keeps its queue with ``task_queue = "tgflow"``.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
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
    #: Interval of the order reconciliation schedule (re-enqueues orders not linked).
    reconcile_every_minutes: float = 5.0
    #: The order reconciliation re-reads orders updated this long before its cursor (clock skew, late writes).
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


class DriftSettings(BaseModel):
    #: Interval of the drift report schedule (``drift-report-<shop>``): the ``tgflow drift-report`` report,
    #: read-only, with its findings recorded for ``tgflow status``. Unset: ``reconcile.every_hours`` (its
    #: former name, still read), else 24. Read it through ``Settings.drift_every_hours``.
    every_hours: float | None = None


class ReconcileSettings(BaseModel):
    #: Former name of ``drift.every_hours`` (the drift report was ``tgflow reconcile``): read when that is unset.
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


#: Shortest console secret accepted (it signs session cookies: anyone who knows it can forge a login).
CONSOLE_SECRET_MIN = 32


def _console_secret(value: SecretStr | None) -> SecretStr | None:
    """Unset or empty: None (the console makes a key at start); else at least ``CONSOLE_SECRET_MIN`` characters."""
    if value is None or not value.get_secret_value():
        return None
    if len(value.get_secret_value()) < CONSOLE_SECRET_MIN:
        raise ValueError(f"must have at least {CONSOLE_SECRET_MIN} characters (e.g. `openssl rand -hex 32`)")
    return value


class ConsoleSettings(BaseModel):
    """The web console (``tgflow console``)."""

    #: Signing key of the session cookies. Unset: a key made at start (logins last as long as the process,
    #: and several console processes do not share them).
    secret: SecretStr | None = None
    #: Where ``tgflow console`` listens unless --host/--port say otherwise.
    host: str = "127.0.0.1"
    port: int = Field(8800, ge=1, le=65535)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        return _console_secret(value)


SHOP_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def _overrides(model: type[BaseModel], value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A shop's ``orders`` / ``products`` table: only keys of ``model`` (a typo is an error, not a silent
    default), each value valid there. Kept as the given keys, merged over the top-level table later."""
    if value is None:
        return None
    unknown = sorted(set(value) - set(model.model_fields))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(model.model_fields)})")
    try:
        model.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error.get("loc", ()))
        raise ValueError(f"{key}: {error.get('msg', 'invalid')} (got {error.get('input')!r})") from None
    return dict(value)


class ShopEntry(BaseModel):
    """One ``[[shops]]`` table as written in the file (:class:`ShopSettings` holds the effective values)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    enabled: bool = True
    totalgest: TotalGestSettings = TotalGestSettings()
    f360: Framework360Settings = Framework360Settings()
    payment_methods: dict[str, str] | None = None
    orders: dict[str, Any] | None = None
    products: dict[str, Any] | None = None
    #: The task queue this shop's workflows run on; unset: ``<temporal.task_queue>-<id>``.
    task_queue: str | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not SHOP_ID.match(value):
            raise ValueError(f"{value!r} is not a shop id: letters, digits and dashes, at most 32, "
                             "not starting or ending with a dash")
        return value

    @field_validator("orders")
    @classmethod
    def _valid_orders(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _overrides(OrderExportSettings, value)

    @field_validator("products")
    @classmethod
    def _valid_products(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _overrides(ProductImportSettings, value)

    @model_validator(mode="after")
    def _shop_id_required(self) -> ShopEntry:
        if not self.totalgest.shop_id:
            raise ValueError("totalgest.shop_id is required (every workflow and schedule id carries it)")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_shop(cls, data: Any, handler: Any) -> ShopEntry:
        """Errors read ``shops[acme].totalgest.endpoint: …``: the shop and the key (pydantic's own
        location would only say ``shops.0``)."""
        try:
            return handler(data)
        except ValidationError as exc:
            shop = data.get("id") if isinstance(data, dict) else None
            label = f"shops[{shop}]" if isinstance(shop, str) and shop else "shops[#]"
            problems = []
            for error in exc.errors():
                where = ".".join(str(p) for p in error.get("loc", ()) if not isinstance(p, int))
                message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
                inner = re.match(r"^(\w+): (.*)$", message)
                if where in ("orders", "products") and inner:  # _overrides names the key inside the table
                    where, message = f"{where}.{inner.group(1)}", inner.group(2)
                problems.append(f"{label}.{where}: {message}" if where else f"{label}: {message}")
            raise ValueError("; ".join(problems)) from None


class ShopSettings(BaseModel):
    """One shop's effective settings: its own TotalGest and Framework360, the top-level ``orders``,
    ``products`` and ``payment_methods`` with the shop's overrides merged over them."""

    id: str
    enabled: bool = True
    totalgest: TotalGestSettings
    f360: Framework360Settings
    orders: OrderExportSettings
    products: ProductImportSettings
    payment_methods: dict[str, str]
    task_queue: str


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
    drift: DriftSettings = DriftSettings()
    #: Only ``reconcile.every_hours``, the former name of ``drift.every_hours``.
    reconcile: ReconcileSettings = ReconcileSettings()
    alerts: AlertSettings = AlertSettings()
    console: ConsoleSettings = ConsoleSettings()
    #: ``TGFLOW_CONSOLE_SECRET``, the former name of ``console.secret`` (read when that is unset; never saved).
    console_secret: SecretStr | None = Field(None, exclude=True)
    database_url: str = "sqlite:///./tgflow.db"
    payment_methods: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PAYMENT_METHODS))
    #: ``[[shops]]``: several shops in one deployment (see the module docstring). Empty: the single-shop form.
    #: Named ``shops`` in the file (``_TomlFile`` renames it: ``shops()`` is the accessor; an alias would
    #: make pydantic-settings read an unprefixed ``SHOPS`` environment variable).
    shops_config: list[ShopEntry] = Field(default_factory=list)
    #: ``[totalgest_rate_limits]``: TotalGest endpoint host (``tg00.bweb.ch``, or ``host:port``) -> activity
    #: starts per second for all the shops on it together; each shop's task queue gets its share
    #: (:func:`activity_rate_for`). Unset endpoints are not limited.
    totalgest_rate_limits: dict[str, float] | None = None

    #: The shop this is the view of (:meth:`for_shop`); None on the settings as loaded.
    _shop: str | None = PrivateAttr(default=None)
    #: The settings of every shop a :meth:`for_shop` view was taken from (the rate limit's share needs them).
    _whole: Settings | None = PrivateAttr(default=None)

    @field_validator("totalgest_rate_limits", mode="before")
    @classmethod
    def _valid_rate_limits(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, rate in value.items():
            host = endpoint_host(str(key))
            if not host or _url_problem(str(key).rstrip("/"), bare_host=True):
                raise ValueError(f"{key!r} is not a TotalGest endpoint host such as tg00.bweb.ch (or host:port)")
            if isinstance(rate, bool) or not isinstance(rate, (int, float, str)):
                raise ValueError(f"{key}: {rate!r} is not a number of activities per second")
            try:
                number = float(rate)
            except ValueError:
                raise ValueError(f"{key}: {rate!r} is not a number of activities per second") from None
            if not (0 < number < float("inf")):
                raise ValueError(f"{key}: {rate!r} must be a number of activities per second above 0")
            out[host] = number
        return out

    @model_validator(mode="after")
    def _one_form_unique_ids(self) -> Settings:
        if not self.shops_config:
            return self
        both = [name for name, value, default in (("[totalgest] / TGFLOW_TOTALGEST__*", self.totalgest, TotalGestSettings()),
                                                  ("[f360] / TGFLOW_F360__*", self.f360, Framework360Settings()))
                if value != default]
        if both:
            raise ValueError(f"both [[shops]] and the single-shop form ({' and '.join(both)}) are set: move those "
                             "values into a [[shops]] table, or remove the [[shops]] tables")
        seen: dict[str, str] = {}
        tg_seen: dict[str, str] = {}
        for entry in self.shops_config:
            if entry.id in seen:
                raise ValueError(f"shops[{entry.id}]: the shop id {entry.id!r} is used twice; each [[shops]] needs its own id")
            seen[entry.id] = entry.id
            tg = entry.totalgest.shop_id
            if tg in tg_seen:
                raise ValueError(f"shops[{entry.id}].totalgest.shop_id: {tg!r} is also shops[{tg_seen[tg]}]'s; workflow "
                                 "ids and status rows are keyed by the TotalGest shop id, so each shop needs its own")
            tg_seen[tg] = entry.id
        return self

    @model_validator(mode="after")
    def _rate_limits_name_an_endpoint(self) -> Settings:
        if not self.totalgest_rate_limits:
            return self
        hosts = {endpoint_host(shop.totalgest.endpoint) for shop in self.shops()} - {""}
        for host in self.totalgest_rate_limits:
            if host not in hosts:
                raise ValueError(f"totalgest_rate_limits: {host!r} is no shop's TotalGest endpoint; the endpoints "
                                 f"are: {', '.join(sorted(hosts)) or '(none)'}")
        return self

    @property
    def multi_shop(self) -> bool:
        """True when the shops come from ``[[shops]]`` tables (even just one)."""
        return bool(self.shops_config)

    @property
    def shop_key(self) -> str:
        """The id of the shop these settings are for: the view's shop, else the TotalGest shop id."""
        return self._shop or self.totalgest.shop_id

    def setting_name(self, key: str) -> str:
        """Where a person sets ``key`` (``"totalgest.password"``) for this shop: ``shops[acme].totalgest.password``
        in a ``[[shops]]`` view, else its environment variable ``TGFLOW_TOTALGEST__PASSWORD``."""
        if self._shop is not None:
            return f"shops[{self._shop}].{key}"
        return "TGFLOW_" + key.upper().replace(".", "__")

    @property
    def view_shop(self) -> str | None:
        """The ``[[shops]]`` id when these settings are one shop's view (:meth:`for_shop`), else None."""
        return self._shop

    @property
    def shop_enabled(self) -> bool:
        """Whether the shop of these settings (a view's shop, or the single shop) is enabled in the file."""
        return (self._whole or self).shop(self.shop_key).enabled

    def shops(self) -> list[ShopSettings]:
        """Every shop with its effective values, in the file's order; the single-shop form is one shop
        whose id is its TotalGest shop id."""
        if not self.shops_config:
            return [ShopSettings(id=self.totalgest.shop_id, enabled=True, totalgest=self.totalgest, f360=self.f360,
                                 orders=self.orders, products=self.products,
                                 payment_methods=dict(self.payment_methods), task_queue=self.temporal.task_queue)]
        return [self._effective(entry) for entry in self.shops_config]

    def _effective(self, entry: ShopEntry) -> ShopSettings:
        return ShopSettings(
            id=entry.id, enabled=entry.enabled, totalgest=entry.totalgest, f360=entry.f360,
            orders=OrderExportSettings.model_validate(self.orders.model_dump() | (entry.orders or {})),
            products=ProductImportSettings.model_validate(self.products.model_dump() | (entry.products or {})),
            payment_methods=dict(self.payment_methods) | (entry.payment_methods or {}),
            task_queue=entry.task_queue or f"{self.temporal.task_queue}-{entry.id}",
        )

    def shop_ids(self) -> list[str]:
        return [shop.id for shop in self.shops()]

    def shop(self, shop_id: str) -> ShopSettings:
        """One shop's effective values, or a :class:`ConfigError` listing the shops there are."""
        for shop in self.shops():
            if shop.id == shop_id:
                return shop
        raise ConfigError(f"no shop {shop_id!r} is configured; the shops are: {', '.join(self.shop_ids()) or '(none)'}")

    def for_shop(self, shop_id: str) -> Settings:
        """A single-shop view: these settings with ``totalgest``, ``f360``, ``orders``, ``products``,
        ``payment_methods`` and the task queue of shop ``shop_id``, and no ``[[shops]]`` (the migration path
        in the module docstring). The single-shop form's own shop gets these settings themselves."""
        shop = self.shop(shop_id)
        if not self.shops_config:
            return self
        view = self.model_copy(update={
            "totalgest": shop.totalgest, "f360": shop.f360, "orders": shop.orders, "products": shop.products,
            "payment_methods": shop.payment_methods, "shops_config": [],
            "temporal": self.temporal.model_copy(update={"task_queue": shop.task_queue}),
        })
        view._shop = shop.id
        view._whole = self
        return view

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

    @field_validator("console_secret")
    @classmethod
    def _former_console_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _console_secret(value)

    @model_validator(mode="after")
    def _console_secret_fallback(self) -> "Settings":
        if self.console.secret is None and self.console_secret is not None:
            self.console = self.console.model_copy(update={"secret": self.console_secret})
        return self

    @property
    def drift_every_hours(self) -> float:
        """The drift report's interval: ``drift.every_hours``, else the former ``reconcile.every_hours``."""
        return self.drift.every_hours if self.drift.every_hours is not None else self.reconcile.every_hours

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
            data = super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path} is not valid TOML: {exc}") from None
        if "shops" in data:
            data["shops_config"] = data.pop("shops")
        return data


def setting_name(loc: tuple[Any, ...]) -> str:
    """``("totalgest", "endpoint")`` -> ``TGFLOW_TOTALGEST__ENDPOINT``."""
    return "TGFLOW_" + "__".join(str(part).upper() for part in loc if not isinstance(part, int))


def describe_error(exc: Exception) -> str:
    """One line for a person: which setting is wrong and why (pydantic's own text is several lines)."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors():
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            loc = tuple(error.get("loc", ()))
            if loc[:1] == ("shops_config",):  # the message names the shop and the key (ShopEntry._name_the_shop)
                index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
                shown = message.replace("shops[#]", f"shops[#{index + 1}]") if index is not None else message
                if not shown.startswith("shops["):
                    shown = f"shops: {shown}"
                problems.append(shown)
            elif not loc:
                problems.append(message)
            else:
                problems.append(f"{setting_name(loc)}: {message}")
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
    shops = data.pop("shops_config", None)
    if shops:
        data["shops"] = shops
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def load_settings(*, require_file: bool = True, require_shop: bool = False, **overrides: Any) -> Settings:
    """The settings, or a :class:`ConfigError` naming what to fix: a ``TGFLOW_CONFIG`` file that does not
    exist (unless ``require_file`` is off), a TOML syntax error, a malformed value, or (with
    ``require_shop``) an empty shop id, which would otherwise end up in workflow and schedule ids
    (``[[shops]]`` tables require theirs when read)."""
    if require_file:
        require_config_file()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc)) from None
    if require_shop and not settings.multi_shop and not settings.totalgest.shop_id:
        raise ConfigError(f"TGFLOW_TOTALGEST__SHOP_ID is not set (in the environment or in {config_path()}): "
                          "every workflow and schedule id carries it; run `tgflow configure` or set it")
    return settings


def endpoint_host(endpoint: str) -> str:
    """The host (``host:port`` when a port is given) of a TotalGest endpoint, lower case: ``tg00.bweb.ch``
    for ``tg00.bweb.ch`` and ``https://tg00.bweb.ch/api/v1``; ``""`` when unset or not a URL."""
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint:
        return ""
    try:
        return urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").netloc.lower()
    except ValueError:
        return ""


def activity_rate_for(settings: Settings, shop_id: str) -> float | None:
    """Activity starts per second for shop ``shop_id``'s task queue (the Worker's
    ``max_task_queue_activities_per_second``, enforced by the Temporal server for the whole queue): its
    endpoint's ``totalgest_rate_limits`` divided by the number of shops on that endpoint, so the shops on one
    TotalGest server share its budget and one shop's backlog never takes another's share. None: no limit.
    ``settings`` may be the settings of every shop or a :meth:`Settings.for_shop` view."""
    whole = settings._whole or settings
    if not whole.totalgest_rate_limits:
        return None
    host = endpoint_host(whole.shop(shop_id).totalgest.endpoint)
    limit = whole.totalgest_rate_limits.get(host)
    if limit is None:
        return None
    return limit / sum(1 for shop in whole.shops() if endpoint_host(shop.totalgest.endpoint) == host)


def select_shop(settings: Settings, shop_id: str | None) -> Settings:
    """The view of the shop a command acts on (``--shop`` / ``TGFLOW_SHOP``): the named one; with no name,
    the only shop there is; with several, a :class:`ConfigError` listing them."""
    if shop_id:
        return settings.for_shop(shop_id)
    if not settings.multi_shop:
        return settings
    ids = settings.shop_ids()
    if len(ids) == 1:
        return settings.for_shop(ids[0])
    raise ConfigError(f"{len(ids)} shops are configured ({', '.join(ids)}): choose one with "
                      "`tgflow --shop ID …` or TGFLOW_SHOP=ID")
