"""Fit the preprocessing pipeline on the training split and write ``silver.customers_model_ready``.

    ./spark-submit.sh jobs/silver/model_ready.py --run-date 2026-11-27

Reads ``silver.customers`` at its current Delta version v, splits it (stratified by the
label, seeded by ``run.seed``, ``run.test_size``), fits imputation + encoding + scaling on
the training rows only, saves the fitted pipeline at
``<lakehouse>/silver/_preprocessing/customers/v<v>`` and writes every customer's features,
label and split. The commit names the pipeline and the input version (docs/silver.md).
"""

from __future__ import annotations

import argparse

from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import latest_version, overwrite_table, read_table
from churnlake.jobrun import JobResult, commit_metadata, job_arg_parser, run_job
from churnlake.ml import preprocessing
from churnlake.spark import cached, get_spark, stop
from churnlake.tables import SILVER_CUSTOMERS, SILVER_MODEL_READY

JOB = "silver_model_ready"


def preprocessing_uri(cfg: Config, silver_version: int) -> str:
    """Where the pipeline fitted on ``silver.customers`` version ``silver_version`` lives."""
    return f"{cfg.lakehouse_root}/silver/_preprocessing/customers/v{silver_version}"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Split, fit on train, transform all, save the pipeline and the model-ready table."""
    spark = get_spark(JOB, cfg)
    try:
        version = latest_version(spark, SILVER_CUSTOMERS, cfg)
        customers = read_table(spark, SILVER_CUSTOMERS, cfg, version=version)
        labelled = customers.where(F.col(preprocessing.LABEL).isNotNull())
        split = cached(preprocessing.stratified_split(labelled, preprocessing.LABEL, cfg.test_size, cfg.seed))
        model, ready = preprocessing.fit_transform(split)
        uri = preprocessing_uri(cfg, version)
        preprocessing.save(model, uri)
        ready = cached(ready.withColumn("preprocessing_uri", F.lit(uri)).withColumn("silver_version", F.lit(version)))
        counts = {r["split"]: r["count"] for r in ready.groupBy("split").count().collect()}
        overwrite_table(ready, SILVER_MODEL_READY, cfg, metadata=commit_metadata(
            JOB, args.run_date, silver_customers_version=version, preprocessing_uri=uri,
            features=len(preprocessing.feature_names(model))))
        return JobResult(rows_in=customers.count(), rows_out=sum(counts.values()),
                         details={"train": counts.get("train", 0), "test": counts.get("test", 0),
                                  "silver_version": version, "preprocessing_uri": uri})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
