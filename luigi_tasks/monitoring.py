"""The run summary task: the dashboard and monitoring tables of one run date.

    luigi --module luigi_tasks.monitoring RunSummary --run-date 2026-11-27 --local-scheduler

It requires nothing, so it runs after a failed pipeline run as well (the CLI calls it
whatever the pipeline's exit code). It is complete when ``monitoring.pipeline_runs`` holds a
summary of the date that includes the newest task and job record of that date: a later run
(a retry, a rerun after a fix) makes it due again, a second call without one does nothing.
"""

from __future__ import annotations

from churnlake import tables
from churnlake.monitoring import records
from churnlake.monitoring.summary import JOB, SUMMARY_TASK_FAMILY
from luigi_tasks.base import ChurnlakeSparkTask
from luigi_tasks.targets import DeltaCommitTarget


class SummaryTarget(DeltaCommitTarget):
    """Exists when the newest summary commit for the run date covers the newest record of it."""

    def latest_record_at(self) -> str | None:
        """The newest task/job record of the run date (the summary's own left out)."""
        logs = self.cfg.logs_dir
        return records.latest_event_at(records.read_records(logs / records.TASK_RUNS_FILE),
                                       records.read_records(logs / records.JOB_RUNS_FILE), self.run_date,
                                       exclude_families=[SUMMARY_TASK_FAMILY], exclude_jobs=[JOB])

    def exists(self) -> bool:
        mine = self.matching()
        if not mine:
            return False
        covered = mine[-1].get("last_event_at")
        latest = self.latest_record_at()
        if latest is None:
            return True
        return covered is not None and records.parse_time(covered) >= records.parse_time(latest)


class RunSummary(ChurnlakeSparkTask):
    """Summarise the run date into monitoring.pipeline_runs / task_runs and the run dashboard."""

    job_file = "jobs/monitoring/run_summary.py"

    def output(self):
        return SummaryTarget(tables.MONITORING_PIPELINE_RUNS, JOB, self.run_date.isoformat())
