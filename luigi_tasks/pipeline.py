"""The churnlake pipeline DAG: ingest (4 sources) -> bronze -> validate -> silver -> gold -> train.

    luigi --module luigi_tasks.pipeline Pipeline --run-date 2026-11-27 --local-scheduler
    luigi --module luigi_tasks.pipeline HourlyPipeline --run-date 2026-11-28 --run-hour 5 --local-scheduler

The hourly pipeline takes one hour's batches through validation to silver; the daily one covers
what the hours left and goes on to gold, the model and scoring (docs/architecture.md).
"""

from __future__ import annotations

import luigi

from churnlake import tables
from churnlake.ingestion.batch import Interval
from luigi_tasks.base import ChurnlakeSparkTask
from luigi_tasks.ingestion import AfterBatch, IngestAll
from luigi_tasks.targets import DeltaCommitTarget, MlflowRunTarget, OnlineFeaturesTarget
from luigi_tasks.validation import ValidateAll, ValidateBronze


class SilverStep(AfterBatch):
    """A silver build of one bronze table's validated batches: daily, or hourly (``run_hour``:
    skipped when the hour's batch brought nothing). Its target is the commit of its interval,
    so an hourly build never stands in for the date's daily one."""

    silver_job: str = ""
    silver_table: tables.Table

    def requires(self):
        return ValidateBronze(table=self.validated, run_date=self.run_date, run_hour=self.run_hour)

    @property
    def validated(self) -> str:
        """The bronze table (short name) whose validated batches this build reads."""
        raise NotImplementedError

    def source_batch(self):
        return self.requires().source_batch()

    def output(self):
        label = Interval(self.run_date, self.run_hour).label
        return DeltaCommitTarget(self.silver_table, self.silver_job, self.run_date.isoformat(), interval=label,
                                 batch_id=None if self.run_hour is None else label)


#: Luigi runs the runnable task of the highest priority first, and a task's dependencies
#: inherit its priority. Everything gold needs outranks what it does not (the model-ready
#: table, the EDA report), which fill the slots that would otherwise idle at the end of the
#: silver builds; the CRM chain outranks the other sources, so its short jobs do not end up
#: alone at that end (on the demo ValidateBronze[crm] and SilverCustomers ran last, one
#: worker idle for 15 s, before this). docs/architecture.md.
GOLD_PATH_PRIORITY = 10
CRM_PATH_PRIORITY = 20


class SilverCustomers(SilverStep):
    """Type and deduplicate customers into ``silver.customers``."""

    job_file = "jobs/silver/customers.py"
    priority = CRM_PATH_PRIORITY
    silver_job, silver_table, validated = "silver_customers", tables.SILVER_CUSTOMERS, "crm_customers"


class SilverBilling(SilverStep):
    """Latest typed invoices or payments into ``silver.invoices`` / ``silver.payments``."""

    billing_table = luigi.ChoiceParameter(choices=("invoices", "payments"))
    job_file = "jobs/silver/billing.py"

    @property
    def validated(self) -> str:  # type: ignore[override]
        return f"billing_{self.billing_table}"

    @property
    def silver_job(self) -> str:  # type: ignore[override]
        return f"silver_billing_{self.billing_table}"

    @property
    def silver_table(self) -> tables.Table:  # type: ignore[override]
        return {"invoices": tables.SILVER_INVOICES, "payments": tables.SILVER_PAYMENTS}[self.billing_table]

    def app_options(self) -> list[str]:
        return super().app_options() + ["--table", self.billing_table]


class SilverTickets(SilverStep):
    """Latest typed ticket versions into ``silver.tickets``."""

    job_file = "jobs/silver/tickets.py"
    silver_job, silver_table, validated = "silver_tickets", tables.SILVER_TICKETS, "support_tickets"


class SilverWebEvents(SilverStep):
    """Pseudonymised access-log events into ``silver.web_events``."""

    job_file = "jobs/silver/web_events.py"
    silver_job, silver_table, validated = "silver_web_events", tables.SILVER_WEB_EVENTS, "web_access_logs"


class SilverModelReady(ChurnlakeSparkTask):
    """Fit the preprocessing on the training split; write ``silver.customers_model_ready``."""

    job_file = "jobs/silver/model_ready.py"

    def requires(self):
        return SilverCustomers(run_date=self.run_date)

    def output(self):
        return DeltaCommitTarget(tables.SILVER_MODEL_READY, "silver_model_ready", self.run_date.isoformat())


class EdaCustomers(ChurnlakeSparkTask):
    """EDA report of ``silver.customers`` into ``<reports_dir>/eda/<run date>/``."""

    job_file = "jobs/eda/customers.py"

    def requires(self):
        return SilverCustomers(run_date=self.run_date)

    def output(self):
        from churnlake.config import load_config
        from churnlake.eda.report import INDEX, report_dir

        return luigi.LocalTarget(str(report_dir(load_config(), self.run_date) / INDEX))


def silver_builds(run_date, run_hour: int | None = None) -> list[SilverStep]:
    """The silver build of every validated source for one run date (or one hour of it)."""
    when = {"run_date": run_date, "run_hour": run_hour}
    return [SilverCustomers(**when), *[SilverBilling(billing_table=name, **when) for name in ("invoices", "payments")],
            SilverTickets(**when), SilverWebEvents(**when)]


class SilverAll(luigi.WrapperTask):
    """Every silver table for one run date."""

    run_date = luigi.DateParameter()

    def requires(self):
        yield from silver_builds(self.run_date)
        yield SilverModelReady(run_date=self.run_date)


class GoldCustomerFeatures(ChurnlakeSparkTask):
    """Write ``gold.customer_features`` and ``gold.churn_labels`` as of the run date."""

    job_file = "jobs/gold/customer_features.py"
    priority = GOLD_PATH_PRIORITY

    def requires(self):
        return [SilverCustomers(run_date=self.run_date),
                SilverBilling(billing_table="invoices", run_date=self.run_date),
                SilverBilling(billing_table="payments", run_date=self.run_date),
                SilverTickets(run_date=self.run_date),
                SilverWebEvents(run_date=self.run_date)]

    def output(self):
        day = self.run_date.isoformat()
        return [DeltaCommitTarget(tables.GOLD_CUSTOMER_FEATURES, "gold_customer_features", day),
                DeltaCommitTarget(tables.GOLD_CHURN_LABELS, "gold_customer_features", day)]


class MaterializeOnlineFeatures(ChurnlakeSparkTask):
    """Load the run date's feature snapshot into the online store (inference lookups)."""

    job_file = "jobs/features/materialize_online.py"

    def requires(self):
        return GoldCustomerFeatures(run_date=self.run_date)

    def output(self):
        return OnlineFeaturesTarget(self.run_date)


class TrainModel(ChurnlakeSparkTask):
    """Train the candidates from the feature store, register the best as ``churn-model``, gate
    the champion alias (docs/modeling.md)."""

    job_file = "jobs/ml/train.py"

    def requires(self):
        return GoldCustomerFeatures(run_date=self.run_date)

    def output(self):
        return MlflowRunTarget("ml_train", self.run_date.isoformat())


class ScoreCustomers(ChurnlakeSparkTask):
    """Score the active customers with the champion into ``gold.churn_predictions``."""

    job_file = "jobs/ml/score.py"

    def requires(self):
        return [TrainModel(run_date=self.run_date), GoldCustomerFeatures(run_date=self.run_date)]

    def output(self):
        return DeltaCommitTarget(tables.GOLD_CHURN_PREDICTIONS, "ml_score", self.run_date.isoformat())


class Pipeline(luigi.WrapperTask):
    """The whole pipeline for one run date: every source's daily batch, and the model."""

    run_date = luigi.DateParameter()

    def requires(self):
        yield IngestAll(run_date=self.run_date)
        yield ValidateAll(run_date=self.run_date)
        yield SilverAll(run_date=self.run_date)
        yield EdaCustomers(run_date=self.run_date)
        yield MaterializeOnlineFeatures(run_date=self.run_date)
        yield ScoreCustomers(run_date=self.run_date)


class HourlyPipeline(luigi.WrapperTask):
    """One hour: every source's hourly batch, its validation and its silver build. Steps whose
    source brought nothing that hour start no job (:class:`~luigi_tasks.ingestion.AfterBatch`);
    gold, the model and scoring stay daily (:class:`Pipeline`)."""

    run_date = luigi.DateParameter()
    run_hour = luigi.IntParameter(description="hour of the run date, 0..23")

    def requires(self):
        Interval(self.run_date, self.run_hour)  # refuses an hour outside 0..23
        yield IngestAll(run_date=self.run_date, run_hour=self.run_hour)
        yield ValidateAll(run_date=self.run_date, run_hour=self.run_hour)
        yield from silver_builds(self.run_date, self.run_hour)
