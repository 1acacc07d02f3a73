"""Bronze ingestion tasks: one per source (and per billing table), daily or hourly.

    luigi --module luigi_tasks.ingestion IngestAll --run-date 2026-11-27 --run-hour 13 --local-scheduler

Each task is done when its bronze table holds the commit of its batch
(``<source>-<entity>-<interval>``); a batch that found nothing new still commits, so an
interval is never retried for lack of data.
"""

from __future__ import annotations

import luigi

from churnlake import tables
from churnlake.ingestion.batch import Interval, batch_id
from luigi_tasks.base import ChurnlakeSparkTask, logger
from luigi_tasks.targets import DeltaCommitTarget


class HourlyOption(ChurnlakeSparkTask):
    """A job that runs for a day, or for one hour of it when ``run_hour`` is set (``--run-hour``)."""

    run_hour = luigi.OptionalIntParameter(default=None, description="hour of an hourly run")

    def app_options(self) -> list[str]:
        hour = [] if self.run_hour is None else ["--run-hour", str(self.run_hour)]
        return super().app_options() + hour


class IngestionTask(HourlyOption):
    """A bronze ingestion job for one interval (a day, or an hour when ``run_hour`` is set)."""

    job_name: str = ""
    source: str = ""
    entity: str = ""
    table: tables.Table

    @property
    def interval(self) -> Interval:
        return Interval(self.run_date, self.run_hour)

    @property
    def batch_id(self) -> str:
        return batch_id(self.source, self.entity, self.interval)

    def output(self):
        return DeltaCommitTarget(self.table, self.job_name, self.run_date.isoformat(), batch_id=self.batch_id)


def empty_batch(task: IngestionTask) -> bool:
    """True when ``task``'s batch is committed and brought nothing: no row to bronze and none
    to the quarantine (commits from before the counts were recorded are never empty)."""
    found = task.output().matching()
    return bool(found) and found[-1].get("rows_written") == 0 and found[-1].get("rows_rejected") == 0


class AfterBatch(HourlyOption):
    """A step that works on what one source's batches brought (its validation, its silver build).

    Daily (``run_hour`` None) it always runs: the daily run covers whatever earlier runs left.
    Hourly it covers that hour's batch, so when the batch brought nothing
    (:func:`empty_batch`) there is nothing to do: the step is complete without starting a job,
    and says so on the console. Otherwise it runs its job with ``--run-hour``.
    """

    #: Why the step did not start its job (set by :meth:`run`; the console prints it).
    note: str | None = None

    def source_batch(self) -> IngestionTask:
        """The ingestion task whose batch this step works on."""
        raise NotImplementedError

    def nothing_new(self) -> bool:
        return self.run_hour is not None and empty_batch(self.source_batch())

    def complete(self) -> bool:
        return self.nothing_new() or super().complete()

    def run(self):
        if self.nothing_new():
            self.note = f"nothing new: batch {self.source_batch().batch_id} brought no rows"
            logger.info("%s: %s; no job started", self.task_id, self.note)
            return
        super().run()


class BronzeCrm(IngestionTask):
    """CRM CSV exports from the inbox into ``bronze.crm_customers``."""

    job_file = "jobs/bronze/ingest_crm.py"
    job_name, source, entity, table = "bronze_ingest_crm", "crm", "customers", tables.BRONZE_CRM_CUSTOMERS


class BronzeBilling(IngestionTask):
    """One billing-database table, read incrementally, into ``bronze.billing_<table>``."""

    billing_table = luigi.ChoiceParameter(choices=sorted(tables.BILLING_TABLES))
    job_file = "jobs/bronze/ingest_billing.py"
    job_name, source = "bronze_ingest_billing", "billing"

    @property
    def entity(self) -> str:  # type: ignore[override]
        return self.billing_table

    @property
    def table(self) -> tables.Table:  # type: ignore[override]
        return tables.BILLING_TABLES[self.billing_table]

    def app_options(self) -> list[str]:
        return super().app_options() + ["--table", self.billing_table]


class BronzeTickets(IngestionTask):
    """Support tickets from the REST API into ``bronze.support_tickets``."""

    job_file = "jobs/bronze/ingest_tickets.py"
    job_name, source, entity, table = "bronze_ingest_tickets", "support", "tickets", tables.BRONZE_SUPPORT_TICKETS


class BronzeAccessLogs(IngestionTask):
    """Access-log files into ``bronze.web_access_logs`` (bad lines to quarantine)."""

    job_file = "jobs/bronze/ingest_access_logs.py"
    job_name, source, entity, table = ("bronze_ingest_access_logs", "web", "access_logs",
                                       tables.BRONZE_WEB_ACCESS_LOGS)


class IngestAll(luigi.WrapperTask):
    """Every source for one interval; the sources are independent of each other."""

    run_date = luigi.DateParameter()
    run_hour = luigi.OptionalIntParameter(default=None)

    def requires(self):
        common = {"run_date": self.run_date, "run_hour": self.run_hour}
        yield BronzeCrm(**common)
        for name in sorted(tables.BILLING_TABLES):
            yield BronzeBilling(billing_table=name, **common)
        yield BronzeTickets(**common)
        yield BronzeAccessLogs(**common)
