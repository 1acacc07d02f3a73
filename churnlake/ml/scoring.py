"""Scoring in Spark with a model of either library: the test rows, the champion gate, batch scoring.

- MLlib: the ``PipelineModel``'s ``transform``; the probability of class 1 is read from the
  ``probability`` vector.
- scikit-learn: ``mapInPandas`` with a function built by :func:`sklearn_predictor`, a closure
  that captures the fitted pipeline and the column lists and imports only numpy, pandas and
  threadpoolctl. It is pickled by value and runs in the engine's Python workers, which need numpy, pandas,
  pyarrow and scikit-learn but not churnlake (a Spark Connect client's code is not on a
  long-running engine's workers: docs/architecture.md).

Nothing here collects rows except :func:`collect_sorted`, which the callers use for small frames
only: the scored test rows with just the columns the metrics need (customer_id, churned, the
probability, monthly_charges), the capped scikit-learn sample, the input example.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

KEY = "customer_id"
PROBABILITY = "churn_probability"


def feature_columns(categorical: list[str], numeric: list[str]) -> list[Column]:
    """The model inputs as the models were fitted on them: categories as text, numbers as double."""
    return ([F.col(c).cast("string").alias(c) for c in categorical]
            + [F.col(c).cast("double").alias(c) for c in numeric])


def model_input(df: DataFrame, categorical: list[str], numeric: list[str]) -> DataFrame:
    """``df`` with its feature columns cast by :func:`feature_columns` (other columns as they are)."""
    features = set(categorical) | set(numeric)
    return df.select(*[c for c in df.columns if c not in features], *feature_columns(categorical, numeric))


def sklearn_predictor(model, features: list[str], keep: list[str], out: str = PROBABILITY
                      ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function: each batch's ``keep`` columns plus ``out`` = P(class 1)
    from ``model.predict_proba(batch[features])``.

    Self-contained on purpose: the closure refers only to its captured arguments and to numpy,
    pandas and threadpoolctl imported inside it, so it unpickles in a Python worker without
    churnlake."""
    features, keep = list(features), list(keep)

    def predict(batches):
        import numpy as np
        import pandas as pd
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

        # One native thread for the task's batches: Spark already runs a task per core, and
        # OpenMP threads (the histogram booster's) spin when the cores are taken. Set once per
        # task: threadpoolctl looks up the loaded libraries every time it is entered.
        with threadpool_limits(limits=1):
            for batch in batches:
                if len(batch) == 0:
                    continue
                proba = np.asarray(model.predict_proba(batch[features])[:, 1], dtype="float64")
                result = {c: batch[c].to_numpy() for c in keep}
                result[out] = proba
                yield pd.DataFrame(result, columns=[*keep, out])

    return predict


def score_frame(flavor: str, model, df: DataFrame, categorical: list[str], numeric: list[str],
                keep: list[str] | None = None, out: str = PROBABILITY) -> DataFrame:
    """``df``'s ``keep`` columns (default: the key) plus ``out``, the churn probability of the
    model (``flavor`` 'sklearn' or 'mllib'), computed in Spark. ``keep`` columns that are also
    features come back cast as features (see :func:`feature_columns`)."""
    keep = list(keep or [KEY])
    features = categorical + numeric
    missing = [c for c in dict.fromkeys(keep + features) if c not in df.columns]
    if missing:
        raise ValueError(f"cannot score: the rows have no column {', '.join(missing)}")
    rows = model_input(df.select(*dict.fromkeys(keep + features)), categorical, numeric)
    if flavor == "mllib":
        from pyspark.ml.functions import vector_to_array

        return model.transform(rows).select(*keep, vector_to_array("probability")[1].alias(out))
    if flavor == "sklearn":
        schema = T.StructType([rows.schema[c] for c in keep] + [T.StructField(out, T.DoubleType())])
        return rows.mapInPandas(sklearn_predictor(model, features, keep, out), schema)
    raise ValueError(f"unknown model flavor {flavor!r} (sklearn or mllib)")


def collect_sorted(df: DataFrame, key: str = KEY) -> pd.DataFrame:
    """A small frame (scored test rows, the scikit-learn sample, an input example) on the driver,
    sorted by ``key`` so that metrics and fits do not depend on the order partitions arrive in."""
    return df.toPandas().sort_values(key, kind="mergesort").reset_index(drop=True)
