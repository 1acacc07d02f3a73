"""The fitted preprocessing of customers: imputation, encoding and scaling as one Spark ML pipeline.

Fitted on the training split only (medians, modes, category indexes, means and standard
deviations never see test rows), saved next to the data it was fitted on, and loaded back
for training and inference so both apply exactly the same transformation (docs/silver.md).
"""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

NUMERIC = ("tenure_months", "monthly_charges", "total_charges")
BOOLEAN = ("senior_citizen", "partner", "dependents", "phone_service", "paperless_billing")
CATEGORICAL = ("gender", "multiple_lines", "internet_service", "online_security", "online_backup",
               "device_protection", "tech_support", "streaming_tv", "streaming_movies", "contract",
               "payment_method")
LABEL = "churn"


def stratified_split(df: DataFrame, label: str, test_size: float, seed: int, key: str = "customer_id") -> DataFrame:
    """Add ``split`` ('train'/'test'): within each label, the ``test_size`` share with the lowest
    seeded hash of ``key`` is test. Deterministic for a seed, and exactly stratified."""
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    order = F.xxhash64(F.col(key), F.lit(seed))
    rank = F.percent_rank().over(Window.partitionBy(label).orderBy(order, F.col(key)))
    return df.withColumn("split", F.when(rank < F.lit(test_size), "test").otherwise("train"))


def build_pipeline(numeric=NUMERIC, boolean=BOOLEAN, categorical=CATEGORICAL) -> Pipeline:
    """Impute (median for numbers, mode for flags), index + one-hot categories, scale numbers.

    Output column ``features``: scaled numerics, then flags (0/1), then one-hot categories.
    An unseen category at inference maps to its own "unknown" slot instead of failing.
    """
    num_imp = [f"{c}__imp" for c in numeric]
    flag_in = [f"{c}__num" for c in boolean]
    flag_imp = [f"{c}__imp" for c in boolean]
    idx = [f"{c}__idx" for c in categorical]
    ohe = [f"{c}__ohe" for c in categorical]
    return Pipeline(stages=[
        Imputer(strategy="median", inputCols=list(numeric), outputCols=num_imp),
        _FlagCaster(boolean),
        Imputer(strategy="mode", inputCols=flag_in, outputCols=flag_imp),
        StringIndexer(inputCols=list(categorical), outputCols=idx, handleInvalid="keep",
                      stringOrderType="alphabetAsc"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep", dropLast=True),
        VectorAssembler(inputCols=num_imp, outputCol="numeric__vec"),
        StandardScaler(inputCol="numeric__vec", outputCol="numeric__scaled", withMean=True, withStd=True),
        VectorAssembler(inputCols=["numeric__scaled", *flag_imp, *ohe], outputCol="features"),
    ])


def _FlagCaster(boolean):  # noqa: N802 - a stage factory that reads like a class in the stage list
    """A SQLTransformer casting boolean flags to doubles (null stays null, for the imputer)."""
    from pyspark.ml.feature import SQLTransformer

    casts = ", ".join(f"CAST({c} AS DOUBLE) AS {c}__num" for c in boolean)
    return SQLTransformer(statement=f"SELECT *, {casts} FROM __THIS__")


def feature_names(model: PipelineModel, numeric=NUMERIC, boolean=BOOLEAN, categorical=CATEGORICAL) -> list[str]:
    """Human-readable name of every slot of ``features`` (for importances and docs)."""
    indexer = next(s for s in model.stages if s.__class__.__name__ == "StringIndexerModel")
    names = list(numeric) + list(boolean)
    for col, labels in zip(categorical, indexer.labelsArray):
        # The indexer's "keep" adds an unknown category after the labels; the encoder's own
        # extra invalid slot is the one dropLast removes. So: labels, then unknown.
        names += [f"{col}={v}" for v in labels] + [f"{col}=__unknown__"]
    return names


def fit_transform(df: DataFrame, label: str = LABEL) -> tuple[PipelineModel, DataFrame]:
    """Fit on the rows with ``split == 'train'`` and transform every row."""
    train = df.where(F.col("split") == "train")
    model = build_pipeline().fit(train)
    return model, model_ready(model.transform(df), label)


def model_ready(transformed: DataFrame, label: str = LABEL) -> DataFrame:
    """The model-ready columns: id, label (0/1, null when unknown), split, features."""
    return transformed.select("customer_id", F.col(label).cast("int").alias("label"), "split", "features")


def save(model: PipelineModel, uri: str) -> None:
    """Save (overwriting) the fitted pipeline at ``uri`` (local path or hdfs://)."""
    model.write().overwrite().save(uri)


def load(uri: str) -> PipelineModel:
    """Load a fitted pipeline saved by :func:`save`."""
    return PipelineModel.load(uri)
