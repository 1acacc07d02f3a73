"""Integration tests run their jobs through the session's engine (tests/service_fixtures.py),
except the modules marked ``in_process`` (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import uses_engine


@pytest.fixture(scope="module", autouse=True)
def _jobs_through_the_engine(request):
    """Start this worker's engine before the module's first test (and before its other module
    fixtures, which autouse ones precede); tests of the classic path opt out with
    ``CHURNLAKE__ENGINE__REMOTE=classic``."""
    yield request.getfixturevalue("engine") if uses_engine(request.node) else None
