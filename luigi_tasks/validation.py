"""Validation tasks: each bronze table is checked against its expectation suite before silver.

    luigi --module luigi_tasks.validation ValidateAll --run-date 2026-11-27 --local-scheduler

A task is complete when its latest validation run for the date passed or only warned; a
run stopped by a critical check fails the task (the job exits non-zero) and everything
downstream of it waits (docs/validation.md).
"""

from __future__ import annotations

import luigi

from churnlake import tables
from churnlake.validation.store import run_id_for
from churnlake.validation.validate import JOB
from luigi_tasks.base import ChurnlakeSparkTask
from luigi_tasks.ingestion import BronzeAccessLogs, BronzeBilling, BronzeCrm, BronzeTickets
from luigi_tasks.targets import ValidationPassedTarget

SHORT_NAMES = {t.name.split(".", 1)[1]: t for t in tables.VALIDATED_TABLES}


def ingestion_task(short: str, run_date):
    """The daily ingestion task that feeds bronze table ``short``."""
    if short == "crm_customers":
        return BronzeCrm(run_date=run_date)
    if short.startswith("billing_"):
        return BronzeBilling(run_date=run_date, billing_table=short.split("_", 1)[1])
    if short == "support_tickets":
        return BronzeTickets(run_date=run_date)
    if short == "web_access_logs":
        return BronzeAccessLogs(run_date=run_date)
    raise ValueError(f"no ingestion task for {short}")


class ValidateBronze(ChurnlakeSparkTask):
    """Validate the new batches of one bronze table (jobs/validation/validate_bronze.py)."""

    table = luigi.ChoiceParameter(choices=sorted(SHORT_NAMES), description="bronze table to validate")
    job_file = "jobs/validation/validate_bronze.py"

    @property
    def name(self) -> str:
        return f"churnlake-validate-{self.table}-{self.run_date.isoformat()}"

    def requires(self):
        needed = [ingestion_task(self.table, self.run_date)]
        if self.table != "crm_customers":  # reference checks need the customers
            needed.append(BronzeCrm(run_date=self.run_date))
        return needed

    def app_options(self) -> list[str]:
        return super().app_options() + ["--table", self.table]

    def output(self):
        bronze = SHORT_NAMES[self.table]
        return ValidationPassedTarget(tables.QUALITY_RUNS, JOB, self.run_date.isoformat(),
                                      batch_id=run_id_for(bronze, self.run_date))


class ValidateAll(luigi.WrapperTask):
    """Every validated bronze table for one run date."""

    run_date = luigi.DateParameter()

    def requires(self):
        for short in sorted(SHORT_NAMES):
            yield ValidateBronze(table=short, run_date=self.run_date)
