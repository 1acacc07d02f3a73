"""The engine (one Spark driver serving Spark Connect and Thrift JDBC) and the two job modes.

- The same job files run classic (their own driver JVM) and as clients of the engine, and
  give the same table content.
- ``./engine.sh status`` tells whether both endpoints answer.
- A job whose engine dies mid-run fails with a message naming the endpoint and the way back;
  after a restart the same run date completes with no duplicate rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from churnlake import tables
from churnlake.config import PROJECT_ROOT, load_config
from churnlake.delta import read_table
from churnlake.services.engine import Engine
from tests.integration.helpers import failed_line, free_port, pipeline_env, run, write_sample

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
SAMPLE_ROWS = 150
#: Columns that differ between any two runs (ingestion time) or lakehouses (landed file paths).
RUN_SPECIFIC = ("_ingested_at", "_source_file")

#: (job, runs in the mode under test). Validation runs through the engine in both lakehouses: a
#: classic driver JVM costs ≈ 30–65 s of the suite's two cores per job, and the two modes are
#: compared on ingestion (a write from files) and silver (a read of validated Delta tables
#: and a merge). The classic lakehouse so also proves that the modes read each other's tables.
JOBS = ((["jobs/bronze/ingest_crm.py"], True),
        (["jobs/validation/validate_bronze.py", "--table", "crm_customers"], False),
        (["jobs/silver/customers.py"], True))


def submit(job: list[str], env: dict[str, str], run_date: str = RUN_DATE) -> subprocess.CompletedProcess:
    return run([str(PROJECT_ROOT / "spark-submit.sh"), *job, "--run-date", run_date], env)


def content(spark, table, cfg):
    df = read_table(spark, table, cfg)
    return sorted(map(tuple, df.drop(*[c for c in RUN_SPECIFIC if c in df.columns]).collect()), key=repr)


def test_a_job_gives_the_same_tables_classic_and_through_the_engine(tmp_path, spark, engine):
    results = {}
    for mode in ("classic", "engine"):
        base = tmp_path / mode
        env = pipeline_env(base)
        assert env["CHURNLAKE__ENGINE__REMOTE"] == engine.remote_url
        write_sample(base / "inbox" / "crm", SAMPLE_ROWS)
        for job, in_mode in JOBS:
            classic = mode == "classic" and in_mode
            res = submit(job, env | {"CHURNLAKE__ENGINE__REMOTE": "classic"} if classic else env)
            assert res.returncode == 0, f"{mode} {job}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
            # The job's START line names where it ran, and engine-mode jobs are forks of the
            # engine's job launcher (a silent fallback to a process of their own would show here).
            start = [ln for ln in (res.stdout + res.stderr).splitlines() if " START run_date=" in ln][-1]
            spark_at, process = start.split(" spark=", 1)[1].split(" process=")
            assert spark_at == ("classic (own driver)" if classic else engine.remote_url)
            assert process == ("own" if classic else f"fork of the job launcher (pid {engine.launcher_pid()})")
        cfg = load_config(environ=env)
        results[mode] = {t.name: content(spark, t, cfg)
                         for t in (tables.BRONZE_CRM_CUSTOMERS, tables.SILVER_CUSTOMERS)}
    assert len(results["engine"][tables.SILVER_CUSTOMERS.name]) == SAMPLE_ROWS
    assert results["engine"] == results["classic"]


def test_status_names_both_endpoints(engine):
    env = {**os.environ, "CHURNLAKE__STATE_DIR": str(engine.cfg.state_dir),
           "CHURNLAKE__LOGS_DIR": str(engine.cfg.logs_dir)}
    res = subprocess.run([str(PROJECT_ROOT / "engine.sh"), "status"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Spark Connect {engine.remote_url}: answers" in res.stdout
    assert f"JDBC          {engine.jdbc_url('gold')}: answers" in res.stdout


def _wait_for_line(path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{text!r} did not appear in {path} within {timeout}s")


def test_a_job_whose_engine_dies_fails_clearly_and_a_rerun_after_restart_has_no_duplicates(tmp_path, spark):
    """A second engine of its own (the session's keeps serving the other tests), killed while
    the CRM job works, started again on the same ports and state."""
    env = pipeline_env(tmp_path)
    cfg = load_config(environ=env)
    connect_port, thrift_port = free_port(), free_port()
    # No launcher of its own: the job goes through the session engine's (tests/service_fixtures.py).
    server = Engine(cfg, connect_port=connect_port, thrift_port=thrift_port, driver_memory="1g", launcher=False)
    server.start()
    env["CHURNLAKE__ENGINE__REMOTE"] = server.remote_url
    write_sample(tmp_path / "inbox" / "crm", SAMPLE_ROWS)
    try:
        job = subprocess.Popen([str(PROJECT_ROOT / "spark-submit.sh"), "jobs/bronze/ingest_crm.py",
                                "--run-date", RUN_DATE], cwd=PROJECT_ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The job has started and is opening its session or working: the engine dies (no
        # clean shutdown). Either way the job must name the engine and fail within seconds.
        _wait_for_line(cfg.logs_dir / "bronze_ingest_crm.log", "START run_date", 120)
        time.sleep(0.5)
        os.kill(server.pid(), signal.SIGKILL)
        out, err = job.communicate(timeout=180)
        res = subprocess.CompletedProcess(job.args, job.returncode, out, err)
        assert res.returncode == 1, out[-2000:] + err[-2000:]
        line = failed_line(res)
        assert f"engine at {server.remote_url} does not answer" in line and "make engine-start" in line
        assert server.stop() or True  # reap the killed process, remove its pid file
        # Whatever the kill left behind, after a restart the same date completes once.
        server = Engine(cfg, connect_port=connect_port, thrift_port=thrift_port, driver_memory="1g",
                        launcher=False)
        server.start()
        res = submit(["jobs/bronze/ingest_crm.py"], env)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
        assert bronze.count() == SAMPLE_ROWS
        assert bronze.select("customerID").distinct().count() == SAMPLE_ROWS
    finally:
        server.stop()


def test_a_job_sent_to_an_engine_that_is_not_running_says_how_to_start_it(tmp_path):
    env = pipeline_env(tmp_path) | {"CHURNLAKE__ENGINE__REMOTE": f"sc://127.0.0.1:{free_port()}"}
    write_sample(tmp_path / "inbox" / "crm", 5)
    res = submit(["jobs/bronze/ingest_crm.py"], env)
    assert res.returncode == 1
    line = failed_line(res)
    assert "EngineUnavailable" in line and "does not answer" in line and "make engine-start" in line


#: Two clients of one engine whose sessions expire after 5 s idle: one from the jobs' factory
#: (which touches its session every 2 s here), one bare. Both idle for longer than the
#: expiry plus the engine's 30 s sweep, then query again. Prints what each got.
IDLE_CLIENTS = """
import json, sys, time
from pyspark.sql import SparkSession
from churnlake import spark as factory
from churnlake.config import load_config
factory.KEEPALIVE_S = 2.0
kept = factory.connect_spark("kept", load_config(), sys.argv[1])
bare = SparkSession.builder.remote(sys.argv[1]).create()
bare.range(1).count()
time.sleep(float(sys.argv[2]))
out = {}
for name, session in (("kept", kept), ("bare", bare)):
    try:
        out[name] = session.range(5).count()
    except Exception as exc:
        out[name] = type(exc).__name__ + ": " + str(exc)[:300]
print(json.dumps(out))
"""


def test_a_job_session_outlives_a_long_step_without_spark_while_an_idle_one_is_closed(tmp_path):
    """The ticket pages at 1 M customers take longer than the engine's idle expiry
    (engine.session_timeout): the job's session must still be open when the job comes back."""
    env = pipeline_env(tmp_path) | {"CHURNLAKE__ENGINE__SESSION_TIMEOUT": "5s"}
    server = Engine(load_config(environ=env), connect_port=free_port(), thrift_port=free_port(),
                    driver_memory="1g", launcher=False)
    server.start()
    try:
        res = run([sys.executable, "-c", IDLE_CLIENTS, server.remote_url, "40"], env)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        got = json.loads(res.stdout.strip().splitlines()[-1])
        assert got["kept"] == 5
        assert "SESSION_CLOSED" in str(got["bare"])
    finally:
        server.stop()
