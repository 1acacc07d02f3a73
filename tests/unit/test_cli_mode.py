"""Which mode a whole Luigi run of ``churnlake.cli demo`` / ``hourly`` holds its jobs to."""

from __future__ import annotations

from types import SimpleNamespace

from churnlake.cli import mode_env


def test_a_run_started_on_the_engine_names_it_so_that_a_dead_engine_fails_jobs_instead_of_going_classic():
    engine = SimpleNamespace(remote_url="sc://127.0.0.1:41234")
    assert mode_env(engine, True) == {"CHURNLAKE__ENGINE__REMOTE": "sc://127.0.0.1:41234"}


def test_classic_when_asked_and_the_config_alone_when_it_names_where_jobs_go():
    assert mode_env(None, False) == {"CHURNLAKE__ENGINE__REMOTE": "classic"}
    assert mode_env(None, True) == {}
