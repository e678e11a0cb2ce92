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


# ---- mistakes a person makes, each one line naming what to fix (issue 11, items 7 and 9) ----------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from tgflow.config import ConfigError, load_settings  # noqa: E402

READ_ONLY_COMMANDS = [["status"], ["orders", "list"], ["orders", "show", "F360-10001"], ["products", "list"],
                      ["products", "show", "ART-00001"], ["products", "cursor", "show"], ["alerts", "list"]]


def _tgflow(cwd, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")} | {"COLUMNS": "300"} | env
    return subprocess.run([sys.executable, "-m", "tgflow", *args], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=60)


def _configured(tmp_path, **changes) -> str:
    """A complete configuration whose status database is tmp_path/status.db (not created)."""
    s = Settings(totalgest={"shop_id": "1001", "owner_id": "42", "endpoint": "127.0.0.1:9", "username": "u",
                            "password": "pw"},
                 f360={"base_url": "http://127.0.0.1:9/api/v1", "api_key": "k"},
                 database_url=f"sqlite:///{tmp_path / 'status.db'}")
    for section, values in changes.items():
        setattr(s, section, getattr(s, section).model_copy(update=values))
    return str(save_settings(s, tmp_path / "configured.toml"))


@pytest.mark.parametrize("args", [["status"], ["orders", "list"], ["schedule", "create", "--which", "all"]],
                         ids=["status", "orders-list", "schedule-create"])
def test_a_mistyped_config_path_is_an_error_naming_it_and_creates_nothing(tmp_path, args):
    wrong = tmp_path / "tgflow-typo.toml"
    result = _tgflow(tmp_path, *args, TGFLOW_CONFIG=str(wrong))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(wrong) in lines[0] and "does not exist" in lines[0], result.stderr
    assert "not created" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no ./tgflow.db, nothing else


def test_load_settings_refuses_a_missing_named_file_but_configure_may_create_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="nope.toml, which does not exist"):
        load_settings()
    assert load_settings(require_file=False).totalgest.shop_id == ""


@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=lambda a: "-".join(a))
def test_status_commands_do_not_create_a_status_database(tmp_path, args):
    config = _configured(tmp_path)
    result = _tgflow(tmp_path, *args, TGFLOW_CONFIG=config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no status database at sqlite:///{tmp_path / 'status.db'} yet" in result.stderr
    assert "tgflow worker" in result.stderr and result.stdout == ""
    assert not (tmp_path / "status.db").exists() and not (tmp_path / "tgflow.db").exists()


def test_an_empty_shop_id_never_makes_it_into_an_id(tmp_path):
    config = _configured(tmp_path, totalgest={"shop_id": "  "})
    for args in (["schedule", "create", "--which", "all"], ["import-products"], ["orders", "list"]):
        result = _tgflow(tmp_path, *args, TGFLOW_CONFIG=config)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "TGFLOW_TOTALGEST__SHOP_ID is not set" in result.stderr
        assert "product-import-" not in result.stdout + result.stderr
    assert not (tmp_path / "status.db").exists()


def test_a_toml_syntax_error_names_the_file_and_the_line(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('[totalgest]\nshop_id = "1001"\nowner_id = = "42"\n')
    result = _tgflow(tmp_path, "status", TGFLOW_CONFIG=str(bad))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "line 3" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("endpoint", ["not a url", "http://", "ftp://tg00.bweb.ch", "tg00.bweb.ch:99999"])
def test_a_malformed_endpoint_is_a_settings_error_naming_the_variable(endpoint, monkeypatch):
    monkeypatch.setenv("TGFLOW_TOTALGEST__ENDPOINT", endpoint)
    with pytest.raises(ConfigError) as raised:
        load_settings(require_file=False)
    assert str(raised.value).startswith("TGFLOW_TOTALGEST__ENDPOINT: ") and "\n" not in str(raised.value)


# ---- the console's section (issue 14) ---------------------------------------------------------------------------

CONSOLE_KEY = "console-Secret-4-" + "k" * 24


def test_the_console_secret_comes_from_the_toml_file_or_the_environment_and_never_shows(isolated, monkeypatch):
    (isolated / "tgflow.toml").write_text(f'[console]\nsecret = "{CONSOLE_KEY}"\nport = 8900\n')
    s = Settings()
    assert s.console.secret is not None and s.console.secret.get_secret_value() == CONSOLE_KEY
    assert (s.console.host, s.console.port) == ("127.0.0.1", 8900)
    monkeypatch.setenv("TGFLOW_CONSOLE__SECRET", "e" * 40)
    monkeypatch.setenv("TGFLOW_CONSOLE__HOST", "0.0.0.0")
    s = Settings()
    assert s.console.secret.get_secret_value() == "e" * 40 and s.console.host == "0.0.0.0"  # the environment wins
    shown = repr(s) + str(s) + s.model_dump_json()
    assert "e" * 40 not in shown and CONSOLE_KEY not in shown
    # Saved by `tgflow configure` under [console] (mode 0600), read back the same.
    path = save_settings(Settings(console={"secret": CONSOLE_KEY}))
    assert tomllib.loads(path.read_text())["console"]["secret"] == CONSOLE_KEY
    monkeypatch.delenv("TGFLOW_CONSOLE__SECRET")
    assert Settings().console.secret.get_secret_value() == CONSOLE_KEY


def test_the_former_console_secret_variable_still_works_and_the_new_name_wins(monkeypatch):
    assert Settings().console.secret is None
    monkeypatch.setenv("TGFLOW_CONSOLE_SECRET", "f" * 32)
    assert Settings().console.secret.get_secret_value() == "f" * 32
    monkeypatch.setenv("TGFLOW_CONSOLE__SECRET", "n" * 32)
    assert Settings().console.secret.get_secret_value() == "n" * 32
    monkeypatch.setenv("TGFLOW_CONSOLE__SECRET", "")  # empty means unset: a key made at start
    monkeypatch.setenv("TGFLOW_CONSOLE_SECRET", "")
    assert Settings().console.secret is None


@pytest.mark.parametrize("variable", ["TGFLOW_CONSOLE__SECRET", "TGFLOW_CONSOLE_SECRET"])
def test_a_short_console_secret_is_one_line_naming_the_variable_not_the_value(variable, monkeypatch):
    monkeypatch.setenv(variable, "short-Secret-5")
    with pytest.raises(ConfigError) as raised:
        load_settings(require_file=False)
    message = str(raised.value)
    assert message.startswith(f"{variable}: must have at least 32 characters") and "\n" not in message
    assert "short-Secret-5" not in message


def test_setting_name_says_where_a_key_is_set():
    """One-shop messages name the environment variable; a [[shops]] shop's name its table's key."""
    from tgflow.config import Settings

    single = Settings(totalgest={"shop_id": "1001"})
    assert single.setting_name("totalgest.password") == "TGFLOW_TOTALGEST__PASSWORD"
    assert single.setting_name("f360.api_key") == "TGFLOW_F360__API_KEY"
    shops = Settings(shops_config=[
        {"id": "acme", "totalgest": {"shop_id": "1", "owner_id": "2", "endpoint": "tg00.bweb.ch", "username": "u",
                                     "password": "p"},
         "f360": {"base_url": "https://acme.example.com/api/v1", "api_key": "k"}}])
    assert shops.for_shop("acme").setting_name("totalgest.password") == "shops[acme].totalgest.password"
