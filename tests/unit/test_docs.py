"""README.md documents every setting, every CLI command and every seeded endpoint.

Like datasette's test_docs.py: adding a setting, a subcommand or an endpoint without a line in
the README fails here, with the missing names in the message.
"""

from __future__ import annotations

import argparse
import re

import pytest
import yaml

from engine.cli import build_parser
from engine.config import SETTINGS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
SEED_FILE = ROOT / "seeds" / "endpoints.yaml"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _actions(parser: argparse.ArgumentParser) -> list[str]:
    """A subcommand's own verbs: nested subcommands, or the choices of its first positional."""
    nested = _subcommands(parser)
    if nested:
        return list(nested)
    for action in parser._actions:
        if not action.option_strings and action.choices:
            return [str(choice) for choice in action.choices]
    return []


COMMANDS = _subcommands(build_parser())


def _mentioned(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def test_every_setting_is_documented():
    missing = [s.env for s in SETTINGS if not _mentioned(README, s.env)]
    assert not missing, f"README.md does not mention these settings: {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_cli_command_is_documented(name):
    lines = [line for line in README.splitlines() if _mentioned(line, f"taskmanager {name}")]
    assert lines, f"README.md never shows `taskmanager {name}`"
    text = "\n".join(lines)
    missing = [verb for verb in _actions(COMMANDS[name]) if not _mentioned(text, verb)]
    assert not missing, (f"README.md lines showing `taskmanager {name}` do not mention: "
                         f"{missing}")


def _seeded() -> list[dict]:
    return yaml.safe_load(SEED_FILE.read_text())["endpoints"]


def _path_mentioned(path: str) -> bool:
    # A whole path: `/api/tasks` is not found inside `/api/tasks/{id}`.
    return re.search(rf"(?<![\w/{{}}.-]){re.escape(path)}(?![\w/{{}}.-])", README) is not None


def test_every_seeded_endpoint_is_documented():
    missing = [f"{e['method']} {e['path']} ({e['operation_id']})" for e in _seeded()
               if not _path_mentioned(e["path"])]
    assert not missing, (
        "README.md does not mention these endpoints of seeds/endpoints.yaml; add each path "
        "to the README's route table:\n  " + "\n  ".join(missing))


def test_the_checks_find_something():
    assert len(SETTINGS) > 10 and len(COMMANDS) >= 6 and len(_seeded()) >= 3
    assert not _path_mentioned("/api/no-such-endpoint")
    assert _mentioned("`taskmanager seed --file`", "taskmanager seed")
    assert not _mentioned("taskmanager seeds", "taskmanager seed")
