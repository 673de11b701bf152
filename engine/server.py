"""Run the app under gunicorn with the workers and bind address from settings."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from engine.app import create_app
from engine.config import Config, ConfigError
from engine.db import Database
from engine.gunicorn_worker import JsonErrorWorker
from engine.logs import gunicorn_logconfig
from engine.registry import STOPPING, start_services

log = logging.getLogger("taskmanager")
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms id=%({x-request-id}o)s'


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with our config; each worker process builds its own app (own DB pool)."""

    def __init__(self, config: Config, access_log: bool = True) -> None:
        self.config = config
        self.access_log = access_log
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": self.config.bind,
            "workers": self.config.workers,
            "threads": self.config.threads,
            # NOTE: gthread, never sync: long polls and event streams hold a thread for
            # seconds to minutes; a sync worker would serve nothing else meanwhile and be
            # killed by the arbiter's timeout. gthread's main loop keeps the worker alive.
            # Our subclass answers gunicorn's own errors (431, bad request line) in JSON.
            "worker_class": JsonErrorWorker,
            "post_worker_init": _stop_streams_on_sigterm,
            "accesslog": "-" if self.access_log else None,
            "access_log_format": ACCESS_LOG_FORMAT,
            "loglevel": self.config.log_level,
            "timeout": 60,
            "graceful_timeout": 30,
            "limit_request_line": 8190,
        }
        options.update(self._control_socket())
        if self.config.log_format == "json":
            options["logconfig_dict"] = gunicorn_logconfig(self.config.log_level)
        for key, value in options.items():
            self.cfg.set(key, value)

    def _control_socket(self) -> dict[str, Any]:
        """gunicorn's control socket only when a path is set.

        NOTE: gunicorn 25.1+ opens one by default at $XDG_RUNTIME_DIR/gunicorn.ctl or
        ~/.gunicorn/gunicorn.ctl, the same path for every server of the user: each new server
        unlinks its sibling's socket and each stopping one removes the path, so `gunicornc`
        would reach some other server or none.
        """
        path = self.config.control_socket
        if "control_socket_disable" not in self.cfg.settings:
            if path:
                raise ConfigError("Setting TASKMANAGER_CONTROL_SOCKET needs gunicorn 25.1 or "
                                  "newer; this one has no control socket.")
            return {}
        if not path:
            return {"control_socket_disable": True}
        return {"control_socket": str(Path(path).resolve()), "control_socket_disable": False}

    def load(self) -> Any:
        """In each worker process: the app, then the handler modules' background services."""
        db = Database.from_url(self.config.database_url, self.config.db_pool_size,
                               self.config.pg_notify == "on")
        app = create_app(self.config, db)
        start_services(self.config, db)
        return app


def _stop_streams_on_sigterm(worker: Any) -> None:
    """On SIGTERM, also set STOPPING so open streams end and the graceful stop is quick."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        STOPPING.set()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn: don't break running requests


def serve(config: Config, access_log: bool = True) -> None:
    if not config.auth_enabled:
        banner = "!" * 78
        log.warning("%s\nAUTH IS OFF: every request is treated as admin. Set TASKMANAGER_AUTH=on "
                    "and create keys with `taskmanager keys create` before exposing this "
                    "server.\n%s", banner, banner)
    GunicornServer(config, access_log).run()
