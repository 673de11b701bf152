"""Run the app under gunicorn with the workers and bind address from settings."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from engine.app import create_app
from engine.config import Config

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
            "worker_class": "gthread" if self.config.threads > 1 else "sync",
            "accesslog": "-" if self.access_log else None,
            "access_log_format": ACCESS_LOG_FORMAT,
            "loglevel": self.config.log_level,
            "timeout": 60,
            "graceful_timeout": 30,
            "limit_request_line": 8190,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.config)


def serve(config: Config, access_log: bool = True) -> None:
    if not config.auth_enabled:
        banner = "!" * 78
        log.warning("%s\nAUTH IS OFF: every request is treated as admin. Set TASKMANAGER_AUTH=on "
                    "and create keys with `taskmanager keys create` before exposing this "
                    "server.\n%s", banner, banner)
    GunicornServer(config, access_log).run()
