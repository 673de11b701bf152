"""engine/gunicorn_worker.py: a worker's settled copy of gunicorn's settings answers the same."""

from __future__ import annotations

import pytest
from gunicorn.config import Config

from engine.gunicorn_worker import SettledConfig, settled


def test_every_setting_reads_the_same_and_is_kept_once_read():
    cfg = Config()
    cfg.set("threads", 7)
    cfg.set("bind", ["127.0.0.1:9"])
    copy = settled(cfg)
    for name in cfg.settings:
        assert getattr(copy, name) == getattr(cfg, name), name
    assert copy.__dict__["threads"] == 7  # kept: no Config.__getattr__ on the next read
    assert copy.worker_class_str == cfg.worker_class_str  # properties work as before
    assert copy.address == cfg.address


def test_the_original_stays_a_plain_config():
    cfg = Config()
    copy = settled(cfg)
    copy.workers  # noqa: B018
    assert type(cfg) is Config and "workers" not in cfg.__dict__
    assert isinstance(copy, SettledConfig)


def test_unknown_names_still_raise():
    with pytest.raises(AttributeError):
        settled(Config()).no_such_setting  # noqa: B018
