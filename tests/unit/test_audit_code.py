"""The audit's tree checks without a database: unused code (vulture) and OLD_FILES_TO_REMOVE.md."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import vulture

from engine.cli import COMMANDS, build_parser
from engine.registry import Handler, load_handler_modules
from tests.conftest import ROOT
from tools.audit import deadcode, old_files
from tools.audit.report import ERROR, FINDING, NOTICE, Finding, Report

FILES = {
    "engine/web.py": '''
        """Falcon resources, middleware and a gunicorn app: called by frameworks."""
        from gunicorn.app.base import BaseApplication

        class Resource:
            def on_get(self, req, resp):
                resp.media = {}

            def on_post_bulk(self, req, resp):
                resp.media = []

        class Middleware:
            def process_request(self, req, resp):
                pass

            def process_response(self, req, resp, resource, req_succeeded):
                pass

        class Server(BaseApplication):
            def load_config(self):
                pass

            def load(self):
                return None

        def build(app):
            app.req_options.strip_url_path_trailing_slash = True
            app.add_route("/", Resource())
            app.add_middleware(Middleware())
            return Server

        def shared_helper():
            return 1

        UNUSED_CONSTANT = 3

        def _is_small(checker, instance):
            return instance < 10

        def direct(value, ignored):
            return value

        CHECKERS = [direct(_is_small, 1)]
    ''',
    "handlers/widgets.py": '''
        """A registered handler (called by name) and a dead helper."""
        from engine.registry import handler

        @handler("fx_widget_get")
        def get_widget(request, conn):
            return {}

        def never_called():
            return 2
    ''',
    "tools/cmd.py": '''
        def _fx_command(args, config):
            return 0
    ''',
    "relay/user.py": '''
        from engine.web import shared_helper
        print(shared_helper())
    ''',
    "tests/test_only.py": '''
        from handlers.widgets import never_called
        assert never_called()
    ''',
    "pyproject.toml": '''
        [project.scripts]
        fixture = "engine.web:build"
    ''',
}


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip())
    return root


def named(func_name: str) -> Handler:
    def func() -> None: ...

    func.__name__ = func_name
    return Handler(func_name, func, True)


def test_only_real_dead_code_is_reported(tmp_path: Path) -> None:
    root = make_tree(tmp_path, FILES)

    def _fx_command() -> None: ...

    found = deadcode.unused_code(root, ["engine", "handlers", "tools"],
                                 {"fx_widget_get": named("get_widget")},
                                 {"fx": _fx_command})
    assert sorted(f.subject for f in found) == [
        "engine/web.py:34 UNUSED_CONSTANT", "engine/web.py:39 ignored", "engine/web.py:42 CHECKERS",
        "handlers/widgets.py:8 never_called"]
    assert {f.section for f in found} == {"dead-code"} and all(f.removal for f in found)

    raw = vulture.Vulture()  # without the whitelist vulture calls all of these unused
    raw.scavenge([str(root / "engine"), str(root / "handlers"), str(root / "tools")])
    unwhitelisted = {item.name for item in raw.get_unused_code()}
    assert {"on_get", "on_post_bulk", "process_request", "req_succeeded", "load_config",
            "get_widget", "_fx_command", "strip_url_path_trailing_slash", "checker",
            "CHECKERS"} <= unwhitelisted


def test_no_false_positives_on_handlers_responders_or_commands() -> None:
    handlers = load_handler_modules(["handlers"])
    build_parser()  # loads the plugin commands too
    found = deadcode.unused_code(ROOT, ["engine", "handlers", "tools"], handlers, COMMANDS)
    names = {f.subject.split()[-1] for f in found}
    protected = {h.func.__name__ for h in handlers.values()} | {
        f.__name__ for f in COMMANDS.values()} | {
        "on_get", "process_request", "process_response", "resource", "req_succeeded",
        "load_config", "load", "register", "main", "steps", "strip_url_path_trailing_slash"}
    assert not names & protected, found


OLD_FILES = f"""# Old files to remove

Intro text.

{old_files.BEGIN}
stale generated text
{old_files.END}

## Hand-written

- `handlers/legacy.py`: replaced by handlers/widgets.py
- `scripts/old.sh`: replaced by scripts/serve.sh
- `handlers/gone.py`: removed last week
- `docs/removed.md`: removed, but the README still links it
Not a list item: `handlers/widgets.py`.

## Removal checklist
1. Search the whole tree (code, seeds, docs, CI) for references to the file or endpoint.
2. Tag the last commit that has it (`git tag archive/<name>`).
3. Remove it in its own commit, and delete its line here.
"""


def test_listed_files_and_their_references(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "OLD_FILES_TO_REMOVE.md": OLD_FILES,
        "handlers/__init__.py": "from handlers import legacy, widgets  # noqa\n",
        "handlers/legacy.py": "X = 1\n",
        "handlers/widgets.py": "Y = 2\n",
        "scripts/old.sh": "echo old\n",
        "README.md": "See [the old doc](docs/removed.md).\n",
        "tests/test_legacy.py": "import handlers.legacy\n",
    })
    found = {f.subject: f for f in old_files.check(root)}
    assert set(found) == {"handlers/legacy.py", "scripts/old.sh", "handlers/gone.py",
                          "docs/removed.md"}
    legacy = found["handlers/legacy.py"]
    assert legacy.level == FINDING
    assert legacy.evidence == "still referenced by handlers/__init__.py:1, tests/test_legacy.py:1"
    assert found["scripts/old.sh"].level == FINDING
    assert "no references left" in found["scripts/old.sh"].evidence
    assert found["handlers/gone.py"].level == NOTICE
    removed = found["docs/removed.md"]
    assert (removed.level, removed.evidence) == (FINDING, "by README.md:1")


def test_write_replaces_only_the_generated_section(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"OLD_FILES_TO_REMOVE.md": OLD_FILES})
    findings = [Finding("handlers", FINDING, "handler fx_orphan", "no endpoint names it",
                        "handlers/x.py:3 | evidence", removal=True),
                Finding("drift", FINDING, "GET /api/x", "in the YAML only")]
    old_files.write(root, findings)
    text = (root / old_files.NAME).read_text()
    assert "stale generated text" not in text
    assert "| `handler fx_orphan` | no endpoint names it | handlers/x.py:3 \\| evidence |" in text
    assert "GET /api/x" not in text
    assert text.split(old_files.END)[1] == OLD_FILES.split(old_files.END)[1]
    assert text.split(old_files.BEGIN)[0] == OLD_FILES.split(old_files.BEGIN)[0]
    old_files.write(root, [])
    assert "Nothing flagged" in (root / old_files.NAME).read_text()
    assert old_files.listed((root / old_files.NAME).read_text())[0] == "handlers/legacy.py"


def test_write_creates_the_document(tmp_path: Path) -> None:
    old_files.write(tmp_path, [])
    text = (tmp_path / old_files.NAME).read_text()
    assert old_files.BEGIN in text and "## Removal checklist" in text


def test_exit_codes() -> None:
    def report(level: str | None, strict: bool = False) -> int:
        found = [Finding("drift", level, "x", "y")] if level else []
        return Report(found, strict=strict).exit_code()

    assert (report(None), report(None, strict=True)) == (0, 0)
    assert (report(NOTICE), report(NOTICE, strict=True)) == (0, 1)
    assert (report(FINDING), report(FINDING, strict=True)) == (1, 1)
    assert (report(ERROR), report(ERROR, strict=True)) == (2, 2)
    text = Report([Finding("endpoints", ERROR, "GET /x", "bad", "in the YAML")]).text()
    assert "Endpoints that cannot be served (1)" in text and text.endswith("-> exit 2")
