"""Offline feature retrieval for training: point-in-time correct, Spark-native.

Given an entity DataFrame (the join key and an event timestamp per row), return each row's
feature values from the latest gold snapshot that was complete *before* the event: snapshot
``as_of_date = D`` holds information up to the end of D, so it may serve an event at time t
only when ``D + 1 day <= t``. A later snapshot, or a later rewrite of the table, never leaks
into an earlier row: the table is read at one pinned Delta version, which is returned with
the registry version so the training set can be rebuilt exactly (docs/feature_store.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import latest_version, read_table
from churnlake.features.registry import FeatureGroup, load_registry
from churnlake.tables import get_table

ROW_ID = "__entity_row"


@dataclass(frozen=True)
class Retrieval:
    """What a retrieval used: record it with the model (MLflow params/tags)."""

    feature_group: str
    registry_version: str
    table: str
    delta_version: int
    features: tuple[str, ...]

    def as_dict(self) -> dict:
        return {**asdict(self), "features": list(self.features)}


def point_in_time_join(entities: DataFrame, snapshots: DataFrame, *, key: str, event_ts: str,
                       snapshot_date: str, features: list[str]) -> DataFrame:
    """Each entity row with the feature values of the latest snapshot usable at its event time.

    Rows without a usable snapshot keep null features (and are kept: nothing is dropped).
    """
    rows = entities.withColumn(ROW_ID, F.monotonically_increasing_id())
    snap = snapshots.select(F.col(key).alias("__key"), F.col(snapshot_date).alias("__snapshot_date"),
                            *[F.col(f) for f in features])
    usable = F.date_add(F.col("__snapshot_date"), 1).cast("timestamp") <= F.col(event_ts).cast("timestamp")
    candidates = rows.join(snap, (rows[key] == snap["__key"]) & usable, "left")
    latest = Window.partitionBy(ROW_ID).orderBy(F.col("__snapshot_date").desc_nulls_last())
    picked = candidates.withColumn("__rank", F.row_number().over(latest)).where("__rank = 1")
    return picked.drop("__key", "__rank", ROW_ID).withColumnRenamed("__snapshot_date", "feature_snapshot_date")


def get_historical_features(spark: SparkSession, cfg: Config, entities: DataFrame, *,
                            group: str = "customer_churn", features: list[str] | None = None,
                            event_ts: str = "event_timestamp", delta_version: int | None = None
                            ) -> tuple[DataFrame, Retrieval]:
    """Point-in-time features for ``entities`` from a registered feature group."""
    fg: FeatureGroup = load_registry()[group]
    wanted = features or fg.feature_names
    unknown = [f for f in wanted if f not in fg.feature_names]
    if unknown:
        raise ValueError(f"features not in the {group} registry: {', '.join(unknown)}")
    for col in (fg.join_key, event_ts):
        if col not in entities.columns:
            raise ValueError(f"the entity DataFrame needs a {col!r} column")
    table = get_table(fg.table)
    version = latest_version(spark, table, cfg) if delta_version is None else delta_version
    snapshots = read_table(spark, table, cfg, version=version)
    joined = point_in_time_join(entities, snapshots, key=fg.join_key, event_ts=event_ts,
                                snapshot_date=fg.timestamp, features=wanted)
    return joined, Retrieval(fg.name, fg.registry_version, fg.table, version, tuple(wanted))
