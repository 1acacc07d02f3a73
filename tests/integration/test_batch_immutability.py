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


def test_the_other_sources_skip_a_committed_batch_whatever_their_inbox_holds_now(tmp_path, spark):
    """Access logs (files), like billing and tickets (watermarked), never rewrite a committed batch:
    the rerun after the files were cleaned up is a no-op that says so."""
    env = pipeline_env(tmp_path)
    cfg = load_config(environ=env)
    logs = tmp_path / "inbox" / "logs"
    logs.mkdir(parents=True)
    line = ('10.1.2.3 - 7590-VHVEG [27/Nov/2026:13:05:09 +0000] "GET /billing HTTP/1.1" 200 7012 '
            '"https://portal.telco.example/dashboard" "Mozilla/5.0 (X11)"')
    (logs / "access-2026-11-27-13.log").write_text("\n".join([line] * 5 + ["not a log line"]) + "\n")
    env["CHURNLAKE__SOURCES__WEB_LOGS__INBOX"] = str(logs)
    job = [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/bronze/ingest_access_logs.py", "--run-date", RUN_DATE]
    first = run(job, env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = read_table(spark, tables.BRONZE_WEB_ACCESS_LOGS, cfg).count()
    assert before == 5 and read_table(spark, tables.QUARANTINE_WEB_ACCESS_LOGS, cfg).count() == 1
    for f in logs.iterdir():
        f.unlink()  # rotated away
    again = run(job, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"batch web-access_logs-{RUN_DATE} already committed at version" in again.stdout + again.stderr
    assert read_table(spark, tables.BRONZE_WEB_ACCESS_LOGS, cfg).count() == before
    assert read_table(spark, tables.QUARANTINE_WEB_ACCESS_LOGS, cfg).count() == 1
