"""Settings parse from the environment and fail with a sentence naming the setting."""

import pytest

from engine.config import SETTINGS, ConfigError, load


def test_defaults_parse():
    config = load({})
    assert config.database_url == "sqlite:///taskmanager.db"
    assert config.dialect == "sqlite"
    assert config.auth_enabled is False
    assert config.workers == 2


def test_auth_auto_is_on_for_mysql():
    assert load({"TASKMANAGER_DATABASE_URL": "mysql://u:p@h/db"}).auth_enabled is True
    assert load({"TASKMANAGER_DATABASE_URL": "postgresql://u@h/db"}).auth_enabled is True
    assert load({"TASKMANAGER_DATABASE_URL": "postgres://u@h/db"}).dialect == "postgresql"
    assert load({"TASKMANAGER_DATABASE_URL": "mysql://u:p@h/db",
                 "TASKMANAGER_AUTH": "off"}).auth_enabled is False


@pytest.mark.parametrize(("name", "value"), [
    ("WORKERS", "zero"), ("WORKERS", "0"), ("BIND", "8000"), ("DATABASE_URL", "oracle://x"),
    ("RELOAD_INTERVAL", "-1"), ("AUTH", "maybe"), ("MAX_BODY_BYTES", "1.5"),
])
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=f"TASKMANAGER_{name}"):
        load({f"TASKMANAGER_{name}": value})


def test_unknown_setting_is_rejected():
    with pytest.raises(ConfigError, match="TASKMANAGER_WORKRES"):
        load({"TASKMANAGER_WORKRES": "4"})


def test_every_setting_has_help():
    assert all(s.help.endswith(".") for s in SETTINGS)
