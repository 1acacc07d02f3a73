"""Luigi tasks build the right spark-submit command; targets read real Delta logs."""

import datetime as dt
import json

import pytest

from churnlake import tables
from churnlake.storage import LocalStore, delta_commits
from luigi_tasks.base import PROJECT_ROOT
from luigi_tasks.ingestion import BronzeAccessLogs, BronzeBilling, BronzeCrm, BronzeTickets, IngestAll
from luigi_tasks.pipeline import GoldCustomerFeatures, Pipeline, ScoreCustomers, SilverCustomers, TrainModel
from luigi_tasks.schedule import HourlyIngestion
from luigi_tasks.targets import DeltaCommitTarget, ValidationPassedTarget
from luigi_tasks.validation import ValidateAll, ValidateBronze

DAY = dt.date(2026, 11, 27)


def test_task_runs_its_job_through_the_wrapper_with_the_run_date():
    task = SilverCustomers(run_date=DAY)
    argv = task.program_args()
    assert argv[0] == str(PROJECT_ROOT / "spark-submit.sh")
    assert argv[-3:] == [str(PROJECT_ROOT / "jobs/silver/customers.py"), "--run-date", "2026-11-27"]
    # No --master: the wrapper picks the engine or a classic driver (an explicit master forces classic).
    assert "--master" not in argv and "--name" in argv
    assert (PROJECT_ROOT / task.job_file).is_file()


def test_luigi_reads_the_jobs_stderr_for_a_ui_url_only_when_it_runs_classic(monkeypatch):
    """Through the engine there is no URL to find, and Luigi's stream reader would hold every
    task for a second after its job ended."""
    task = SilverCustomers(run_date=DAY)
    monkeypatch.setenv("CHURNLAKE__ENGINE__REMOTE", "sc://127.0.0.1:15002")
    assert task.stream_for_searching_tracking_url == "none"
    monkeypatch.setenv("CHURNLAKE__ENGINE__REMOTE", "classic")
    assert task.stream_for_searching_tracking_url == "stderr"
    assert task.tracking_url_pattern  # classic: Luigi's pattern for the driver's UI line


def test_dag_wiring_runs_every_source_and_ingest_to_scoring():
    ingest, validate, silver, eda, online, score = list(Pipeline(run_date=DAY).requires())
    assert isinstance(score, ScoreCustomers)
    train, gold = score.requires()
    assert isinstance(gold, GoldCustomerFeatures)
    assert isinstance(online.requires(), GoldCustomerFeatures)
    assert eda.program_args()[-3:] == [str(PROJECT_ROOT / "jobs/eda/customers.py"), "--run-date", "2026-11-27"]
    assert isinstance(eda.requires(), SilverCustomers)
    assert {t.requires().table for t in silver.requires() if hasattr(t.requires(), "table")} == \
        {t.table for t in validate.requires()}
    assert isinstance(ingest, IngestAll) and isinstance(validate, ValidateAll) and isinstance(train, TrainModel)
    checks = list(validate.requires())
    assert sorted(t.table for t in checks) == sorted(t.name.split(".")[1] for t in tables.VALIDATED_TABLES)
    for check in checks:  # each validation needs its source's batch, and the CRM for references
        needed = {type(t) for t in check.requires()}
        assert BronzeCrm in needed and len(needed) == (1 if check.table == "crm_customers" else 2)
    sources = list(ingest.requires())
    assert [type(t) for t in sources] == [BronzeCrm, BronzeBilling, BronzeBilling, BronzeTickets, BronzeAccessLogs]
    assert {t.billing_table for t in sources if isinstance(t, BronzeBilling)} == {"invoices", "payments"}
    chain, task = [], train
    while True:
        req = task.requires()
        if not req:
            break
        task = req[0] if isinstance(req, list) else req
        chain.append(type(task))
    assert chain == [GoldCustomerFeatures, SilverCustomers, ValidateBronze, BronzeCrm]
    for task in sources + [train, score]:
        assert (PROJECT_ROOT / task.job_file).is_file()


def test_hourly_ingestion_tasks_pass_hour_and_table():
    task = BronzeBilling(run_date=DAY, run_hour=7, billing_table="payments")
    assert task.program_args()[-7:] == [str(PROJECT_ROOT / "jobs/bronze/ingest_billing.py"), "--run-date",
                                        "2026-11-27", "--run-hour", "7", "--table", "payments"]
    assert task.output().batch_id == "billing-payments-2026-11-27T07"
    assert BronzeTickets(run_date=DAY).output().batch_id == "support-tickets-2026-11-27"


def write_commit(log_dir, version, meta):
    log_dir.mkdir(parents=True, exist_ok=True)
    info = {"commitInfo": {"operation": "WRITE", "userMetadata": json.dumps(meta) if meta else None}}
    (log_dir / f"{version:020d}.json").write_text(json.dumps({"protocol": {}}) + "\n" + json.dumps(info) + "\n")


@pytest.fixture()
def lake(tmp_path):
    """A lakehouse of this test alone (hand-written Delta logs never reach the session's)."""
    import os

    from churnlake.config import load_config
    from tests.conftest import lakehouse_env

    return load_config(environ={**os.environ, **lakehouse_env(tmp_path)})


def test_delta_commit_target_needs_a_commit_of_that_job_and_date(lake):
    cfg = lake
    table_dir = tables.SILVER_CUSTOMERS.uri(cfg).removeprefix("file://")
    target = DeltaCommitTarget(tables.SILVER_CUSTOMERS, "silver_customers", "2026-11-27", cfg=cfg)
    from pathlib import Path

    log_dir = Path(table_dir) / "_delta_log"
    assert not target.exists()  # no table at all
    log_dir.mkdir(parents=True)
    assert not target.exists()  # a folder is not a commit
    write_commit(log_dir, 0, {"job": "silver_customers", "run_date": "2026-11-26"})
    write_commit(log_dir, 1, {"job": "other_job", "run_date": "2026-11-27"})
    write_commit(log_dir, 2, None)
    assert not target.exists()
    write_commit(log_dir, 3, {"job": "silver_customers", "run_date": "2026-11-27"})
    assert target.exists()
    versions = [c["version"] for c in delta_commits(tables.SILVER_CUSTOMERS.uri(cfg), LocalStore())]
    assert versions == [0, 1, 2, 3]


def test_validation_target_needs_the_latest_run_to_have_passed(tmp_path, lake):
    log_dir = tmp_path / "lakehouse" / "quality" / "validation_runs" / "_delta_log"
    task = ValidateBronze(table="crm_customers", run_date=DAY)
    assert task.program_args()[-2:] == ["--table", "crm_customers"]
    target = ValidationPassedTarget(tables.QUALITY_RUNS, "validate_bronze", "2026-11-27", cfg=lake,
                                    batch_id=task.output().batch_id)
    meta = {"job": "validate_bronze", "run_date": "2026-11-27", "batch_id": "crm_customers-2026-11-27"}
    write_commit(log_dir, 0, {**meta, "status": "warned", "batch_id": "billing_invoices-2026-11-27"})
    assert not target.exists()  # another table's run
    write_commit(log_dir, 1, {**meta, "status": "stopped"})
    assert not target.exists()  # a stopped run blocks
    write_commit(log_dir, 2, {**meta, "status": "passed"})
    assert target.exists()  # fixed and rerun
    write_commit(log_dir, 3, {**meta, "status": "stopped"})
    assert not target.exists()  # the latest run decides


def test_hourly_bulk_complete_needs_every_source_batch(lake, monkeypatch):
    from pathlib import Path

    cfg = lake
    monkeypatch.setattr("luigi_tasks.schedule.load_config", lambda: cfg)
    hours = [dt.datetime(2026, 11, 27, h) for h in (1, 2)]
    for table, src, ent in [(tables.BRONZE_CRM_CUSTOMERS, "crm", "customers"),
                            (tables.BRONZE_BILLING_INVOICES, "billing", "invoices"),
                            (tables.BRONZE_BILLING_PAYMENTS, "billing", "payments"),
                            (tables.BRONZE_SUPPORT_TICKETS, "support", "tickets"),
                            (tables.BRONZE_WEB_ACCESS_LOGS, "web", "access_logs")]:
        log_dir = Path(table.uri(cfg).removeprefix("file://")) / "_delta_log"
        write_commit(log_dir, 0, {"job": "x", "run_date": "2026-11-27", "batch_id": f"{src}-{ent}-2026-11-27T01"})
        if ent != "tickets":  # hour 2 misses one source
            write_commit(log_dir, 1, {"job": "x", "run_date": "2026-11-27", "batch_id": f"{src}-{ent}-2026-11-27T02"})
    assert HourlyIngestion.bulk_complete(hours) == [hours[0]]

def test_a_run_date_stays_done_after_delta_removed_its_json_commits(spark, lake):
    """Delta's log cleanup (log_retention_days) deletes the JSON commits before a checkpoint; the
    commit records under _commits/ keep the run date done (a backfill must not redo it)."""
    from pathlib import Path

    from churnlake.delta import read_table, replace_rows
    from churnlake.jobrun import commit_metadata

    table = tables.SILVER_CUSTOMERS
    days = [DAY + dt.timedelta(days=i) for i in range(12)]
    for day in days:  # 12 commits: Delta writes a checkpoint at version 10
        df = spark.createDataFrame([(day.isoformat(), 1)], "customer_id string, n int")
        replace_rows(df, table, lake, replace_where=f"customer_id = '{day.isoformat()}'",
                     metadata=commit_metadata("silver_customers", day))
    log_dir = Path(table.uri(lake).removeprefix("file://")) / "_delta_log"
    assert (log_dir / "00000000000000000010.checkpoint.parquet").is_file()
    for version in range(10):  # what the cleanup does to commits older than the checkpoint
        (log_dir / f"{version:020d}.json").unlink()
    assert read_table(spark, table, lake).count() == 12  # the table itself is intact
    first = DeltaCommitTarget(table, "silver_customers", DAY.isoformat(), cfg=lake)
    assert not any(m.get("run_date") == DAY.isoformat() for m in
                   [c["userMetadata"] for c in delta_commits(table.uri(lake), LocalStore())
                    if isinstance(c.get("userMetadata"), dict)])  # gone from the log
    assert first.exists()  # still done: from its commit record
    assert not DeltaCommitTarget(table, "silver_customers", (DAY - dt.timedelta(days=1)).isoformat(),
                                 cfg=lake).exists()
    records = Path(lake.lakehouse_root.removeprefix("file://")) / "_commits" / table.relpath / "silver_customers"
    assert len(list(records.iterdir())) == 12


def test_the_hourly_pipeline_takes_every_source_of_the_hour_to_silver():
    from luigi_tasks.pipeline import HourlyPipeline, SilverBilling, SilverTickets, SilverWebEvents
    from luigi_tasks.validation import ValidateAll

    ingest, validate, *silver = list(HourlyPipeline(run_date=DAY, run_hour=5).requires())
    assert isinstance(ingest, IngestAll) and isinstance(validate, ValidateAll)
    assert {t.run_hour for t in [*ingest.requires(), *validate.requires(), *silver]} == {5}
    assert [type(t) for t in silver] == [SilverCustomers, SilverBilling, SilverBilling, SilverTickets,
                                         SilverWebEvents]
    for step in silver:  # each build validates its own source's hour, and says which hour
        check = step.requires()
        assert isinstance(check, ValidateBronze) and check.run_hour == 5
        assert check.output().batch_id == f"{check.table}-2026-11-27T05"
        assert step.program_args()[step.program_args().index("--run-hour") + 1] == "5"
        assert (step.output().interval, step.output().batch_id) == ("2026-11-27T05", "2026-11-27T05")
        assert step.source_batch().batch_id.endswith("-2026-11-27T05")
    daily = SilverWebEvents(run_date=DAY)
    assert "--run-hour" not in daily.program_args()
    assert (daily.output().interval, daily.output().batch_id) == ("2026-11-27", None)
    with pytest.raises(ValueError, match="0..23"):
        list(HourlyPipeline(run_date=DAY, run_hour=24).requires())


def test_an_hourly_step_whose_batch_brought_nothing_starts_no_job(lake, monkeypatch):
    from luigi.contrib.spark import SparkSubmitTask

    from churnlake.storage import commit_record_uri, filestore_for, write_commit_record
    from luigi_tasks.pipeline import SilverWebEvents

    monkeypatch.setattr("luigi_tasks.targets.load_config", lambda: lake)
    monkeypatch.setattr(SparkSubmitTask, "run", lambda self: pytest.fail(f"{self} started a job"))
    ingest = BronzeAccessLogs(run_date=DAY, run_hour=5)

    def commit(**counts):
        uri = commit_record_uri(lake.lakehouse_root, tables.BRONZE_WEB_ACCESS_LOGS.relpath, ingest.job_name,
                                "2026-11-27", ingest.batch_id)
        write_commit_record(filestore_for(uri, lake), uri, {"job": ingest.job_name, "run_date": "2026-11-27",
                                                            "batch_id": ingest.batch_id, **counts})

    steps = [ValidateBronze(table="web_access_logs", run_date=DAY, run_hour=5),
             SilverWebEvents(run_date=DAY, run_hour=5)]
    assert not any(s.complete() for s in steps)  # the hour is not ingested yet
    commit()  # a batch recorded before the counts were: never taken for empty
    assert not any(s.complete() for s in steps)
    commit(rows_written=3, rows_rejected=0)
    assert not any(s.complete() for s in steps)
    commit(rows_written=0, rows_rejected=1)  # one broken line: its validation still runs
    assert not any(s.complete() for s in steps)
    commit(rows_written=0, rows_rejected=0)
    assert all(s.complete() for s in steps)
    for step in steps:
        step.run()
        assert step.note == f"nothing new: batch {ingest.batch_id} brought no rows"
    # The daily steps always run: the day covers whatever the hours left.
    assert not ValidateBronze(table="web_access_logs", run_date=DAY).nothing_new()
    assert not SilverWebEvents(run_date=DAY).complete()


def test_the_crm_chain_runs_first_and_what_gold_does_not_need_runs_last(tmp_lakehouse_env):
    """The priorities Luigi's scheduler gives the daily DAG (dependencies inherit the priority
    of what needs them): the CRM chain, then everything gold needs, then the rest."""
    from luigi.scheduler import Scheduler
    from luigi.worker import Worker

    from luigi_tasks.pipeline import (CRM_PATH_PRIORITY, GOLD_PATH_PRIORITY, EdaCustomers,
                                      MaterializeOnlineFeatures, SilverModelReady, SilverWebEvents)
    scheduler = Scheduler()
    with Worker(scheduler=scheduler, worker_id="test", no_install_shutdown_handler=True) as worker:
        assert worker.add(Pipeline(run_date=DAY))
        tasks = scheduler.task_list("", "")
        expected = [(BronzeCrm(run_date=DAY), CRM_PATH_PRIORITY),
                    (ValidateBronze(table="crm_customers", run_date=DAY), CRM_PATH_PRIORITY),
                    (SilverCustomers(run_date=DAY), CRM_PATH_PRIORITY),
                    (BronzeAccessLogs(run_date=DAY), GOLD_PATH_PRIORITY),
                    (ValidateBronze(table="web_access_logs", run_date=DAY), GOLD_PATH_PRIORITY),
                    (SilverWebEvents(run_date=DAY), GOLD_PATH_PRIORITY),
                    (GoldCustomerFeatures(run_date=DAY), GOLD_PATH_PRIORITY),
                    (SilverModelReady(run_date=DAY), 0), (EdaCustomers(run_date=DAY), 0),
                    (MaterializeOnlineFeatures(run_date=DAY), 0), (TrainModel(run_date=DAY), 0)]
        assert [(t.task_id, tasks[t.task_id]["priority"]) for t, _ in expected] == \
            [(t.task_id, p) for t, p in expected]
        assert CRM_PATH_PRIORITY > GOLD_PATH_PRIORITY > 0
        assert scheduler.get_work(worker="test")["task_id"] == BronzeCrm(run_date=DAY).task_id
