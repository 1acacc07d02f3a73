"""Integration tests run their jobs through the session's engine (tests/service_fixtures.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _jobs_through_the_engine(engine):
    """Start the engine before the first integration test of this worker (and its module
    fixtures); tests of the classic path opt out with ``CHURNLAKE__ENGINE__REMOTE=classic``."""
    yield engine
