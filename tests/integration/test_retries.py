"""Failure handling of the real ``luigi`` command with the project's conf/luigi.cfg.

Toy tasks (no Spark) in a module on PYTHONPATH import ``luigi_tasks``, so they run with the
project's event handlers (failure notifications, task-run records). The only change to the
configuration is a shorter retry delay, to keep the tests fast.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import time

import pytest

from churnlake.config import PROJECT_ROOT
from churnlake.monitoring import records
from tests.integration.helpers import VENV_BIN, pipeline_env

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"

TOY_MODULE = '''
"""Toy tasks for the retry tests: Flaky fails on its first attempt (or always), Dependant needs it."""
import os
from pathlib import Path

import luigi

import luigi_tasks  # noqa: F401 - the project's config, notifications and task-run records

BASE = Path(os.environ["RETRY_TEST_DIR"])


class Flaky(luigi.Task):
    run_date = luigi.DateParameter()
    always = luigi.BoolParameter(default=False)

    def output(self):
        return luigi.LocalTarget(str(BASE / "flaky.done"))

    def run(self):
        marker = BASE / "flaky.attempts"
        attempt = int(marker.read_text()) + 1 if marker.exists() else 1
        marker.write_text(str(attempt))
        if self.always or attempt == 1:
            raise RuntimeError(f"simulated failure on attempt {attempt}")
        self.output().open("w").close()


class Dependant(luigi.Task):
    run_date = luigi.DateParameter()
    always = luigi.BoolParameter(default=False)

    def requires(self):
        return Flaky(run_date=self.run_date, always=self.always)

    def output(self):
        return luigi.LocalTarget(str(BASE / "dependant.done"))

    def run(self):
        self.output().open("w").close()
'''


def project_luigi_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(PROJECT_ROOT / "conf" / "luigi.cfg")
    return parser


def run_toy(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """``luigi --module retry_toy Dependant …`` with the project's luigi.cfg (retry delay 1 s)."""
    cfg = project_luigi_config()
    cfg["scheduler"]["retry_delay"] = "1"
    test_cfg = tmp_path / "luigi.cfg"
    with test_cfg.open("w") as out:
        cfg.write(out)
    (tmp_path / "retry_toy.py").write_text(TOY_MODULE)
    env = pipeline_env(tmp_path)
    env.update({"LUIGI_CONFIG_PATH": str(test_cfg), "RETRY_TEST_DIR": str(tmp_path),
                "PYTHONPATH": f"{tmp_path}:{PROJECT_ROOT}", "CHURNLAKE_ALERT_WEBHOOK": ""})
    started = time.monotonic()
    res = subprocess.run([str(VENV_BIN / "luigi"), "--module", "retry_toy", "Dependant", "--run-date", RUN_DATE,
                          *args, "--local-scheduler"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    return res, time.monotonic() - started


def alerts(tmp_path) -> list[dict]:
    path = tmp_path / "logs" / "alerts.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_configuration_retries_within_one_invocation_and_exits_30_on_failure():
    cfg = project_luigi_config()
    assert cfg.getboolean("worker", "keep_alive")  # else the worker exits before the retry is due
    assert cfg.getboolean("scheduler", "prune_on_get_work")  # else re-queued only every 60 s
    assert cfg.getint("scheduler", "retry_count") >= 2 and cfg.getfloat("scheduler", "retry_delay") > 0
    assert cfg.getint("retcode", "task_failed") == 30


def test_a_task_failing_once_succeeds_on_retry_and_its_dependant_runs(tmp_path):
    res, _ = run_toy(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert (tmp_path / "flaky.attempts").read_text() == "2"
    assert (tmp_path / "dependant.done").exists()
    assert "succeeded in a retry" in out
    # The task-run records number the attempts; the run's status is succeeded.
    recs = records.read_records(tmp_path / "logs" / records.TASK_RUNS_FILE)
    attempts = records.task_attempts(recs, RUN_DATE)
    flaky = [(a["attempt"], a["status"]) for a in attempts if a["task_family"] == "Flaky"]
    assert flaky == [(1, "failed"), (2, "succeeded")]
    assert "simulated failure on attempt 1" in next(a["error"] for a in attempts if a["status"] == "failed")
    assert [(a["attempt"], a["status"]) for a in attempts if a["task_family"] == "Dependant"] == [(1, "succeeded")]
    overview = {t["task_family"]: t for t in records.task_overview(attempts)}
    assert overview["Flaky"]["attempts"] == 2 and overview["Flaky"]["status"] == "succeeded"
    assert records.run_status(list(overview.values())) == "succeeded"
    # The failed first attempt was notified, marked as one that is retried.
    [alert] = alerts(tmp_path)
    assert alert["task"] == "Flaky" and alert["attempt"] == 1 and alert["will_retry"] is True


def test_a_persistent_failure_stops_its_dependants_and_exits_30_promptly(tmp_path):
    res, elapsed = run_toy(tmp_path, "--always")
    out = res.stdout + res.stderr
    assert res.returncode == 30, out[-3000:]  # [retcode] task_failed
    retry_count = project_luigi_config().getint("scheduler", "retry_count")
    assert (tmp_path / "flaky.attempts").read_text() == str(retry_count)  # then disabled: no endless loop
    assert elapsed < 60, elapsed
    assert not (tmp_path / "dependant.done").exists()
    assert "were left pending" in out and "Dependant" in out.split("were left pending")[1]
    notes = alerts(tmp_path)
    assert [a["attempt"] for a in notes] == list(range(1, retry_count + 1))
    assert notes[-1]["will_retry"] is False and notes[-1]["max_attempts"] == retry_count
    assert notes[-1]["task"] == "Flaky" and "simulated failure" in notes[-1]["error"]
    recs = records.read_records(tmp_path / "logs" / records.TASK_RUNS_FILE)
    overview = {t["task_family"]: t for t in records.task_overview(records.task_attempts(recs, RUN_DATE))}
    assert overview["Flaky"]["status"] == "failed" and overview["Flaky"]["attempts"] == retry_count
    assert overview["Dependant"]["status"] == "pending" and overview["Dependant"]["attempts"] == 0
    assert records.run_status(list(overview.values())) == "failed"
