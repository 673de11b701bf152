"""A migrated, seeded database per dialect shared by the session (for tests that tidy up)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import DIALECTS, TestDatabase, fresh_database
from tests.support.widgets import HANDLER_MODULES


@pytest.fixture(scope="session", params=DIALECTS)
def shared_database(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    with fresh_database(str(request.param), tmp_path_factory.mktemp("shared"),
                        handler_modules=HANDLER_MODULES) as db:
        yield db
