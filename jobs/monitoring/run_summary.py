"""Summarise one run date: tasks, status, duration, rows per table, data quality, model metrics.

    ./spark-submit.sh jobs/monitoring/run_summary.py --run-date 2026-11-27

Reads ``logs/task_runs.jsonl`` and ``logs/job_runs.jsonl``, the Delta logs of every table,
``quality.validation_runs`` and the MLflow runs tagged with the date; writes
``<reports_dir>/runs/<run date>/dashboard.html`` (+ ``summary.json``), then replaces the run
date's rows of ``monitoring.task_runs`` and ``monitoring.pipeline_runs`` (docs/monitoring.md).
Works after a failed or half-finished run: whatever is missing is shown as missing.
"""

from __future__ import annotations

import argparse
import logging

from churnlake.config import Config
from churnlake.delta import replace_rows
from churnlake.jobrun import JobResult, commit_metadata, job_arg_parser, run_job
from churnlake.monitoring import collect, dashboard, records
from churnlake.monitoring.summary import (JOB, PIPELINE_RUNS_SCHEMA, SUMMARY_TASK_FAMILY, TASK_RUNS_SCHEMA,
                                          build_summary, pipeline_run_row, task_run_rows)
from churnlake.spark import get_spark, stop
from churnlake.tables import MONITORING_PIPELINE_RUNS, MONITORING_TASK_RUNS

HISTORY_RUNS = 14  # run dates in the dashboard's "recent runs"
log = logging.getLogger(JOB)


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Build the run date's summary, write its dashboard, store it in Delta."""
    day = args.run_date.isoformat()
    task_records = records.read_records(cfg.logs_dir / records.TASK_RUNS_FILE)
    job_records = records.read_records(cfg.logs_dir / records.JOB_RUNS_FILE)
    attempts = records.task_attempts(task_records, day, exclude_families=[SUMMARY_TASK_FAMILY])
    last_event = records.latest_event_at(task_records, job_records, day,
                                         exclude_families=[SUMMARY_TASK_FAMILY], exclude_jobs=[JOB])
    try:
        models, models_error = collect.model_runs(cfg, day), None
    except Exception as exc:  # noqa: BLE001 - an unreachable MLflow is shown on the dashboard, not fatal
        models, models_error = [], f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        log.warning("MLflow runs of %s not read: %s", day, models_error)
    links, paths = dashboard.report_links(cfg.reports_dir, day)
    spark = get_spark(JOB, cfg)
    try:
        tables, missing = collect.table_facts(spark, cfg, args.run_date)
        summary = build_summary(day, attempts, job_runs=records.job_runs_for(job_records, day), tables=tables,
                                missing_tables=missing, quality=collect.validation_runs(spark, cfg, args.run_date),
                                models=models, models_error=models_error, links=links, paths=paths,
                                last_event_at=last_event,
                                selection_metric=(cfg.raw.get("training") or {}).get("selection_metric"))
        history = dashboard.merge_history(
            summary, collect.earlier_summaries(spark, cfg, args.run_date, HISTORY_RUNS), HISTORY_RUNS)
        written = dashboard.write_dashboard(dashboard.dashboard_dir(cfg.reports_dir, day), summary, history)
        where = f"run_date = '{day}'"
        task_rows = task_run_rows(summary)
        replace_rows(spark.createDataFrame(task_rows, TASK_RUNS_SCHEMA), MONITORING_TASK_RUNS, cfg,
                     replace_where=where, rows=len(task_rows),
                     metadata=commit_metadata(JOB, args.run_date, status=summary["status"]))
        # Last: the commit the Luigi target looks for, with the newest record it includes.
        replace_rows(spark.createDataFrame([pipeline_run_row(summary)], PIPELINE_RUNS_SCHEMA),
                     MONITORING_PIPELINE_RUNS, cfg, replace_where=where, rows=1,
                     metadata=commit_metadata(JOB, args.run_date, status=summary["status"],
                                              last_event_at=last_event))
    finally:
        stop(spark)
    log.info("run %s: %s, %d tasks (%d failed, %d not run), quality %s, dashboard %s", day, summary["status"],
             summary["tasks_total"], summary["tasks_failed"], summary["tasks_pending"], summary["quality_status"],
             written["html"])
    return JobResult(rows_in=len(attempts), rows_out=len(summary["attempts"]) + 1,
                     details={"status": summary["status"], "dashboard": str(written["html"]),
                              "tasks": summary["tasks_total"], "failed": summary["failed_tasks"],
                              "quality": summary["quality_status"], "models": len(models)})


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
