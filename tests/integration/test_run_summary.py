"""The run summary job through its Luigi task, on a tiny hand-made lakehouse.

No pipeline runs here: a few Delta tables, validation runs, an MLflow run and task/job
records of a failed run are written directly, then ``RunSummary`` runs for real
(luigi → ./spark-submit.sh → jobs/monitoring/run_summary.py).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import read_table, replace_rows
from churnlake.jobrun import commit_metadata
from churnlake.monitoring import records
from churnlake.monitoring.summary import JOB, PIPELINE_RUNS_SCHEMA, build_summary, pipeline_run_row
from churnlake.validation.store import RUNS_SCHEMA
from tests.integration.helpers import VENV_BIN, pipeline_env, run

pytestmark = pytest.mark.integration
DAY, DAY_BEFORE = "2026-11-27", "2026-11-26"
INV = "20261127T010000Z-host-1"


def task_record(event, family, at, attempt=None, **extra):
    rec = {"event": event, "at": at, "invocation": INV, "task_family": family,
           "task_id": f"{family}_{DAY.replace('-', '_')}", "params": {"run_date": DAY}, "run_date": DAY,
           "is_wrapper": False, "host": "h"}
    if attempt is not None:
        rec["attempt"] = attempt
    return {**rec, **extra}


def failed_run(logs) -> None:
    """Records of a run where BronzeCrm failed twice and SilverCustomers never ran."""
    t = "2026-11-27T01:00:{:02d}.000Z".format
    for rec in [task_record("SCHEDULED", "SilverCustomers", t(0)), task_record("SCHEDULED", "BronzeCrm", t(0)),
                task_record("START", "BronzeCrm", t(1), 1, started_at=t(1)),
                task_record("FAILURE", "BronzeCrm", t(9), 1, started_at=t(1), ended_at=t(9), duration_s=8.0,
                            error="FAILED after 7.0s: FileNotFoundError: the CRM inbox"),
                task_record("START", "BronzeCrm", t(15), 2, started_at=t(15)),
                task_record("FAILURE", "BronzeCrm", t(23), 2, started_at=t(15), ended_at=t(23), duration_s=8.0,
                            error="FAILED after 7.1s: FileNotFoundError: the CRM inbox")]:
        records.append_record(logs / records.TASK_RUNS_FILE, rec)
    records.append_record(logs / records.JOB_RUNS_FILE, {
        "job": "bronze_ingest_crm", "run_date": DAY, "status": "failed", "ended_at": t(22),
        "error": "FileNotFoundError: the CRM inbox"})


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("summary")
    env = pipeline_env(base)
    cfg = load_config(environ=env)
    day = dt.date.fromisoformat(DAY)
    customers = spark.createDataFrame([("c1", 1), ("c2", 2), ("c3", 3)], "customer_id string, tenure int")
    replace_rows(customers, tables.SILVER_CUSTOMERS, cfg, replace_where="tenure > 0",
                 metadata=commit_metadata("silver_customers", day))
    now = dt.datetime(2026, 11, 27, 1, 30, tzinfo=dt.timezone.utc)
    runs = [("crm-1", day, "bronze.crm_customers", ["b1"], "passed", 10, 10, 0, 0, 5, 0, {}, "s", 1.0, now),
            ("inv-1", day, "bronze.billing_invoices", ["b2"], "warned", 8, 7, 1, 0, 6, 1, {}, "s", 1.0, now)]
    replace_rows(spark.createDataFrame(runs, RUNS_SCHEMA), tables.QUALITY_RUNS, cfg, replace_where="rows_in >= 0",
                 metadata=commit_metadata("validate_bronze", day))
    # The day before, summarised already: the dashboard's history.
    before = build_summary(DAY_BEFORE, [], summarized_at=now - dt.timedelta(days=1))
    replace_rows(spark.createDataFrame([pipeline_run_row(before)], PIPELINE_RUNS_SCHEMA),
                 tables.MONITORING_PIPELINE_RUNS, cfg, replace_where=f"run_date = '{DAY_BEFORE}'",
                 metadata=commit_metadata(JOB, dt.date.fromisoformat(DAY_BEFORE)))
    # One MLflow run of the date, registered with an alias; the metrics are whatever it logged.
    from mlflow.tracking import MlflowClient

    from churnlake.ml.tracking import RUN_DATE_TAG

    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    exp = client.create_experiment("churnlake", artifact_location=cfg.mlflow_artifact_uri)
    mlrun = client.create_run(exp, run_name="candidate-gbt", tags={RUN_DATE_TAG: DAY, "churnlake.candidate": "gbt"})
    for name, value in (("roc_auc", 0.83), ("pr_auc", 0.61), ("a_new_metric", 7.0)):
        client.log_metric(mlrun.info.run_id, name, value)
    client.set_terminated(mlrun.info.run_id)
    client.create_registered_model("churn-model")
    version = client.create_model_version("churn-model", f"{mlrun.info.artifact_uri}/model", run_id=mlrun.info.run_id)
    client.set_registered_model_alias("churn-model", "champion", version.version)
    (cfg.reports_dir / "quality" / DAY).mkdir(parents=True)
    (cfg.reports_dir / "quality" / DAY / "report.html").write_text("<html>quality</html>")
    failed_run(cfg.logs_dir)
    return base, env, cfg


def summarise(env):
    return run([str(VENV_BIN / "luigi"), "--module", "luigi_tasks.monitoring", "RunSummary", "--run-date", DAY,
                "--local-scheduler"], env, timeout=600)


def test_summary_of_a_failed_run_in_delta_and_on_the_dashboard(lakehouse, spark):
    base, env, cfg = lakehouse
    res = summarise(env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    [row] = read_table(spark, tables.MONITORING_PIPELINE_RUNS, cfg).where(f"run_date = '{DAY}'").collect()
    assert row["status"] == "failed" and row["failed_tasks"] == ["BronzeCrm_2026_11_27"]
    assert (row["tasks_total"], row["tasks_failed"], row["tasks_pending"], row["task_attempts"], row["retries"]) == \
        (2, 1, 1, 2, 1)
    assert row["duration_s"] == 22.0 and row["jobs_failed"] == 1
    by_table = {t["table_name"]: t for t in row["tables"]}
    assert by_table["silver.customers"]["total_rows"] == 3 and by_table["silver.customers"]["run_rows_written"] == 3
    assert by_table["quality.validation_runs"]["last_job"] == "validate_bronze"
    assert "gold.customer_features" not in by_table  # not created: listed as missing, not an error
    assert row["quality_status"] == "warned"
    assert {q["table_name"]: q["rows_quarantined"] for q in row["quality"]} == \
        {"bronze.crm_customers": 0, "bronze.billing_invoices": 1}
    [model] = row["models"]
    assert model["candidate"] == "gbt" and model["metrics"]["a_new_metric"] == 7.0
    assert (model["registered_model"], model["model_version"], model["aliases"]) == ("churn-model", "1", ["champion"])
    assert (row["key_metric"], row["key_metric_value"]) == ("roc_auc", 0.83)

    attempts = read_table(spark, tables.MONITORING_TASK_RUNS, cfg).where(f"run_date = '{DAY}'")
    got = sorted((r["task_family"], r["attempt"], r["status"]) for r in attempts.collect())
    assert got == [("BronzeCrm", 1, "failed"), ("BronzeCrm", 2, "failed"), ("SilverCustomers", 0, "pending")]

    html = (cfg.reports_dir / "runs" / DAY / "dashboard.html").read_text()
    assert 'class="badge b-failed">failed' in html and "FileNotFoundError: the CRM inbox" in html
    assert f'href="../../quality/{DAY}/report.html"' in html and "0.8300" in html and "a_new_metric" in html
    assert f'href="../{DAY_BEFORE}/dashboard.html"' in html  # the history from monitoring.pipeline_runs
    assert json.loads((cfg.reports_dir / "runs" / DAY / "summary.json").read_text())["status"] == "failed"

    # The job's own record is tied to the Luigi task attempt that ran it, and that task's end record carries it.
    job = [r for r in records.read_records(cfg.logs_dir / records.JOB_RUNS_FILE) if r["job"] == JOB][-1]
    assert job["status"] == "ok" and job["task_id"].startswith("RunSummary") and job["attempt"] == 1
    end = [r for r in records.read_records(cfg.logs_dir / records.TASK_RUNS_FILE)
           if r["task_family"] == "RunSummary" and r["event"] == "SUCCESS"][-1]
    assert end["job"]["job"] == JOB and end["job"]["details"]["status"] == "failed"


def test_the_summary_is_redone_only_when_the_run_has_new_records(lakehouse, spark):
    base, env, cfg = lakehouse
    from luigi_tasks.monitoring import RunSummary

    target = RunSummary(run_date=dt.date.fromisoformat(DAY)).output()
    target._cfg = cfg
    if not target.exists():  # the first test did not run in this session
        assert summarise(env).returncode == 0
    assert target.exists()
    again = summarise(env)
    assert again.returncode == 0 and "Running command" not in again.stdout + again.stderr
    assert "Did not run any tasks" in again.stdout + again.stderr  # Luigi found the summary complete
    # A rerun of the failed task (here: its records) makes the summary due again; it replaces the date's rows.
    t = "2026-11-27T02:00:{:02d}.000Z".format
    for rec in [task_record("START", "BronzeCrm", t(1), 1, invocation="inv-2", started_at=t(1)),
                task_record("SUCCESS", "BronzeCrm", t(5), 1, invocation="inv-2", started_at=t(1), ended_at=t(5),
                            duration_s=4.0)]:
        records.append_record(cfg.logs_dir / records.TASK_RUNS_FILE, rec)
    assert not target.exists()
    res = summarise(env)
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.exists()
    rows = read_table(spark, tables.MONITORING_PIPELINE_RUNS, cfg).where(f"run_date = '{DAY}'").collect()
    assert len(rows) == 1 and rows[0]["status"] == "incomplete" and rows[0]["tasks_failed"] == 0
    assert read_table(spark, tables.MONITORING_TASK_RUNS, cfg).where(f"run_date = '{DAY}'").count() == 4
    assert read_table(spark, tables.MONITORING_PIPELINE_RUNS, cfg).count() == 2  # the day before is kept
