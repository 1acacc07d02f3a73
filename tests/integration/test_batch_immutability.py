"""A committed batch is immutable: a rerun after its export left the inbox rebuilds it from the
landed raw files, and nothing replaces a batch's rows with none unless an operator asks."""

import shutil

import pytest

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import read_table
from churnlake.tables import landing_uri
from tests.integration.helpers import PROJECT_ROOT, failed_line, pipeline_env, run, write_sample

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
ROWS = 60


def ingest(env, *extra):
    return run([str(PROJECT_ROOT / "spark-submit.sh"), "jobs/bronze/ingest_crm.py", "--run-date", RUN_DATE, *extra], env)


def test_a_rerun_after_the_export_left_the_inbox_keeps_the_batch(tmp_path, spark):
    env = pipeline_env(tmp_path)
    cfg = load_config(environ=env)
    export = write_sample(tmp_path / "inbox" / "crm", ROWS)
    first = ingest(env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = sorted(map(tuple, read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).collect()))
    assert len(before) == ROWS

    export.unlink()  # archived by the CRM team: the inbox is empty now
    again = ingest(env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is committed: rebuilt from its 1 landed file(s); the inbox is not read" in again.stdout + again.stderr
    after = sorted(map(tuple, read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).collect()))
    assert after == before  # the same rows, lineage included

    # Landed files gone too (someone cleaned the landing zone): the rerun refuses to empty the batch.
    landing = landing_uri(cfg, "crm", "customers", RUN_DATE, 0).removeprefix("file://")
    shutil.rmtree(landing)
    refused = ingest(env)
    assert refused.returncode == 1
    line = failed_line(refused)
    assert "EmptyingRefused" in line and f"holds {ROWS} committed rows" in line and "--replace-with-empty" in line
    assert read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).count() == ROWS  # nothing was written

    emptied = ingest(env, "--replace-with-empty")  # the operator's explicit decision
    assert emptied.returncode == 0, emptied.stderr[-3000:]
    assert read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).count() == 0
