"""The churnlake pipeline DAG: ingest (4 sources) -> bronze -> validate -> silver -> gold -> train.

    luigi --module luigi_tasks.pipeline Pipeline --run-date 2026-11-27 --local-scheduler
"""

from __future__ import annotations

import luigi

from churnlake import tables
from luigi_tasks.base import ChurnlakeSparkTask
from luigi_tasks.ingestion import IngestAll
from luigi_tasks.targets import DeltaCommitTarget, MlflowRunTarget, OnlineFeaturesTarget
from luigi_tasks.validation import ValidateAll, ValidateBronze


class SilverCustomers(ChurnlakeSparkTask):
    """Type and deduplicate customers into ``silver.customers``."""

    job_file = "jobs/silver/customers.py"

    def requires(self):
        return ValidateBronze(table="crm_customers", run_date=self.run_date)

    def output(self):
        return DeltaCommitTarget(tables.SILVER_CUSTOMERS, "silver_customers", self.run_date.isoformat())


class SilverBilling(ChurnlakeSparkTask):
    """Latest typed invoices or payments into ``silver.invoices`` / ``silver.payments``."""

    billing_table = luigi.ChoiceParameter(choices=("invoices", "payments"))
    job_file = "jobs/silver/billing.py"

    def requires(self):
        return ValidateBronze(table=f"billing_{self.billing_table}", run_date=self.run_date)

    def app_options(self) -> list[str]:
        return super().app_options() + ["--table", self.billing_table]

    def output(self):
        table = {"invoices": tables.SILVER_INVOICES, "payments": tables.SILVER_PAYMENTS}[self.billing_table]
        return DeltaCommitTarget(table, f"silver_billing_{self.billing_table}", self.run_date.isoformat())


class SilverTickets(ChurnlakeSparkTask):
    """Latest typed ticket versions into ``silver.tickets``."""

    job_file = "jobs/silver/tickets.py"

    def requires(self):
        return ValidateBronze(table="support_tickets", run_date=self.run_date)

    def output(self):
        return DeltaCommitTarget(tables.SILVER_TICKETS, "silver_tickets", self.run_date.isoformat())


class SilverWebEvents(ChurnlakeSparkTask):
    """Pseudonymised access-log events into ``silver.web_events``."""

    job_file = "jobs/silver/web_events.py"

    def requires(self):
        return ValidateBronze(table="web_access_logs", run_date=self.run_date)

    def output(self):
        return DeltaCommitTarget(tables.SILVER_WEB_EVENTS, "silver_web_events", self.run_date.isoformat())


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


class SilverAll(luigi.WrapperTask):
    """Every silver table for one run date."""

    run_date = luigi.DateParameter()

    def requires(self):
        yield SilverCustomers(run_date=self.run_date)
        for name in ("invoices", "payments"):
            yield SilverBilling(billing_table=name, run_date=self.run_date)
        yield SilverTickets(run_date=self.run_date)
        yield SilverWebEvents(run_date=self.run_date)
        yield SilverModelReady(run_date=self.run_date)


class GoldCustomerFeatures(ChurnlakeSparkTask):
    """Write ``gold.customer_features`` and ``gold.churn_labels`` as of the run date."""

    job_file = "jobs/gold/customer_features.py"

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
