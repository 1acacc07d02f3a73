"""Luigi tasks build the right spark-submit command; targets read real Delta logs."""

import datetime as dt
import json

from churnlake import tables
from churnlake.storage import LocalStore, delta_commits
from luigi_tasks.base import PROJECT_ROOT
from luigi_tasks.pipeline import BronzeCrm, GoldCustomerFeatures, Pipeline, SilverCustomers, TrainModel
from luigi_tasks.targets import DeltaCommitTarget

DAY = dt.date(2026, 11, 27)


def test_task_runs_its_job_through_the_wrapper_with_the_run_date():
    task = SilverCustomers(run_date=DAY)
    argv = task.program_args()
    assert argv[0] == str(PROJECT_ROOT / "spark-submit.sh")
    assert argv[-3:] == [str(PROJECT_ROOT / "jobs/silver/customers.py"), "--run-date", "2026-11-27"]
    assert "--master" in argv and "--name" in argv
    assert (PROJECT_ROOT / task.job_file).is_file()


def test_dag_wiring_runs_ingest_to_train():
    chain, task = [], Pipeline(run_date=DAY)
    while True:
        req = task.requires()
        if not req:
            break
        task = req
        chain.append(type(task))
    assert chain == [TrainModel, GoldCustomerFeatures, SilverCustomers, BronzeCrm]
    for cls in chain:
        assert (PROJECT_ROOT / cls.job_file).is_file()


def write_commit(log_dir, version, meta):
    log_dir.mkdir(parents=True, exist_ok=True)
    info = {"commitInfo": {"operation": "WRITE", "userMetadata": json.dumps(meta) if meta else None}}
    (log_dir / f"{version:020d}.json").write_text(json.dumps({"protocol": {}}) + "\n" + json.dumps(info) + "\n")


def test_delta_commit_target_needs_a_commit_of_that_job_and_date(cfg):
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
