"""The training set, built only through the feature store, and its content hash.

Rows are the customers labelled on the label date (``gold.churn_labels``); each asks the
feature store for its features at ``label date - horizon`` (point-in-time, one pinned Delta
version of ``gold.customer_features``); labels are joined afterwards. Everything needed to
rebuild the set — both Delta versions, the dates, the registry version and the feature list
— is returned in :class:`TrainingSet` and logged with the model; :func:`content_hash` makes
"rebuilt exactly" checkable (``jobs/ml/reproduce.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import latest_version, read_table
from churnlake.features.offline import Retrieval, get_historical_features
from churnlake.features.registry import FeatureGroup, load_registry
from churnlake.ml.settings import TrainingSettings
from churnlake.tables import GOLD_CHURN_LABELS

log = logging.getLogger(__name__)
KEY = "customer_id"
LABEL = "churned"
GROUP = "customer_churn"


@dataclass
class TrainingSet:
    frame: pd.DataFrame  # customer_id, features..., churned; sorted by customer_id
    categorical: list[str]
    numeric: list[str]
    retrieval: Retrieval
    labels_version: int
    label_date: dt.date
    feature_date: dt.date
    rows_without_features: int
    sha256: str = field(default="")

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
                "n_features": str(len(self.features)), "features": ",".join(self.features), "training_set_rows": str(len(self.frame)),
                "training_set_sha256": self.sha256}


def model_features(group: FeatureGroup, exclude_tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(categorical, numeric) registry features the models use, leaving out excluded tags."""
    return split_features(group, [f.name for f in group.features if not set(f.tags) & set(exclude_tags)])


def split_features(group: FeatureGroup, features: list[str]) -> tuple[list[str], list[str]]:
    """``features`` (in their order) as (categorical, numeric) by their registry dtype: how a
    recorded feature list (a model's) is fed to the candidates' scorers."""
    strings = {f.name for f in group.features if f.dtype == "string"}
    return [f for f in features if f in strings], [f for f in features if f not in strings]


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 over column names and every value (row order as given)."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


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
    rows = joined.join(labels, KEY, "inner").select(KEY, "feature_snapshot_date", *categorical, *numeric, LABEL)
    frame = rows.toPandas()
    if frame.empty:
        raise ValueError(f"gold.churn_labels (version {labels_version}) holds no labels for {label_date}")
    missing = frame["feature_snapshot_date"].isna()
    stale = frame.loc[~missing, "feature_snapshot_date"].astype(str) != feature_date.isoformat()
    if stale.any():
        log.warning("%d rows got features from a snapshot before %s (no snapshot of that date)",
                    int(stale.sum()), feature_date)
    if missing.any():
        log.warning("%d of %d labelled customers have no feature snapshot up to %s; left out",
                    int(missing.sum()), len(frame), feature_date)
    frame = (frame.loc[~missing].drop(columns=["feature_snapshot_date"])
             .sort_values(KEY, kind="mergesort").reset_index(drop=True))
    frame[LABEL] = frame[LABEL].astype("int64")
    if frame.empty:
        raise ValueError(f"no labelled customer of {label_date} has features as of {feature_date}: "
                         f"run the gold job for {label_date} (it writes the training snapshot)")
    ts = TrainingSet(frame, categorical, numeric, retrieval, labels_version, label_date, feature_date,
                     int(missing.sum()))
    ts.sha256 = content_hash(frame)
    return ts
