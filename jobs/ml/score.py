"""Batch scoring: every active customer scored by ``models:/churn-model@champion`` into gold.

    ./spark-submit.sh jobs/ml/score.py --run-date 2026-11-27

Active customers are those labelled on the run date who have not churned. Their features come
through the feature store (point-in-time, as of the end of the run date: the snapshot the
online store serves too). The champion is resolved by alias once, so every row of a run
carries the same model version. Scoring and ranking run in Spark — an MLlib champion as a
``transform``, a scikit-learn one through ``mapInPandas`` with a self-contained function over
the loaded pipeline (churnlake/ml/scoring.py) — and no customer row comes to the driver.
Writes ``gold.churn_predictions`` (partition ``as_of_date``, replaced by a rerun) with
probability, rank, the contact-budget flag and the model version.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import read_table, register_in_catalog, replace_rows
from churnlake.features.offline import get_historical_features
from churnlake.features.registry import load_registry
from churnlake.jobrun import JobResult, commit_metadata, job_arg_parser, run_job
from churnlake.ml.evaluation import contact_size
from churnlake.ml.registry import CHAMPION, current_champion, load_model
from churnlake.ml.scoring import KEY, PROBABILITY, score_frame
from churnlake.ml.settings import training_settings
from churnlake.ml.tracking import configure_mlflow
from churnlake.ml.training_set import GROUP, split_features
from churnlake.schemas import conform, struct
from churnlake.spark import get_spark, stop
from churnlake.tables import GOLD_CHURN_LABELS, GOLD_CHURN_PREDICTIONS

JOB = "ml_score"
log = logging.getLogger(JOB)


def rank_scores(scores: DataFrame, budget: float, n: int | None = None) -> DataFrame:
    """Add ``risk_rank`` (1 = highest ``churn_probability``; ties by customer id ascending) and
    ``in_contact_budget`` (rank <= max(1, ceil(n x budget)), the count
    :func:`churnlake.ml.evaluation.contact_list` takes). ``n``: the number of rows, when known.

    The rank is one ordered window over the narrow scored rows (id, probability, snapshot date):
    Spark sorts them in one task of the engine, nothing is collected."""
    n = scores.count() if n is None else n
    order = Window.orderBy(F.col(PROBABILITY).desc_nulls_last(), F.col(KEY).asc())
    return (scores.withColumn("risk_rank", F.row_number().over(order))
            .withColumn("in_contact_budget", F.col("risk_rank") <= F.lit(contact_size(n, budget))))


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    settings = training_settings(cfg)
    configure_mlflow(cfg)
    client = MlflowClient()
    champion = current_champion(client, cfg.registered_model)
    if champion is None:
        raise ValueError(f"models:/{cfg.registered_model}@{CHAMPION} does not exist: train a model first "
                         "(jobs/ml/train.py)")
    spark = get_spark(JOB, cfg, catalog=True)
    try:
        flavor, model = load_model(client, cfg.registered_model, champion)
        features = client.get_run(champion.run_id).data.params["features"].split(",")
        day = args.run_date.isoformat()
        active = (read_table(spark, GOLD_CHURN_LABELS, cfg)
                  .where((F.col("as_of_date") == F.lit(day).cast("date")) & (F.col("churned") == 0))
                  .select(KEY))
        event_ts = dt.datetime.combine(args.run_date + dt.timedelta(days=1), dt.time())
        entities = active.withColumn("event_timestamp", F.lit(event_ts).cast("timestamp"))
        joined, retrieval = get_historical_features(spark, cfg, entities, features=features)
        counts = joined.agg(F.count(F.lit(1)).alias("n"), F.count("feature_snapshot_date").alias("present")).first()
        if not counts["n"]:
            raise ValueError(f"no active customers labelled on {day} (gold.churn_labels)")
        present, missing = int(counts["present"]), int(counts["n"]) - int(counts["present"])
        if missing:
            log.warning("%d active customers have no feature snapshot up to %s; not scored", missing, day)
        cat, num = split_features(load_registry()[GROUP], features)
        scored = score_frame(flavor, model, joined.where(F.col("feature_snapshot_date").isNotNull()), cat, num,
                             keep=[KEY, "feature_snapshot_date"])
        scored_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        out = (rank_scores(scored, settings.contact_budget, n=present)
               .withColumn("model_name", F.lit(cfg.registered_model))
               .withColumn("model_version", F.lit(str(champion.version)))
               .withColumn("model_run_id", F.lit(champion.run_id))
               .withColumn("features_delta_version", F.lit(retrieval.delta_version).cast("long"))
               .withColumn("scored_at", F.lit(scored_at).cast("timestamp"))
               .withColumn("feature_snapshot_date", F.col("feature_snapshot_date").cast("date"))
               .withColumn("as_of_date", F.lit(day).cast("date")))
        out = conform(out, struct(cfg, "gold", "churn_predictions"), "gold.churn_predictions")
        replace_rows(out, GOLD_CHURN_PREDICTIONS, cfg, replace_where=f"as_of_date = '{day}'",
                     metadata=commit_metadata(JOB, args.run_date, model_version=str(champion.version),
                                              features_delta_version=retrieval.delta_version))
        register_in_catalog(spark, GOLD_CHURN_PREDICTIONS, cfg)
        # The summary from the partition just written (the scores are computed once, by the write).
        written = (read_table(spark, GOLD_CHURN_PREDICTIONS, cfg)
                   .where(F.col("as_of_date") == F.lit(day).cast("date"))
                   .agg(F.count(F.lit(1)).alias("n"), F.avg(PROBABILITY).alias("mean"),
                        F.count(F.when(F.col("in_contact_budget"), F.lit(1))).alias("contact")).first())
        return JobResult(rows_in=int(counts["n"]), rows_out=int(written["n"]),
                         details={"model_version": str(champion.version), "flavor": flavor,
                                  "in_contact_budget": int(written["contact"]),
                                  "mean_probability": round(float(written["mean"] or 0.0), 4)})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
