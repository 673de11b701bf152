"""`taskmanager --help` and each engine subcommand's help name the variables they read."""

from __future__ import annotations

import pytest

from engine.cli import build_parser
from engine.config import SETTINGS
from tests.unit.test_docs import COMMANDS

ENGINE_COMMANDS = ["serve", "migrate", "seed", "endpoints", "keys", "openapi"]


def test_top_level_help_lists_every_setting():
    text = build_parser().format_help()
    assert all(setting.env in text for setting in SETTINGS)


@pytest.mark.parametrize("name", ENGINE_COMMANDS)
def test_subcommand_help_lists_environment(name):
    text = COMMANDS[name].format_help()
    assert "environment:" in text and "TASKMANAGER_" in text
    if name != "serve":
        assert "TASKMANAGER_DATABASE_URL" in text or name == "openapi"
