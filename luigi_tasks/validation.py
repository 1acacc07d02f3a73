"""Validation tasks: each bronze table is checked against its expectation suite before silver.

    luigi --module luigi_tasks.validation ValidateAll --run-date 2026-11-27 --local-scheduler

A task is complete when its latest validation run for the date passed or only warned; a
run stopped by a critical check fails the task (the job exits non-zero) and everything
downstream of it waits (docs/validation.md).
"""

from __future__ import annotations

import luigi

from churnlake import tables
from churnlake.ingestion.batch import Interval
from churnlake.validation.store import run_id_for
from churnlake.validation.validate import JOB
from luigi_tasks.ingestion import AfterBatch, BronzeAccessLogs, BronzeBilling, BronzeCrm, BronzeTickets
from luigi_tasks.targets import ValidationPassedTarget

SHORT_NAMES = {t.name.split(".", 1)[1]: t for t in tables.VALIDATED_TABLES}


def ingestion_task(short: str, run_date, run_hour: int | None = None):
    """The ingestion task (daily, or of one hour) that feeds bronze table ``short``."""
    when = {"run_date": run_date, "run_hour": run_hour}
    if short == "crm_customers":
        return BronzeCrm(**when)
    if short.startswith("billing_"):
        return BronzeBilling(billing_table=short.split("_", 1)[1], **when)
    if short == "support_tickets":
        return BronzeTickets(**when)
    if short == "web_access_logs":
        return BronzeAccessLogs(**when)
    raise ValueError(f"no ingestion task for {short}")


class ValidateBronze(AfterBatch):
    """Validate the new batches of one bronze table (jobs/validation/validate_bronze.py); an
    hourly run (``run_hour``) is skipped when the hour's batch brought nothing."""

    table = luigi.ChoiceParameter(choices=sorted(SHORT_NAMES), description="bronze table to validate")
    job_file = "jobs/validation/validate_bronze.py"

    @property
    def name(self) -> str:
        return f"churnlake-validate-{self.table}-{self.interval_label}"

    @property
    def interval_label(self) -> str:
        return Interval(self.run_date, self.run_hour).label

    def source_batch(self):
        return ingestion_task(self.table, self.run_date, self.run_hour)

    def requires(self):
        needed = [self.source_batch()]
        if self.table != "crm_customers":  # reference checks need the customers
            needed.append(BronzeCrm(run_date=self.run_date, run_hour=self.run_hour))
        return needed

    def app_options(self) -> list[str]:
        return super().app_options() + ["--table", self.table]

    def output(self):
        bronze = SHORT_NAMES[self.table]
        return ValidationPassedTarget(tables.QUALITY_RUNS, JOB, self.run_date.isoformat(),
                                      batch_id=run_id_for(bronze, self.run_date, self.run_hour))


class ValidateAll(luigi.WrapperTask):
    """Every validated bronze table for one run date (or one hour of it)."""

    run_date = luigi.DateParameter()
    run_hour = luigi.OptionalIntParameter(default=None)

    def requires(self):
        for short in sorted(SHORT_NAMES):
            yield ValidateBronze(table=short, run_date=self.run_date, run_hour=self.run_hour)
