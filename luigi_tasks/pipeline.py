"""The churnlake pipeline DAG: ingest (4 sources) -> bronze -> validate -> silver -> gold -> train.

    luigi --module luigi_tasks.pipeline Pipeline --run-date 2026-11-27 --local-scheduler
"""

from __future__ import annotations

import luigi

from churnlake import tables
from luigi_tasks.base import ChurnlakeSparkTask
from luigi_tasks.ingestion import IngestAll
from luigi_tasks.targets import DeltaCommitTarget, MlflowRunTarget
from luigi_tasks.validation import ValidateAll, ValidateBronze


class SilverCustomers(ChurnlakeSparkTask):
    """Type and deduplicate customers into ``silver.customers``."""

    job_file = "jobs/silver/customers.py"

    def requires(self):
        return ValidateBronze(table="crm_customers", run_date=self.run_date)

    def output(self):
        return DeltaCommitTarget(tables.SILVER_CUSTOMERS, "silver_customers", self.run_date.isoformat())


class GoldCustomerFeatures(ChurnlakeSparkTask):
    """Write ``gold.customer_features`` and ``gold.churn_labels`` as of the run date."""

    job_file = "jobs/gold/customer_features.py"

    def requires(self):
        return SilverCustomers(run_date=self.run_date)

    def output(self):
        day = self.run_date.isoformat()
        return [DeltaCommitTarget(tables.GOLD_CUSTOMER_FEATURES, "gold_customer_features", day),
                DeltaCommitTarget(tables.GOLD_CHURN_LABELS, "gold_customer_features", day)]


class TrainModel(ChurnlakeSparkTask):
    """Train the baseline, log it to MLflow and register ``churn-model``."""

    job_file = "jobs/ml/train.py"

    def requires(self):
        return GoldCustomerFeatures(run_date=self.run_date)

    def output(self):
        return MlflowRunTarget("ml_train", self.run_date.isoformat())


class Pipeline(luigi.WrapperTask):
    """The whole pipeline for one run date: every source's daily batch, and the model."""

    run_date = luigi.DateParameter()

    def requires(self):
        yield IngestAll(run_date=self.run_date)
        yield ValidateAll(run_date=self.run_date)
        yield TrainModel(run_date=self.run_date)
