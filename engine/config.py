"""Settings, declared once: name, default, parser and help; read from `TASKMANAGER_*`."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.db import POSTGRES_SCHEMES, dialect_of_url

ENV_PREFIX = "TASKMANAGER_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting has a value the service cannot start with."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number above 0")
    return value


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:///", "mysql://", "mysql+pymysql://", "mysql+mysqlclient://",
                           *POSTGRES_SCHEMES)):
        raise ValueError("must start with sqlite:///, mysql:// or postgresql://")
    return raw


def _amqp_url(raw: str) -> str:
    if raw and not raw.startswith(("amqp://", "amqps://")):
        raise ValueError("must start with amqp:// or amqps:// (or be empty)")
    return raw


def _bind(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must look like HOST:PORT, e.g. 127.0.0.1:8000")
    return raw


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError("must be one of " + ", ".join(allowed))
        return value

    return parse


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _networks(raw: str) -> tuple[str, ...]:
    networks = []
    for part in _csv(raw):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network "
                             "(e.g. 10.0.0.0/8, 127.0.0.1, ::1)") from None
    return tuple(networks)


def _module_list(raw: str) -> tuple[str, ...]:
    modules = _csv(raw)
    if not modules:
        raise ValueError("must name at least one module")
    return modules


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "sqlite:///taskmanager.db", _database_url,
            "Database: sqlite:///path.db (embedded), mysql://user:pass@host:port/db (PyMySQL; "
            "mysql+mysqlclient://... for the C driver, the `mysqlclient` extra) or "
            "postgresql://user:pass@host:port/db."),
    Setting("BIND", "127.0.0.1:8000", _bind, "Address gunicorn listens on (HOST:PORT)."),
    Setting("WORKERS", "2", _positive_int, "Number of gunicorn worker processes."),
    Setting("THREADS", "8", _positive_int,
            "Threads per worker process (gunicorn gthread): requests served at once, "
            "open long polls and event streams included."),
    Setting("CONTROL_SOCKET", "", str,
            "Path of gunicorn's control socket for `gunicornc` (gunicorn 25.1+); empty: none. "
            "Give each server on a host its own path."),
    Setting("RELOAD_INTERVAL", "1.0", _positive_float,
            "Seconds between checks of the endpoint table's revision in each process."),
    Setting("MAX_BODY_BYTES", "1048576", _positive_int,
            "Largest accepted request body in bytes; larger bodies get 413."),
    Setting("CORS_ORIGINS", "", _csv,
            "Comma-separated origins allowed by CORS ('*' for any); empty disables CORS."),
    Setting("AUTH", "auto", _choice("auto", "on", "off"),
            "API key auth: on, off, or auto (on for MySQL and PostgreSQL, off for SQLite)."),
    Setting("HANDLER_MODULES", "handlers", _module_list,
            "Comma-separated Python modules that register custom handlers."),
    Setting("MIGRATIONS_DIR", str(PROJECT_ROOT / "migrations"), str,
            "Folder of yoyo migrations."),
    Setting("SEED_FILE", str(PROJECT_ROOT / "seeds" / "endpoints.yaml"), str,
            "YAML file of endpoint definitions used by `taskmanager seed`."),
    Setting("DB_POOL_SIZE", "4", _positive_int,
            "Most idle MySQL/PostgreSQL connections kept per process."),
    Setting("PG_NOTIFY", "on", _choice("on", "off"),
            "PostgreSQL: LISTEN/NOTIFY wakes long polls, event streams and the endpoint reload "
            "at once (one extra connection per process); off: poll only, e.g. behind a "
            "transaction-mode pooler, which drops LISTEN."),
    Setting("AMQP_URL", "", _amqp_url,
            "RabbitMQ URL for `taskmanager events relay` (amqp://user:pass@host:5672/vhost); "
            "empty: events are not relayed to a broker."),
    Setting("WEBHOOK_PRIVATE_ADDRESSES", "deny", _choice("deny", "allow"),
            "Whether webhooks may go to loopback, private and link-local addresses."),
    Setting("RATE_LIMIT", "on", _choice("on", "off"),
            "Enforce the rate limits of endpoint rows (their rate_limit); off ignores them."),
    Setting("RATE_LIMIT_FAIL", "open", _choice("open", "closed"),
            "When the counter database fails: open serves the request uncounted, closed "
            "answers 503."),
    Setting("TRUSTED_PROXIES", "", _networks,
            "Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed; "
            "empty: the client is the TCP peer."),
    Setting("TASK_LOG_MAX_LINES", "10000", _positive_int,
            "Most log lines a worker can add to one task (POST /api/tasks/{id}/logs); later "
            "lines are dropped and one warning line says so. Status lines are always written."),
    Setting("SCHEDULER", "on", _choice("on", "off"),
            "Whether each server process ticks the recurring schedules in a background thread "
            "(off: run `taskmanager scheduler` instead, or nothing is enqueued)."),
    Setting("SCHEDULER_INTERVAL", "5.0", _positive_float,
            "Seconds between scheduler ticks of a process (jittered by 20%)."),
    Setting("LOG_LEVEL", "info", _choice("debug", "info", "warning", "error"),
            "Log level of the server and CLI."),
    Setting("LOG_FORMAT", "text", _choice("text", "json"),
            "Log lines as text, or as one JSON object per line (access log fields included)."),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}
# Settings owned by packages outside the engine (e.g. a CLI plugin's TASKMANAGER_URL): `load`
# accepts and checks them at start-up, their owners read them.
EXTERNAL_SETTINGS: dict[str, Setting] = {}


def declare_external(*settings: Setting) -> None:
    """Make another package's settings known to `load`, so they are not 'unknown'."""
    for setting in settings:
        EXTERNAL_SETTINGS[setting.name] = setting


@dataclass(frozen=True)
class Config:
    """Parsed settings; attribute names are the lower-case setting names."""

    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def dialect(self) -> str:
        return dialect_of_url(self.database_url)

    @property
    def auth_enabled(self) -> bool:
        if self.auth == "auto":
            return self.dialect != "sqlite"
        return bool(self.auth == "on")

    def with_overrides(self, **overrides: str) -> Config:
        env = {s.env: str(v) for s, v in self._raw_items()}
        env.update({ENV_PREFIX + k.upper(): v for k, v in overrides.items()})
        return load(env)

    def _raw_items(self) -> list[tuple[Setting, Any]]:
        items = []
        for setting in SETTINGS:
            value = self.values[setting.name]
            raw = ",".join(value) if isinstance(value, tuple) else value
            items.append((setting, raw))
        return items


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Read every setting from `environ` (default `os.environ`).

    Raises:
        ConfigError: a value does not parse, or an unknown `TASKMANAGER_*` variable is set.
    """
    environ = os.environ if environ is None else environ
    known = _BY_NAME.keys() | EXTERNAL_SETTINGS.keys()
    unknown = sorted(
        key for key in environ if key.startswith(ENV_PREFIX)
        and key[len(ENV_PREFIX):] not in known and not key.startswith(ENV_PREFIX + "TEST_")
    )
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]}; known settings: "
                          + ", ".join(s.env for s in (*SETTINGS, *EXTERNAL_SETTINGS.values())))
    for setting in EXTERNAL_SETTINGS.values():
        if setting.env in environ:
            try:
                setting.parse(environ[setting.env])
            except ValueError as exc:
                raise ConfigError(f"Setting {setting.env}={environ[setting.env]!r} is invalid: "
                                  f"{exc}.") from None
    values = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env, setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"Setting {setting.env}={raw!r} is invalid: {exc}.") from None
    return Config(values)
