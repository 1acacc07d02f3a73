"""Train the scikit-learn logistic-regression baseline on gold and register it in MLflow.

    ./spark-submit.sh jobs/ml/train.py --run-date 2026-11-27

Reads ``gold.customer_features`` and ``gold.churn_labels`` for the run date, logs params,
metrics (accuracy, precision, recall, F1, ROC-AUC) and the model, and registers it as the
configured model name (``churn-model``).
"""

from __future__ import annotations

import argparse
import logging

import mlflow
from mlflow.models import infer_signature
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import read_table
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.ml.baseline import FEATURES, LABEL, build_pipeline, evaluate, split
from churnlake.ml.tracking import JOB_TAG, RUN_DATE_TAG, configure_mlflow
from churnlake.spark import get_spark
from churnlake.tables import GOLD_CHURN_LABELS, GOLD_CUSTOMER_FEATURES

JOB = "ml_train"
log = logging.getLogger(JOB)


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Load the gold training set, fit, evaluate on a held-out split, log and register."""
    as_of = args.run_date.isoformat()
    spark = get_spark(JOB, cfg)
    try:
        when = F.col("as_of_date") == F.lit(as_of).cast("date")
        features = read_table(spark, GOLD_CUSTOMER_FEATURES, cfg).where(when).drop("as_of_date")
        labels = read_table(spark, GOLD_CHURN_LABELS, cfg).where(when).drop("as_of_date")
        data = features.join(labels, "customer_id", "inner").toPandas()
    finally:
        spark.stop()
    if data.empty:
        raise ValueError(f"gold holds no labelled features as of {as_of}")
    train, test = split(data, cfg.test_size, cfg.seed)
    model = build_pipeline(cfg.seed)
    model.fit(train[FEATURES], train[LABEL])
    metrics = evaluate(test[LABEL].to_numpy(), model.predict_proba(test[FEATURES])[:, 1])

    configure_mlflow(cfg)
    with mlflow.start_run(run_name=f"logreg-baseline-{as_of}") as run:
        mlflow.set_tags({JOB_TAG: JOB, RUN_DATE_TAG: as_of, "model_family": "sklearn.logistic_regression"})
        mlflow.log_params({"C": 1.0, "class_weight": "balanced", "seed": cfg.seed,
                           "test_size": cfg.test_size, "train_rows": len(train),
                           "test_rows": len(test), "as_of_date": as_of})
        mlflow.log_metrics(metrics)
        sample = train[FEATURES].head(5)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=cfg.registered_model,
            signature=infer_signature(sample, model.predict_proba(sample)[:, 1]),
            input_example=sample,
            # SimpleImputer keeps the numpy dtype it was fitted on; skops asks for it to be named.
            skops_trusted_types=["numpy.dtype"],
        )
    log.info("run %s metrics %s registered %s version %s", run.info.run_id, metrics,
             cfg.registered_model, info.registered_model_version)
    return JobResult(rows_in=len(data), rows_out=1,
                     details={"run_id": run.info.run_id, **metrics,
                              "model_version": info.registered_model_version})


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
