"""Run records, the run summary and the dashboard (docs/monitoring.md); the in-process Spark
session only for the table facts read side by side."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from churnlake.config import PROJECT_ROOT
from churnlake.monitoring import dashboard, records
from churnlake.monitoring.summary import (PIPELINE_RUNS_SCHEMA, TASK_RUNS_SCHEMA, build_summary, key_metric,
                                          latest_quality, pipeline_run_row, quality_status, table_stats,
                                          task_run_rows)
from tests.conftest import lakehouse_env

DAY = "2026-11-27"
INV1, INV2 = "20261127T010000Z-host-1", "20261127T090000Z-host-2"


def rec(event, family, at, *, inv=INV1, attempt=None, day=DAY, **extra):
    """One task_runs.jsonl record as luigi_tasks/runlog.py writes it."""
    params = {"run_date": day, **extra.pop("params", {})}
    out = {"event": event, "at": at, "invocation": inv, "task_family": family,
           "task_id": f"{family}_{day}_{'_'.join(params.values())}", "params": params, "run_date": day,
           "is_wrapper": extra.pop("is_wrapper", False), "host": "h"}
    if attempt is not None:
        out["attempt"] = attempt
    out.update(extra)
    return out


T = "2026-11-27T01:00:{:02d}.000Z".format


def failed_run_records() -> list[dict]:
    """A run where Crm fails twice, Silver never runs, Billing succeeds, Old was done before."""
    return [
        rec("SCHEDULED", "Pipeline", T(0), is_wrapper=True),
        rec("SCHEDULED", "Silver", T(0)),
        rec("SCHEDULED", "Crm", T(0)),
        rec("ALREADY_DONE", "Old", T(1)),
        rec("START", "Crm", T(2), attempt=1, started_at=T(2)),
        rec("START", "Billing", T(2), attempt=1, started_at=T(2)),
        rec("FAILURE", "Crm", T(12), attempt=1, started_at=T(2), ended_at=T(12), duration_s=10.0,
            error="FAILED after 9.0s: FileNotFoundError: the CRM inbox"),
        rec("SUCCESS", "Billing", T(20), attempt=1, started_at=T(2), ended_at=T(20), duration_s=18.0,
            job={"job": "bronze_ingest_billing", "status": "ok", "rows_in": 10, "rows_out": 9,
                 "details": {"batch": "b"}}),
        rec("START", "Crm", T(18), attempt=2, started_at=T(18)),
        rec("FAILURE", "Crm", T(28), attempt=2, started_at=T(18), ended_at=T(28), duration_s=10.0,
            error="FAILED after 9.1s: FileNotFoundError: the CRM inbox"),
        rec("START", "Other", T(30), attempt=1, started_at=T(30), day="2026-11-26"),  # another date
    ]


def test_records_append_and_read_back_skipping_broken_lines(tmp_path):
    path = tmp_path / "logs" / records.TASK_RUNS_FILE
    records.append_record(path, {"a": 1})
    with path.open("a") as fh:
        fh.write('{"cut off\n\n[1, 2]\n')
    records.append_record(path, {"b": dt.date(2026, 11, 27), "é": "ü"})
    assert records.read_records(path) == [{"a": 1}, {"b": "2026-11-27", "é": "ü"}]
    assert records.read_records(tmp_path / "missing.jsonl") == []
    with records.locked(path) as fh:
        assert records.tail_records(fh, max_bytes=48) == [{"b": "2026-11-27", "é": "ü"}]  # the cut line dropped
        assert records.tail_records(fh) == [{"a": 1}, {"b": "2026-11-27", "é": "ü"}]


def test_run_date_and_time_helpers():
    assert records.run_date_of({"run_date": "2026-11-27", "x": "1"}) == "2026-11-27"
    assert records.run_date_of({"date_hour": "2026-11-27T13"}) == "2026-11-27"
    assert records.run_date_of({"other": "x"}) is None
    moment = dt.datetime(2026, 11, 27, 1, 2, 3, 456000, tzinfo=dt.timezone.utc)
    assert records.iso(moment) == "2026-11-27T01:02:03.456Z"
    assert records.parse_time("2026-11-27T01:02:03.456Z") == moment


def test_attempts_of_a_failed_run():
    attempts = records.task_attempts(failed_run_records(), DAY)
    got = [(a["task_family"], a["attempt"], a["status"]) for a in attempts]
    assert sorted(got) == sorted([("Pipeline", 0, "pending"), ("Silver", 0, "pending"), ("Crm", 1, "failed"),
                                  ("Crm", 2, "failed"), ("Old", 0, "already_done"), ("Billing", 1, "succeeded")])
    billing = next(a for a in attempts if a["task_family"] == "Billing")
    assert (billing["job"], billing["rows_in"], billing["rows_out"], billing["duration_s"]) == \
        ("bronze_ingest_billing", 10, 9, 18.0)
    assert json.loads(billing["job_details"]) == {"batch": "b"}
    tasks = {t["task_family"]: t for t in records.task_overview(attempts)}
    assert tasks["Crm"]["attempts"] == 2 and tasks["Crm"]["status"] == "failed"
    assert tasks["Crm"]["error"].endswith("9.1s: FileNotFoundError: the CRM inbox")  # the latest attempt
    assert records.run_status(list(tasks.values())) == "failed"
    assert records.task_attempts(failed_run_records(), DAY, exclude_families=["Crm", "Silver", "Pipeline",
                                                                             "Old", "Billing"]) == []


def test_a_rerun_after_the_fix_makes_the_run_succeed_and_keeps_the_first_runs_facts():
    rerun = [rec("ALREADY_DONE", "Billing", T(40), inv=INV2), rec("SCHEDULED", "Silver", T(40), inv=INV2),
             rec("SCHEDULED", "Crm", T(40), inv=INV2),
             rec("START", "Crm", T(41), inv=INV2, attempt=1, started_at=T(41)),
             rec("SUCCESS", "Crm", T(45), inv=INV2, attempt=1, started_at=T(41), ended_at=T(45), duration_s=4.0),
             rec("START", "Silver", T(46), inv=INV2, attempt=1, started_at=T(46)),
             rec("SUCCESS", "Silver", T(50), inv=INV2, attempt=1, started_at=T(46), ended_at=T(50), duration_s=4.0),
             rec("SUCCESS", "Pipeline", T(51), inv=INV2, attempt=1, is_wrapper=True)]
    tasks = {t["task_family"]: t for t in records.task_overview(
        records.task_attempts(failed_run_records() + rerun, DAY))}
    assert tasks["Crm"]["status"] == "succeeded" and tasks["Crm"]["attempts"] == 3
    assert tasks["Billing"]["status"] == "succeeded" and tasks["Billing"]["rows_out"] == 9  # from the first run
    assert tasks["Old"]["status"] == "already_done"
    assert records.run_status(list(tasks.values())) == "succeeded"


@pytest.mark.parametrize("statuses, verdict", [
    ([], "no_tasks"), (["succeeded", "already_done"], "succeeded"), (["succeeded", "pending"], "incomplete"),
    (["running", "pending"], "running"), (["failed", "running"], "failed")])
def test_run_status(statuses, verdict):
    assert records.run_status([{"status": s} for s in statuses]) == verdict


def test_latest_event_leaves_the_summary_itself_out():
    tasks = failed_run_records() + [rec("START", "RunSummary", T(59), attempt=1)]
    jobs = [{"job": "x", "run_date": DAY, "ended_at": T(33)}, {"job": "monitoring_run_summary", "run_date": DAY,
                                                                "ended_at": T(58)}]
    assert records.latest_event_at(tasks, jobs, DAY, exclude_families=["RunSummary"],
                                   exclude_jobs=["monitoring_run_summary"]) == T(33)
    assert records.latest_event_at([], [], DAY) is None


def test_table_stats_sums_the_rows_written_for_the_run_date():
    history = [
        {"version": 0, "timestamp": dt.datetime(2026, 11, 26, 1, tzinfo=dt.timezone.utc), "operation": "WRITE",
         "operationMetrics": {"numOutputRows": "5"}, "userMetadata": json.dumps({"job": "j", "run_date": "2026-11-26"})},
        {"version": 1, "timestamp": dt.datetime(2026, 11, 27, 1, tzinfo=dt.timezone.utc), "operation": "WRITE",
         "operationMetrics": {"numOutputRows": "7"}, "userMetadata": json.dumps({"job": "j", "run_date": DAY})},
        {"version": 2, "timestamp": dt.datetime(2026, 11, 27, 2, tzinfo=dt.timezone.utc),
         "operation": "SET TBLPROPERTIES", "operationMetrics": {}, "userMetadata": json.dumps({"job": "k", "run_date": DAY})},
    ]
    stats = table_stats("silver.x", "silver", history, 12, DAY)
    assert stats == {"table_name": "silver.x", "layer": "silver", "delta_version": 2, "total_rows": 12,
                     "last_operation": "SET TBLPROPERTIES", "last_commit_at": "2026-11-27T02:00:00.000Z",
                     "last_job": "k", "run_commits": 2, "run_version": 2, "run_rows_written": 7}
    assert table_stats("t", "silver", history[:1], 5, DAY)["run_rows_written"] is None
    with pytest.raises(ValueError, match="at least one commit"):
        table_stats("t", "silver", [], 0, DAY)


def test_quality_and_model_helpers():
    rows = [{"table_name": "b.x", "status": "stopped", "rows_in": 5, "validated_at": "2026-11-27T01:00:00.000Z"},
            {"table_name": "b.x", "status": "passed", "rows_in": 6, "validated_at": "2026-11-27T02:00:00.000Z"},
            {"table_name": "b.y", "status": "warned", "rows_in": 1, "validated_at": "2026-11-27T01:00:00.000Z"}]
    latest = latest_quality(rows)
    assert [(q["table_name"], q["status"]) for q in latest] == [("b.x", "passed"), ("b.y", "warned")]
    assert quality_status(latest) == "warned" and quality_status([]) == "not_validated"
    models = [{"metrics": {"f1": 0.5, "roc_auc": 0.8}}, {"metrics": {"roc_auc": 0.85, "custom": 1.0}}]
    assert key_metric(models) == ("roc_auc", 0.85)
    assert key_metric([{"metrics": {"log_loss": 0.4}}, {"metrics": {"log_loss": 0.3}}]) == ("log_loss", 0.3)
    assert key_metric([]) == (None, None)
    assert key_metric(models, preferred="f1") == ("f1", 0.5)  # the training's selection metric first


def tiny_summary(**extra) -> dict:
    attempts = records.task_attempts(failed_run_records(), DAY)
    models = [{"run_id": "abc123", "run_name": "logreg-2026-11-27", "candidate": "logreg", "job": "ml_train",
               "status": "FINISHED", "started_at": T(30), "ended_at": T(40),
               "metrics": {"roc_auc": 0.84, "f1": 0.61, "brand_new_metric": 3.0}, "registered_model": "churn-model",
               "model_version": "3", "aliases": ["champion"], "parent_run_id": None}]
    tables = [{"table_name": "bronze.billing_invoices", "layer": "bronze", "delta_version": 4, "total_rows": 1234,
               "last_operation": "WRITE", "last_commit_at": T(20), "last_job": "bronze_ingest_billing",
               "run_commits": 1, "run_version": 4, "run_rows_written": 9}]
    quality = [{"table_name": "bronze.billing_invoices", "status": "warned", "rows_in": 10, "rows_passed": 9,
                "rows_quarantined": 1, "rows_blocked": 0, "checks": 7, "checks_failed": 1,
                "validated_at": T(25)}]
    return build_summary(DAY, attempts, tables=tables, missing_tables=["silver.customers"], quality=quality,
                         models=models, links={"quality_report": f"../../quality/{DAY}/report.html"},
                         paths={"dashboard": "/r/runs/x/dashboard.html"}, last_event_at=T(28),
                         summarized_at=dt.datetime(2026, 11, 27, 2, tzinfo=dt.timezone.utc), **extra)


def test_build_summary_counts_tasks_attempts_and_retries():
    s = tiny_summary()
    assert s["status"] == "failed" and s["failed_tasks"] == [next(a["task_id"] for a in s["attempts"]
                                                                 if a["task_family"] == "Crm")]
    assert (s["tasks_total"], s["tasks_succeeded"], s["tasks_failed"], s["tasks_pending"],
            s["tasks_already_done"]) == (4, 1, 1, 1, 1)  # the wrapper is not counted
    assert (s["task_attempts"], s["retries"]) == (3, 1)
    assert (s["started_at"], s["ended_at"], s["duration_s"]) == (T(2), T(28), 26.0)
    assert s["quality_status"] == "warned" and s["key_metric"] == "roc_auc" and s["key_metric_value"] == 0.84
    assert s["metric_columns"] == ["roc_auc", "f1", "brand_new_metric"]
    with pytest.raises(ValueError):
        build_summary("27/11/2026", [])


def test_summary_rows_fit_the_delta_schemas():
    s = tiny_summary()
    row = pipeline_run_row(s)
    assert len(row) == len(PIPELINE_RUNS_SCHEMA.fields)
    named = dict(zip(PIPELINE_RUNS_SCHEMA.fieldNames(), row))
    assert named["run_date"] == dt.date(2026, 11, 27)
    assert named["started_at"] == dt.datetime(2026, 11, 27, 1, 0, 2, tzinfo=dt.timezone.utc)
    assert named["tables"][0][0] == "bronze.billing_invoices" and named["tables"][0][3] == 1234
    assert named["models"][0][7] == {"roc_auc": 0.84, "f1": 0.61, "brand_new_metric": 3.0}
    rows = task_run_rows(s)
    assert len(rows) == len(s["attempts"]) and all(len(r) == len(TASK_RUNS_SCHEMA.fields) for r in rows)
    # Nested values are accepted by Spark's own type check (no session needed).
    from pyspark.sql.types import _make_type_verifier

    _make_type_verifier(PIPELINE_RUNS_SCHEMA)(row)
    for r in rows:
        _make_type_verifier(TASK_RUNS_SCHEMA)(r)


def test_dashboard_shows_status_tasks_tables_quality_models_and_history(tmp_path):
    s = tiny_summary()
    history = dashboard.merge_history(s, [{"run_date": "2026-11-26", "status": "succeeded", "duration_s": 300.0,
                                           "tasks_total": 4, "tasks_succeeded": 4, "tasks_already_done": 0,
                                           "tasks_failed": 0, "retries": 0, "quality_status": "passed",
                                           "key_metric": "roc_auc", "key_metric_value": 0.8,
                                           "summarized_at": "2026-11-26T03:00:00.000Z"},
                                          {"run_date": DAY, "status": "stale"}], limit=5)
    assert [h["run_date"] for h in history] == [DAY, "2026-11-26"] and history[0] is s
    html = dashboard.render_dashboard(s, history)
    assert f"churnlake pipeline run &mdash; {DAY} <span class=\"badge b-failed\">failed</span>" in html
    assert "FAILED after 9.1s: FileNotFoundError: the CRM inbox" in html  # the latest attempt's reason
    assert "Every attempt of retried or failed tasks" in html and "9.0s" in html  # the first attempt too
    assert "1,234" in html and "bronze.billing_invoices" in html and "Not created yet: silver.customers" in html
    assert f'href="../../quality/{DAY}/report.html"' in html
    assert "0.8400" in html and "brand_new_metric" in html and "churn-model v3 @champion" in html
    assert 'href="../2026-11-26/dashboard.html"' in html and "5 min 00 s" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")  # self-contained
    paths = dashboard.write_dashboard(tmp_path / "runs" / DAY, s, history)
    assert paths["html"].read_text() == html
    assert json.loads(paths["json"].read_text())["status"] == "failed"
    assert sorted(p.name for p in (tmp_path / "runs" / DAY).iterdir()) == ["dashboard.html", "summary.json"]


def test_dashboard_of_a_date_without_any_record_still_renders():
    s = build_summary(DAY, [], models_error="MlflowException: connection refused")
    html = dashboard.render_dashboard(s, [s])
    assert "no_tasks" in html and "No task of this run date was recorded" in html
    assert "MLflow could not be read: MlflowException: connection refused" in html
    assert "No validation run recorded" in html and "No Delta table exists yet" in html


def test_the_markup_in_recorded_text_is_escaped():
    s = build_summary(DAY, records.task_attempts([rec("FAILURE", "Crm", T(1), attempt=1, error="<b>x</b>")], DAY))
    assert "&lt;b&gt;x&lt;/b&gt;" in dashboard.render_dashboard(s, [])


def test_report_links_only_to_reports_that_exist(tmp_path):
    (tmp_path / "quality" / DAY).mkdir(parents=True)
    (tmp_path / "quality" / DAY / "report.html").write_text("x")
    links, paths = dashboard.report_links(tmp_path, DAY)
    assert links == {"quality_report": f"../../quality/{DAY}/report.html"}
    assert paths["dashboard"] == str(tmp_path / "runs" / DAY / "dashboard.html")


@pytest.mark.parametrize("seconds, text", [(None, ""), (4.04, "4.0 s"), (125, "2 min 05 s"), (3725, "1 h 02 min")])
def test_durations(seconds, text):
    assert dashboard.fmt_duration(seconds) == text


JOB_SCRIPT = """
import sys
from churnlake.jobrun import JobResult, job_arg_parser, run_job

def main(args, cfg):
    if args.table == "bad":
        raise ValueError("no such thing\\nsecond line")
    return JobResult(rows_in=3, rows_out=2, details={"k": "v"})

parser = job_arg_parser("toy")
parser.add_argument("--table")
run_job("toy_job", main, parser, sys.argv[1:])
"""


def test_every_job_run_appends_one_record_tied_to_its_task_attempt(tmp_path):
    env = {**os.environ, **lakehouse_env(tmp_path), records.ENV_INVOCATION: "inv-1",
           records.ENV_TASK_ID: "Toy_2026_11_27", records.ENV_ATTEMPT: "2"}
    for table, code in (("good", 0), ("bad", 1)):
        res = subprocess.run([sys.executable, "-c", JOB_SCRIPT, "--run-date", DAY, "--table", table],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == code, res.stderr
    ok, failed = records.read_records(tmp_path / "logs" / records.JOB_RUNS_FILE)
    assert (ok["job"], ok["run_date"], ok["status"], ok["rows_in"], ok["rows_out"], ok["details"]) == \
        ("toy_job", DAY, "ok", 3, 2, {"k": "v"})
    assert ok["args"] == {"run_date": DAY, "table": "good"} and ok["error"] is None
    assert (ok["invocation"], ok["task_id"], ok["attempt"]) == ("inv-1", "Toy_2026_11_27", 2)
    assert records.parse_time(ok["ended_at"]) >= records.parse_time(ok["started_at"]) and ok["duration_s"] >= 0
    assert (failed["status"], failed["error"], failed["rows_in"]) == ("failed", "ValueError: no such thing", None)
    # The log file keeps its lines as before.
    log = (tmp_path / "logs" / "toy_job.log").read_text()
    assert "END status=ok rows_in=3 rows_out=2" in log and "FAILED after" in log


def write_commit(table_dir, version: int, meta: dict) -> None:
    """A minimal Delta commit file whose commitInfo carries ``meta`` as userMetadata."""
    log_dir = table_dir / "_delta_log"
    log_dir.mkdir(parents=True, exist_ok=True)
    info = {"commitInfo": {"operation": "WRITE", "userMetadata": json.dumps(meta)}}
    (log_dir / f"{version:020d}.json").write_text(json.dumps(info) + "\n")


def test_run_summary_task_is_due_again_only_after_new_records(tmp_path):
    from churnlake.config import load_config
    from churnlake.monitoring.summary import JOB, SUMMARY_TASK_FAMILY
    from churnlake.tables import MONITORING_PIPELINE_RUNS
    from luigi_tasks.monitoring import RunSummary

    cfg = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    task = RunSummary(run_date=dt.date(2026, 11, 27))
    assert task.task_family == SUMMARY_TASK_FAMILY and not task.requires()  # runs after a failed pipeline too
    assert task.program_args()[-3:] == [str(PROJECT_ROOT / "jobs/monitoring/run_summary.py"), "--run-date", DAY]
    target = task.output()
    target._cfg = cfg
    assert not target.exists()  # no summary yet
    table_dir = tmp_path / "lakehouse" / MONITORING_PIPELINE_RUNS.relpath
    write_commit(table_dir, 0, {"job": JOB, "run_date": DAY, "last_event_at": None})
    assert target.exists()  # no record of the date: nothing newer to include
    for r in failed_run_records():
        records.append_record(cfg.logs_dir / records.TASK_RUNS_FILE, r)
    assert not target.exists()
    write_commit(table_dir, 1, {"job": JOB, "run_date": DAY, "last_event_at": T(28)})
    write_commit(table_dir, 2, {"job": JOB, "run_date": "2026-11-26", "last_event_at": T(59)})  # another date
    assert target.exists()
    records.append_record(cfg.logs_dir / records.TASK_RUNS_FILE, rec("START", "RunSummary", T(50), attempt=1))
    assert target.exists()  # the summary's own task does not make it stale
    records.append_record(cfg.logs_dir / records.JOB_RUNS_FILE, {"job": "silver_customers", "run_date": DAY,
                                                                  "ended_at": T(40)})
    assert not target.exists()  # a job run outside Luigi changed the date


def test_map_in_threads_keeps_the_order_and_raises_the_first_error(spark):
    from churnlake.spark import map_in_threads

    assert map_in_threads(spark, lambda n: spark.range(n).count(), [3, 1, 4, 1, 5], workers=3) == [3, 1, 4, 1, 5]

    def broken(n: int) -> int:
        if n == 2:
            raise ValueError("no table 2")
        return n

    with pytest.raises(ValueError, match="no table 2"):
        map_in_threads(spark, broken, [1, 2, 3], workers=2)


def test_table_facts_read_side_by_side_come_back_in_the_registry_order(spark, tmp_path):
    from churnlake.config import load_config
    from churnlake.monitoring.collect import table_facts
    from churnlake.tables import ALL_TABLES, GOLD_CHURN_LABELS, MONITORING_TABLES, SILVER_CUSTOMERS

    cfg = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    for table, rows in ((SILVER_CUSTOMERS, 3), (GOLD_CHURN_LABELS, 2)):
        spark.range(rows).write.format("delta").save(table.uri(cfg))
    spark.range(1).write.format("delta").mode("append").save(GOLD_CHURN_LABELS.uri(cfg))

    facts, missing = table_facts(spark, cfg, dt.date(2026, 11, 27))
    assert [f["table_name"] for f in facts] == [SILVER_CUSTOMERS.name, GOLD_CHURN_LABELS.name]
    assert [(f["total_rows"], f["delta_version"]) for f in facts] == [(3, 0), (3, 1)]
    assert missing == [t.name for t in ALL_TABLES
                       if t not in MONITORING_TABLES and t not in (SILVER_CUSTOMERS, GOLD_CHURN_LABELS)]
