"""The Luigi central scheduler started by churnlake: task history in SQLite, persisted state.

A real luigid process on a free port; a real Luigi worker (in this process) runs a task
against it over HTTP. No Spark: the DAG on luigid is exercised by the demo and issue 9.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
import urllib.request

import luigi
import pytest

from churnlake.config import load_config
from churnlake.services import luigid
from tests.conftest import lakehouse_env
from tests.integration.helpers import free_port

pytestmark = pytest.mark.integration


class Touch(luigi.Task):
    """Writes one file."""

    path = luigi.Parameter()

    def output(self):
        return luigi.LocalTarget(self.path)

    def run(self):
        with self.output().open("w") as out:
            out.write("done")


def api(port: int, method: str, data: dict) -> dict:
    query = urllib.parse.urlencode({"data": json.dumps(data)})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/{method}?{query}", timeout=10) as resp:
        return json.loads(resp.read())["response"]


def test_luigid_records_history_and_keeps_state_across_restarts(tmp_path):
    cfg = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    port = free_port()
    daemon = luigid.server(cfg, port)
    try:
        seconds = luigid.start(cfg, port)
        assert seconds < 30 and daemon.pid() is not None
        ok = luigi.build([Touch(path=str(tmp_path / "out.txt"))], scheduler_host="127.0.0.1",
                         scheduler_port=port, local_scheduler=False)
        assert ok
        done = api(port, "task_list", {"status": "DONE"})
        assert any(t["name"] == "Touch" for t in done.values())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/history", timeout=10) as resp:
            assert resp.status == 200 and b"Touch" in resp.read()
        with sqlite3.connect(luigid.paths(cfg)["history"]) as db:
            events = [r[0] for r in db.execute(
                "SELECT e.event_name FROM task_events e JOIN tasks t ON t.id = e.task_id "
                "WHERE t.name = 'Touch' ORDER BY e.ts")]
        assert events == ["PENDING", "RUNNING", "DONE"]
        assert daemon.stop()
        assert luigid.paths(cfg)["state"].is_file()  # state written on shutdown
        luigid.start(cfg, port)
        assert any(t["name"] == "Touch" for t in api(port, "task_list", {"status": "DONE"}).values())
    finally:
        daemon.stop()
    assert not daemon.pid()
