"""A job runs unchanged against a real Spark standalone master and worker.

The master and worker are started from the pip-installed Spark (``spark-class``), bound to
127.0.0.1, so nothing in the code can quietly depend on local mode.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import read_table
from tests.integration.helpers import VENV_BIN, free_port, pipeline_env, run, wait_for_port, write_sample

pytestmark = pytest.mark.integration


@pytest.fixture()
def standalone_cluster(tmp_path):
    env = pipeline_env(tmp_path)
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(tmp_path / "spark-logs"),
               SPARK_WORKER_DIR=str(tmp_path / "spark-work"), PYSPARK_PYTHON=str(VENV_BIN / "python"))
    env.pop("SPARK_HOME", None)
    port, ui, worker_ui = free_port(), free_port(), free_port()
    spark_class = str(VENV_BIN / "spark-class")
    logs = open(tmp_path / "cluster.log", "w")
    master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)], env=env, stdout=logs, stderr=logs)
    worker = None
    try:
        wait_for_port(port, 90, master)
        worker = subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker",
                                   f"spark://127.0.0.1:{port}", "--host", "127.0.0.1", "--cores", "1",
                                   "--memory", "1g", "--webui-port", str(worker_ui)],
                                  env=env, stdout=logs, stderr=logs)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                state = json.load(urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5))
            except OSError:  # the master's web UI starts a moment after its RPC port
                state = {}
            if state.get("aliveworkers", 0) >= 1:
                break
            time.sleep(1)
        else:
            raise TimeoutError("the standalone worker did not register with the master")
        yield f"spark://127.0.0.1:{port}", ui, env
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        logs.close()


def test_bronze_job_runs_on_a_standalone_master(standalone_cluster, tmp_path, spark):
    master_url, ui, env = standalone_cluster
    write_sample(tmp_path / "inbox" / "crm", 120)
    res = run(["./spark-submit.sh", "--master", master_url, "--conf", "spark.executor.memory=768m",
               "jobs/bronze/ingest_crm.py", "--run-date", "2026-11-27"], env)
    assert res.returncode == 0, res.stderr[-4000:]
    apps = json.load(urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5))["completedapps"]
    assert any(app["name"] == "bronze_ingest_crm" for app in apps), apps
    cfg = load_config(environ=env)
    assert read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).count() == 120
