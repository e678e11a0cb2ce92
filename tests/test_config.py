"""Settings: env over TOML, the endpoint rule, secrets kept secret, file mode 0600."""

from __future__ import annotations

import stat
import tomllib

import pytest

from tgflow.config import DEFAULT_PAYMENT_METHODS, Settings, save_settings


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("TGFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "tgflow.toml"))
    return tmp_path


def test_bare_host_means_https_api_root_and_full_url_is_kept():
    assert Settings(totalgest={"endpoint": "tg00.bweb.ch"}).totalgest.base_url == "https://tg00.bweb.ch/api/v1"
    assert Settings(totalgest={"endpoint": "http://127.0.0.1:8801/api/v1/"}).totalgest.base_url == "http://127.0.0.1:8801/api/v1"


def test_env_wins_over_toml_and_nested_names_work(isolated, monkeypatch):
    (isolated / "tgflow.toml").write_text(
        '[totalgest]\nshop_id = "from-file"\nowner_id = "7"\n[temporal]\ntask_queue = "q-file"\n'
    )
    monkeypatch.setenv("TGFLOW_TOTALGEST__SHOP_ID", "from-env")
    monkeypatch.setenv("TGFLOW_TOTALGEST__WAREHOUSES", '["MAIN", "STORE"]')
    monkeypatch.setenv("TGFLOW_PAYMENT_METHODS", '{"stripe": "CC", "klarna": "RE"}')
    monkeypatch.setenv("TGFLOW_DATABASE_URL", "postgresql://u@127.0.0.1:5432/tg")
    s = Settings()
    assert s.totalgest.shop_id == "from-env"
    assert s.totalgest.owner_id == "7"
    assert s.temporal.task_queue == "q-file"
    assert s.temporal.address == "localhost:7233" and s.temporal.namespace == "default"
    assert s.totalgest.warehouses == ["MAIN", "STORE"]
    assert s.payment_methods == {"stripe": "CC", "klarna": "RE"}
    assert s.database_url == "postgresql://u@127.0.0.1:5432/tg"


def test_defaults():
    s = Settings()
    assert s.database_url == "sqlite:///./tgflow.db"
    assert s.payment_methods == DEFAULT_PAYMENT_METHODS
    assert s.totalgest.warehouses is None
    assert "TGFLOW_TOTALGEST__PASSWORD" in s.missing_fields()


def test_saved_file_is_private_round_trips_and_secrets_never_show(isolated):
    s = Settings(
        totalgest={"shop_id": "1001", "owner_id": "42", "endpoint": "tg00.bweb.ch", "username": "u", "password": "pw-Secret-1"},
        f360={"base_url": "https://shop.example.com/api/v1", "api_key": "key-Secret-2", "webhook_secret": "hook-Secret-3-xxxxxx"},
    )
    path = save_settings(s)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data["totalgest"]["password"] == "pw-Secret-1"
    again = Settings()
    assert again.totalgest.password.get_secret_value() == "pw-Secret-1"
    assert again.f360.api_key.get_secret_value() == "key-Secret-2"
    shown = repr(again) + str(again) + again.model_dump_json()
    for secret in ("pw-Secret-1", "key-Secret-2", "hook-Secret-3-xxxxxx"):
        assert secret not in shown
