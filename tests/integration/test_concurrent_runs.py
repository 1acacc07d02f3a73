"""Two runs of the pipeline for the same date started at once (two `make demo`, each with its
own local scheduler): every task runs once; the other run waits for it and does nothing."""

import subprocess

import pytest

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import read_table
from tests.integration.helpers import PROJECT_ROOT, VENV_BIN, pipeline_env, write_sample

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
ROWS = 40


def test_two_runs_for_one_date_at_once_run_each_task_once(tmp_path, spark):
    env = pipeline_env(tmp_path)
    cfg = load_config(environ=env)
    write_sample(tmp_path / "inbox" / "crm", ROWS)
    cmd = [str(VENV_BIN / "luigi"), "--module", "luigi_tasks.ingestion", "BronzeCrm", "--run-date", RUN_DATE,
           "--local-scheduler"]
    # Two different command lines reaching the same task (Luigi's own process lock only stops a
    # second copy of the *same* command line: it exits 10, "already running").
    runs = [subprocess.Popen(c, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for c in (cmd, [*cmd, "--workers", "1"])]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    log = (tmp_path / "logs" / "bronze_ingest_crm.log").read_text()
    assert log.count("START run_date") == 1  # the job ran once
    waited = [out for out in outputs if "done by another run meanwhile; nothing to do" in out]
    complete_at_start = [out for out in outputs if "1 complete ones were encountered" in out]
    assert len(waited) + len(complete_at_start) == 1  # the other run waited, or found it done
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    assert bronze.count() == ROWS and bronze.select("customerID").distinct().count() == ROWS
