"""Materialise the latest features per customer into the online store.

    ./spark-submit.sh jobs/features/materialize_online.py --run-date 2026-11-27

Takes the ``gold.customer_features`` snapshot of the run date (Delta version pinned) and
replaces the online table in one swap (docs/feature_store.md).
"""

from __future__ import annotations

import argparse

from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import latest_version, read_table
from churnlake.features.online import engine_for, materialize, online_url
from churnlake.features.registry import load_registry
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.spark import get_spark, stop
from churnlake.tables import get_table

JOB = "features_materialize_online"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Load the run date's snapshot into the online store."""
    group = load_registry()["customer_churn"]
    table = get_table(group.table)
    spark = get_spark(JOB, cfg)
    try:
        version = latest_version(spark, table, cfg)
        snapshot = (read_table(spark, table, cfg, version=version)
                    .where(F.col(group.timestamp) == F.lit(args.run_date))
                    .select(group.join_key, group.timestamp, *group.feature_names))
        if snapshot.limit(1).count() == 0:  # never swap in an empty table
            raise ValueError(f"{group.table} has no snapshot for {args.run_date}: run the gold job first")
        rows = (r.asDict() for r in snapshot.toLocalIterator())
        engine = engine_for(online_url(cfg))
        try:
            count = materialize(engine, group, rows, as_of_date=args.run_date, delta_version=version)
        finally:
            engine.dispose()
    finally:
        stop(spark)
    return JobResult(rows_in=count, rows_out=count, details={"delta_version": version, "store": online_url(cfg)})


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
