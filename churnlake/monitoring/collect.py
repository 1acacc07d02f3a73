"""What a run summary reads besides the record files: Delta table facts, validation runs,
MLflow runs and earlier summaries. Every reader copes with what does not exist yet (a run
that failed early has no silver tables, no validation run, no model).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import commits_or_none, read_table, table_exists
from churnlake.monitoring import summary as S
from churnlake.spark import map_in_threads
from churnlake.tables import ALL_TABLES, MONITORING_PIPELINE_RUNS, MONITORING_TABLES, QUALITY_RUNS

log = logging.getLogger(__name__)
ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"  # the session time zone is UTC (churnlake.spark)


#: Tables whose facts are read side by side: each is two small queries (history, count).
FACT_THREADS = 4
_FACT_COLUMNS = ("version", "timestamp", "operation", "operationMetrics", "userMetadata")


def table_facts(spark: SparkSession, cfg: Config, run_date: dt.date) -> tuple[list[dict], list[str]]:
    """Facts of every registered table that exists (monitoring tables aside), and the names of
    those that do not exist yet, in the registry's order."""
    tables = [table for table in ALL_TABLES if table not in MONITORING_TABLES]

    def fact(table) -> dict | None:
        rows = commits_or_none(spark, table, cfg, _FACT_COLUMNS)
        if rows is None:
            return None
        commits = [r.asDict(recursive=True) for r in rows]
        total = read_table(spark, table, cfg).count()  # answered from the Delta log's statistics
        return S.table_stats(table.name, table.layer, commits, total, run_date.isoformat())

    found = map_in_threads(spark, fact, tables, FACT_THREADS)
    return ([f for f in found if f is not None],
            [table.name for table, f in zip(tables, found) if f is None])


def validation_runs(spark: SparkSession, cfg: Config, run_date: dt.date) -> list[dict]:
    """The latest validation run per table for ``run_date`` (none before the first validation)."""
    if not table_exists(spark, QUALITY_RUNS, cfg):
        return []
    rows = (read_table(spark, QUALITY_RUNS, cfg).where(F.col("run_date") == F.lit(run_date))
            .select("table_name", "status", "rows_in", "rows_passed", "rows_quarantined", "rows_blocked",
                    "checks", "checks_failed", "validated_at").collect())
    return S.latest_quality(r.asDict() for r in rows)


def _ms(value) -> str | None:
    if not value:
        return None
    from churnlake.monitoring.records import iso

    return iso(dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc))


def model_runs(cfg: Config, run_date: str) -> list[dict]:
    """MLflow runs tagged ``churnlake.run_date = run_date`` in any experiment, oldest first,
    with every metric they logged and the registered model version they produced.

    Read generically (tags, metrics), whatever the training job logs. A local SQLite store
    that does not exist yet has no runs (it is not created here).
    """
    from churnlake.ml.tracking import JOB_TAG, RUN_DATE_TAG

    uri = cfg.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    runs = client.search_runs(experiments, filter_string=f"tags.`{RUN_DATE_TAG}` = '{run_date}'",
                              max_results=500, order_by=["attributes.start_time ASC"])
    out = []
    for run in runs:
        tags = run.data.tags
        versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        version = max(versions, key=lambda v: int(v.version)) if versions else None
        if version is not None:  # search results leave the aliases out
            version = client.get_model_version(version.name, version.version)
        out.append({
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "candidate": (tags.get("churnlake.candidate") or tags.get("candidate")
                          or (f"best: {tags['churnlake.best_candidate']}" if tags.get("churnlake.best_candidate")
                              else None)
                          or tags.get("model_family") or run.info.run_name),
            "job": tags.get(JOB_TAG),
            "status": run.info.status,
            "started_at": _ms(run.info.start_time),
            "ended_at": _ms(run.info.end_time),
            "metrics": {k: float(v) for k, v in sorted(run.data.metrics.items())},
            "registered_model": version.name if version else None,
            "model_version": str(version.version) if version else None,
            "aliases": sorted(getattr(version, "aliases", None) or []) if version else [],
            "parent_run_id": tags.get("mlflow.parentRunId"),
        })
    return out


def earlier_summaries(spark: SparkSession, cfg: Config, run_date: dt.date, limit: int) -> list[dict]:
    """The stored summaries of the ``limit`` latest run dates other than ``run_date``, newest first."""
    if not table_exists(spark, MONITORING_PIPELINE_RUNS, cfg):
        return []
    df = read_table(spark, MONITORING_PIPELINE_RUNS, cfg).where(F.col("run_date") != F.lit(run_date))
    rows = (df.orderBy(F.col("run_date").desc()).limit(limit)
            .select(F.date_format("run_date", "yyyy-MM-dd").alias("run_date"), "status", "duration_s",
                    "tasks_total", "tasks_succeeded", "tasks_already_done", "tasks_failed", "tasks_pending",
                    "retries", "quality_status", "key_metric", "key_metric_value",
                    F.date_format("summarized_at", ISO_UTC).alias("summarized_at"))
            .collect())
    return [r.asDict() for r in rows]
