"""The real Luigi pipeline (real spark-submit, Delta, MLflow) on a small sample."""

from __future__ import annotations

import datetime as dt

import pytest
from mlflow.tracking import MlflowClient

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import read_table
from tests.integration.helpers import VENV_BIN, pipeline_env, run, write_sample

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
SAMPLE_ROWS = 400


def luigi(task: str, env, run_date: str = RUN_DATE):
    return run([str(VENV_BIN / "luigi"), "--module", "luigi_tasks.pipeline", task,
                "--run-date", run_date, "--local-scheduler"], env)


def table_versions(spark, table, cfg) -> int:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, table.uri(cfg)).history().count()


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    env = pipeline_env(base)
    sample = write_sample(base / "inbox" / "crm", SAMPLE_ROWS)
    # The same customers again under another name: content differs only in line endings,
    # so it is a new file; its rows duplicate customers and must be deduplicated in silver.
    write_sample(base / "inbox" / "crm", 50, name="crm_export_resend.csv", crlf=True)
    result = luigi("Pipeline", env)
    cfg = load_config(environ=env)
    return base, env, cfg, result, sample


def test_pipeline_succeeds_and_fills_every_layer(pipeline_run, spark):
    base, env, cfg, result, _ = pipeline_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    assert bronze.count() == SAMPLE_ROWS + 50
    assert bronze.select("_batch_id").distinct().collect()[0][0] == f"crm-{RUN_DATE}"
    assert bronze.where("_source_file_sha256 IS NULL OR _source_file IS NULL").count() == 0
    silver = read_table(spark, tables.SILVER_CUSTOMERS, cfg)
    assert silver.count() == SAMPLE_ROWS
    assert silver.select("customer_id").distinct().count() == SAMPLE_ROWS
    feats = read_table(spark, tables.GOLD_CUSTOMER_FEATURES, cfg)
    labels = read_table(spark, tables.GOLD_CHURN_LABELS, cfg)
    assert feats.where(f"as_of_date = '{RUN_DATE}'").count() == SAMPLE_ROWS
    assert labels.count() == SAMPLE_ROWS
    assert "churned" not in feats.columns
    # every job logged start and end with row counts
    for job in ("bronze_ingest_crm", "silver_customers", "gold_customer_features", "ml_train"):
        text = (base / "logs" / f"{job}.log").read_text()
        assert "START run_date=2026-11-27" in text and "END status=ok rows_in=" in text, job


def test_model_is_tracked_and_registered(pipeline_run):
    _, _, cfg, result, _ = pipeline_run
    assert result.returncode == 0
    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name = '{cfg.registered_model}'")
    assert len(versions) == 1
    run = client.get_run(versions[0].run_id)
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0.0 <= run.data.metrics[metric] <= 1.0
    assert run.data.metrics["roc_auc"] > 0.7  # real signal even on a small sample
    assert run.data.tags["churnlake.run_date"] == RUN_DATE


def test_rerun_for_the_same_date_does_nothing(pipeline_run, spark):
    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    before = {t.name: table_versions(spark, t, cfg) for t in tables.ALL_TABLES}
    again = luigi("Pipeline", env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Running command" not in again.stdout + again.stderr  # nothing was submitted
    after = {t.name: table_versions(spark, t, cfg) for t in tables.ALL_TABLES}
    assert after == before
    assert read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).count() == SAMPLE_ROWS + 50


def test_rerunning_a_job_leaves_identical_content(pipeline_run, spark):
    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    before = bronze.collect()
    version = table_versions(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    res = run([str(cfg.root_dir / "spark-submit.sh"), "jobs/bronze/ingest_crm.py", "--run-date", RUN_DATE], env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert table_versions(spark, tables.BRONZE_CRM_CUSTOMERS, cfg) == version + 1  # a real rewrite
    after = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).collect()
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))


def test_next_day_skips_files_already_ingested(pipeline_run, spark):
    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    next_day = (dt.date.fromisoformat(RUN_DATE) + dt.timedelta(days=1)).isoformat()
    res = run([str(cfg.root_dir / "spark-submit.sh"), "jobs/bronze/ingest_crm.py", "--run-date", next_day], env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "already ingested by an earlier batch" in res.stderr
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    assert bronze.where(f"_batch_id = 'crm-{next_day}'").count() == 0
    assert bronze.count() == SAMPLE_ROWS + 50


def test_a_failing_job_exits_non_zero_with_one_readable_line(tmp_path):
    env = pipeline_env(tmp_path)  # no inbox folder: the CRM job must fail
    res = luigi("Pipeline", env)
    assert res.returncode == 30, res.stdout[-2000:]  # [retcode] task_failed
    job = run(["./spark-submit.sh",
               "jobs/bronze/ingest_crm.py", "--run-date", RUN_DATE], env)
    assert job.returncode == 1
    last = job.stderr.strip().splitlines()[-1]
    assert "FAILED after" in last and "FileNotFoundError: the CRM inbox" in last
