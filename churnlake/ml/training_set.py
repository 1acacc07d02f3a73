"""The training set, built only through the feature store, and its content hash.

Rows are the customers labelled on the label date (``gold.churn_labels``); each asks the
feature store for its features at ``label date - horizon`` (point-in-time, one pinned Delta
version of ``gold.customer_features``); labels are joined afterwards. Everything needed to
rebuild the set — both Delta versions, the dates, the registry version and the feature list
— is returned in :class:`TrainingSet` and logged with the model; :func:`content_hash` makes
"rebuilt exactly" checkable (``jobs/ml/reproduce.py``).

The set stays a Spark DataFrame (cached through :func:`churnlake.spark.cached`): its counts
and its hash are Spark aggregations, so no row is collected to the driver here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import latest_version, read_table
from churnlake.features.offline import Retrieval, get_historical_features
from churnlake.features.registry import FeatureGroup, load_registry
from churnlake.ml.settings import TrainingSettings
from churnlake.spark import cached
from churnlake.tables import GOLD_CHURN_LABELS

log = logging.getLogger(__name__)
KEY = "customer_id"
LABEL = "churned"
GROUP = "customer_churn"
#: How ``training_set_sha256`` is computed (MLflow param ``training_set_hash``): see
#: :func:`content_hash`. Runs without that param used :func:`pandas_content_hash`.
HASH_METHOD = "spark-xxhash64-sum-v1"
LEGACY_HASH_METHOD = "pandas-sorted-v0"


@dataclass
class TrainingSet:
    frame: DataFrame  # Spark: customer_id, features..., churned (long); one row per labelled customer
    categorical: list[str]
    numeric: list[str]
    retrieval: Retrieval
    labels_version: int
    label_date: dt.date
    feature_date: dt.date
    rows_without_features: int
    n_rows: int = 0
    n_churners: int = 0
    sha256: str = field(default="")
    labelled: DataFrame | None = field(default=None, repr=False)  # before dropping rows without features

    @property
    def features(self) -> list[str]:
        return self.categorical + self.numeric

    def inputs(self) -> dict[str, str]:
        """What to log with a model (MLflow params) to rebuild this set."""
        return {"feature_group": self.retrieval.feature_group,
                "feature_registry_version": self.retrieval.registry_version,
                "features_table": self.retrieval.table,
                "features_delta_version": str(self.retrieval.delta_version),
                "labels_table": GOLD_CHURN_LABELS.name, "labels_delta_version": str(self.labels_version),
                "label_date": self.label_date.isoformat(), "feature_date": self.feature_date.isoformat(),
                "n_features": str(len(self.features)), "features": ",".join(self.features),
                "training_set_rows": str(self.n_rows),
                "training_set_sha256": self.sha256, "training_set_hash": HASH_METHOD}


def model_features(group: FeatureGroup, exclude_tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(categorical, numeric) registry features the models use, leaving out excluded tags."""
    return split_features(group, [f.name for f in group.features if not set(f.tags) & set(exclude_tags)])


def split_features(group: FeatureGroup, features: list[str]) -> tuple[list[str], list[str]]:
    """``features`` (in their order) as (categorical, numeric) by their registry dtype: how a
    recorded feature list (a model's) is fed to the candidates' scorers."""
    strings = {f.name for f in group.features if f.dtype == "string"}
    return [f for f in features if f in strings], [f for f in features if f not in strings]


def row_hash(columns: list[str], salt: str) -> F.Column:
    """A 64-bit hash of a row's values. Spark's hash functions skip nulls, so every value goes
    with its null flag: (null, 1) and (1, null) hash differently."""
    parts = [x for c in columns for x in (F.col(c).isNull(), F.col(c))]
    return F.xxhash64(F.lit(salt), *parts)


def content_hash(df: DataFrame) -> str:
    """SHA-256 (hex) of a DataFrame's content, computed in Spark without collecting rows.

    One aggregation over a per-row 64-bit hash of every column (:func:`row_hash`, two salts):
    the row count, the exact sums of both hashes (as decimals, so they cannot overflow) and
    their XOR; then SHA-256 of those with the method, the column names and their types. The
    sums do not depend on row order or partitioning; any changed value, added, removed or
    duplicated row changes them (barring a 64-bit hash collision)."""
    h1, h2 = row_hash(df.columns, "churnlake-content-1"), row_hash(df.columns, "churnlake-content-2")
    agg = df.agg(F.count(F.lit(1)).alias("n"), F.sum(h1.cast("decimal(20,0)")).alias("s1"),
                 F.sum(h2.cast("decimal(20,0)")).alias("s2"), F.bit_xor(h1).alias("x1")).first()
    schema = ",".join(f"{f.name}:{f.dataType.simpleString()}" for f in df.schema.fields)
    text = "\x1f".join([HASH_METHOD, schema, str(agg["n"]), str(agg["s1"] or 0), str(agg["s2"] or 0),
                        str(agg["x1"] or 0)])
    return hashlib.sha256(text.encode()).hexdigest()


def pandas_content_hash(frame: pd.DataFrame) -> str:
    """The hash of runs recorded before :data:`HASH_METHOD` (no ``training_set_hash`` param):
    SHA-256 over column names and every value of the collected set, sorted by customer id."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def legacy_sha256(ts: TrainingSet) -> str:
    """:func:`pandas_content_hash` of the set exactly as the trainer before Spark-side hashing
    built it (collects the whole set: only for verifying models recorded that way)."""
    frame = ts.labelled.toPandas()
    frame = (frame.loc[frame["feature_snapshot_date"].notna()].drop(columns=["feature_snapshot_date"])
             .sort_values(KEY, kind="mergesort").reset_index(drop=True))
    frame[LABEL] = frame[LABEL].astype("int64")
    return pandas_content_hash(frame)


def build_training_set(spark: SparkSession, cfg: Config, settings: TrainingSettings, label_date: dt.date, *,
                       features_version: int | None = None, labels_version: int | None = None,
                       features: list[str] | None = None, feature_date: dt.date | None = None) -> TrainingSet:
    """The labelled training set of ``label_date`` (see the module docstring)."""
    group = load_registry()[GROUP]
    categorical, numeric = model_features(group, settings.exclude_feature_tags)
    if features is not None:  # rebuilding a recorded set: exactly its features, in its order
        categorical, numeric = split_features(group, features)
    feature_date = feature_date or settings.feature_date(label_date)
    labels_version = latest_version(spark, GOLD_CHURN_LABELS, cfg) if labels_version is None else labels_version
    labels = (read_table(spark, GOLD_CHURN_LABELS, cfg, version=labels_version)
              .where(F.col("as_of_date") == F.lit(label_date.isoformat()).cast("date"))
              .select(KEY, LABEL))
    # An event at the first instant after the feature date: the store serves the snapshot of
    # that date (or the latest before it), never a later one.
    event_ts = dt.datetime.combine(feature_date + dt.timedelta(days=1), dt.time())
    entities = labels.select(KEY, F.lit(event_ts).cast("timestamp").alias("event_timestamp"))
    joined, retrieval = get_historical_features(spark, cfg, entities, group=GROUP,
                                                features=categorical + numeric, delta_version=features_version)
    rows = cached(joined.join(labels, KEY, "inner")
                  .select(KEY, "feature_snapshot_date", *categorical, *numeric, LABEL))
    has_features = F.col("feature_snapshot_date").isNotNull()
    stale = has_features & (F.col("feature_snapshot_date") != F.lit(feature_date.isoformat()).cast("date"))
    stats = rows.agg(
        F.count(F.lit(1)).alias("n"), F.countDistinct(KEY).alias("customers"),
        F.count("feature_snapshot_date").alias("with_features"),
        F.count(F.when(stale, F.lit(1))).alias("stale"),
        F.sum(F.when(has_features, F.col(LABEL).cast("long"))).alias("churners")).first()
    if not stats["n"]:
        raise ValueError(f"gold.churn_labels (version {labels_version}) holds no labels for {label_date}")
    if stats["customers"] != stats["n"]:  # the split is per class: a customer twice could land on both sides
        raise ValueError(f"gold.churn_labels (version {labels_version}) holds {int(stats['n']) - int(stats['customers'])} "
                         f"duplicate customer rows for {label_date}: one label per customer and date expected")
    missing = int(stats["n"]) - int(stats["with_features"])
    if stats["stale"]:
        log.warning("%d rows got features from a snapshot before %s (no snapshot of that date)",
                    int(stats["stale"]), feature_date)
    if missing:
        log.warning("%d of %d labelled customers have no feature snapshot up to %s; left out",
                    missing, int(stats["n"]), feature_date)
    if not stats["with_features"]:
        raise ValueError(f"no labelled customer of {label_date} has features as of {feature_date}: "
                         f"run the gold job for {label_date} (it writes the training snapshot)")
    frame = rows.where(has_features).select(KEY, *categorical, *numeric, F.col(LABEL).cast("long").alias(LABEL))
    ts = TrainingSet(frame, categorical, numeric, retrieval, labels_version, label_date, feature_date, missing,
                     n_rows=int(stats["with_features"]), n_churners=int(stats["churners"] or 0), labelled=rows)
    ts.sha256 = content_hash(frame)
    return ts
