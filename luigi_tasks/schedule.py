"""Periodic runs: hourly runs to silver and the daily pipeline, with backfill of missed intervals.

Luigi's range tools find every interval in a window whose task is not complete and run
them, oldest first:

    luigi --module luigi_tasks.schedule RangeHourly --of HourlyRun --hours-back 24 --hours-forward 0
    luigi --module luigi_tasks.schedule RangeDaily --of DailyPipeline --days-back 7 --days-forward 0

(``--of HourlyIngestion`` keeps the hours to bronze only.)

``churnlake schedule`` (``python -m churnlake.cli schedule``) runs both now and then every
hour; docs/ingestion.md shows the equivalent cron entries.
"""

from __future__ import annotations

import luigi
from luigi.tools.range import RangeDaily, RangeHourly  # noqa: F401 - re-exported for --module

from churnlake import tables
from churnlake.config import load_config
from churnlake.ingestion.batch import Interval, batch_id
from luigi_tasks.ingestion import IngestAll
from luigi_tasks.pipeline import HourlyPipeline, Pipeline
from luigi_tasks.targets import commit_metadata_of

__all__ = ["HourlyIngestion", "HourlyRun", "DailyPipeline", "RangeHourly", "RangeDaily"]

# (source, entity, table) of every hourly batch an interval needs.
_HOURLY = [("crm", "customers", tables.BRONZE_CRM_CUSTOMERS),
           *[("billing", name, table) for name, table in sorted(tables.BILLING_TABLES.items())],
           ("support", "tickets", tables.BRONZE_SUPPORT_TICKETS),
           ("web", "access_logs", tables.BRONZE_WEB_ACCESS_LOGS)]


class HourlyIngestion(luigi.WrapperTask):
    """All four sources for one hour."""

    date_hour = luigi.DateHourParameter()

    def requires(self):
        return IngestAll(run_date=self.date_hour.date(), run_hour=self.date_hour.hour)

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        """Complete hours, from one read of each bronze table's log (not one per hour)."""
        cfg = load_config()
        committed = {name: {m.get("batch_id") for m in commit_metadata_of(table, cfg)}
                     for _, name, table in _HOURLY}
        done = []
        for date_hour in parameter_tuples:
            interval = Interval(date_hour.date(), date_hour.hour)
            if all(batch_id(src, ent, interval) in committed[ent] for src, ent, _ in _HOURLY):
                done.append(date_hour)
        return done


class HourlyRun(luigi.WrapperTask):
    """One hour through validation to silver (:class:`~luigi_tasks.pipeline.HourlyPipeline`)."""

    date_hour = luigi.DateHourParameter()

    def requires(self):
        return HourlyPipeline(run_date=self.date_hour.date(), run_hour=self.date_hour.hour)


class DailyPipeline(luigi.WrapperTask):
    """The whole pipeline for one day (the range tools need a ``date`` parameter)."""

    date = luigi.DateParameter()

    def requires(self):
        return Pipeline(run_date=self.date)

