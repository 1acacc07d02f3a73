"""Build ``gold.customer_features`` and ``gold.churn_labels`` as of the run date.

    ./spark-submit.sh jobs/gold/customer_features.py --run-date 2026-11-27

Both tables are partitioned by ``as_of_date``; a run replaces its own partition, and both
are registered in the metastore (database ``gold``) for SQL users.
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.delta import read_table, register_in_catalog, replace_rows
from churnlake.jobrun import JobResult, commit_metadata, job_arg_parser, run_job
from churnlake.spark import get_spark
from churnlake.tables import GOLD_CHURN_LABELS, GOLD_CUSTOMER_FEATURES, SILVER_CUSTOMERS
from churnlake.transforms.gold import churn_labels, customer_features

JOB = "gold_customer_features"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Compute features and labels from silver and replace the run date's partitions."""
    spark = get_spark(JOB, cfg, catalog=True)
    try:
        customers = read_table(spark, SILVER_CUSTOMERS, cfg).cache()
        features = customer_features(customers, args.run_date)
        labels = churn_labels(customers, args.run_date)
        where = f"as_of_date = '{args.run_date.isoformat()}'"
        meta = commit_metadata(JOB, args.run_date)
        replace_rows(features, GOLD_CUSTOMER_FEATURES, cfg, replace_where=where, metadata=meta)
        replace_rows(labels, GOLD_CHURN_LABELS, cfg, replace_where=where, metadata=meta)
        for table in (GOLD_CUSTOMER_FEATURES, GOLD_CHURN_LABELS):
            register_in_catalog(spark, table, cfg)
        n_in = customers.count()
        return JobResult(rows_in=n_in, rows_out=n_in,
                         details={"labels": labels.count()})
    finally:
        spark.stop()


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
