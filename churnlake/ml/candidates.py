"""Model candidates: scikit-learn and Spark MLlib, each with a small cross-validated search.

Every candidate is tuned and fitted on the training rows of the caller's stratified split and
returns a :class:`Fitted`: the best model, its parameters, its mean cross-validated ROC-AUC on
the rows it was fitted on and feature importances. MLlib candidates fit on the whole training
split, a Spark DataFrame; scikit-learn candidates on a pandas frame, the stratified sample of
the split capped at ``training.sklearn_max_rows`` (``churnlake.ml.splits.stratified_sample``).
The test rows never reach this module: candidates are chosen by their CV score, and the
caller scores only the chosen one (and the current champion) on the test rows, once, in Spark
(``churnlake.ml.scoring``; docs/modeling.md).

Class imbalance (26.5 % churners): class weights, not resampling — ``class_weight=
"balanced"`` (logistic regression, random forest, gradient boosting), a balanced
``weightCol`` (MLlib). The operating threshold stays 0.5, where
balanced weights put it near the recall/precision trade-off the problem formulation asks for.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from churnlake.jobrun import Sections
from churnlake.ml.scoring import model_input
from churnlake.ml.settings import DEFAULT_MLLIB_LANES
from churnlake.spark import cached, in_thread

log = logging.getLogger(__name__)
LABEL = "churned"
KEY = "customer_id"
T = TypeVar("T")


@dataclass
class Fitted:
    name: str
    library: str  # "sklearn" | "mllib"
    model: Any  # sklearn Pipeline | pyspark PipelineModel
    params: dict[str, Any]
    cv_roc_auc: float  # mean ROC-AUC over the CV folds of the chosen grid point: what candidates are ranked by
    importances: pd.Series  # feature (after encoding) -> importance, largest first
    extra: dict[str, Any] = field(default_factory=dict)


# Modest grids: 2-3 settings each, chosen for a few thousand rows on a small machine.
SKLEARN_GRIDS = {
    "sk_logreg": {"model__C": [0.1, 1.0, 10.0]},
    "sk_random_forest": {"model__max_depth": [6, 12], "model__min_samples_leaf": [5]},
    "sk_gradient_boosting": {"model__learning_rate": [0.05, 0.1], "model__max_depth": [3]},
}
MLLIB_GRIDS = {
    "mllib_logreg": {"regParam": [0.0, 0.01]},
    "mllib_random_forest": {"maxDepth": [5, 8]},
}


#: Candidates whose estimator takes no sparse matrix (the one-hot columns are then dense).
DENSE_INPUT = {"sk_gradient_boosting"}
#: OpenMP and BLAS threads of a scikit-learn fit. The scikit-learn lane shares the machine with
#: the engine's MLlib candidates; threads of an OpenMP region spin while they wait for each
#: other, so with two of them on cores the engine keeps busy, the histogram booster's search
#: took 69 s instead of ≈ 7 s on the demo (2026-12-06) and slowed the MLlib lanes with it.
SKLEARN_NATIVE_THREADS = 1
#: Rows (at most) of the training sample that permutation importances are measured on.
IMPORTANCE_ROWS = 2_000


def _sklearn_estimator(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if name == "sk_logreg":
        return LogisticRegression(max_iter=3000, class_weight="balanced", random_state=seed)
    if name == "sk_random_forest":
        # 100 trees: at M (80,002 rows) the search took 47.9 s of CPU against 94.5 s with 200,
        # CV ROC-AUC 0.98467 against 0.98477 (docs/modeling.md, "Forest sizes").
        return RandomForestClassifier(n_estimators=100, class_weight="balanced_subsample", n_jobs=2,
                                      random_state=seed)
    if name == "sk_gradient_boosting":
        # Histogram-based: the features are binned once (255 bins) and every split is found
        # on the bins, so a fit costs ≈ 6 s at 80,000 rows where the exact
        # GradientBoostingClassifier took ≈ 67 s (docs/modeling.md). No early stopping: the
        # same 150 rounds at every scale (it would hold out 10 % of the rows above 10,000).
        return HistGradientBoostingClassifier(max_iter=150, max_depth=3, early_stopping=False,
                                              class_weight="balanced", random_state=seed)
    raise ValueError(f"unknown scikit-learn candidate {name!r}")


def sklearn_pipeline(name: str, categorical: list[str], numeric: list[str], seed: int):
    """One-hot categories; median-impute and scale numbers; the candidate's estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                          ("scale", StandardScaler())]), numeric),
    ], sparse_threshold=0.0 if name in DENSE_INPUT else 0.3)  # 0.3: scikit-learn's default
    return Pipeline([("preprocess", pre), ("model", _sklearn_estimator(name, seed))])


def fit_sklearn(name: str, train: pd.DataFrame, categorical: list[str], numeric: list[str],
                *, seed: int, folds: int) -> Fitted:
    """Grid search with stratified folds (ROC-AUC), refit on all training rows. The test rows are
    not seen here: candidates are compared by their cross-validation score only."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from threadpoolctl import threadpool_limits

    if not isinstance(train, pd.DataFrame):
        raise TypeError(f"{name}: scikit-learn candidates fit on a pandas frame (the capped sample), "
                        f"got {type(train).__name__}")
    features = categorical + numeric
    search = GridSearchCV(sklearn_pipeline(name, categorical, numeric, seed), SKLEARN_GRIDS[name],
                          scoring="roc_auc", cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                          n_jobs=1, refit=True)
    step = Sections()
    with threadpool_limits(limits=SKLEARN_NATIVE_THREADS):
        with step("search"):
            search.fit(train[features], train[LABEL])
        best = search.best_estimator_
        with step("importances"):
            raw = sklearn_importances(best, train[features], train[LABEL], seed=seed)
    names = best.named_steps["preprocess"].get_feature_names_out()
    params = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    log.info("%s: time by step: %s", name, step.summary())
    return Fitted(name, "sklearn", best, params, float(search.best_score_),
                  pd.Series(raw, index=names).sort_values(ascending=False),
                  extra={"seconds": dict(step.seconds)})


def sklearn_importances(pipeline, x: pd.DataFrame, y: pd.Series, *, seed: int) -> np.ndarray:
    """One importance per encoded feature of the fitted ``pipeline``: |coefficient| (linear
    models), the impurity decrease (random forest), or, for an estimator with neither (the
    histogram gradient boosting), the mean drop in ROC-AUC when the feature is permuted, on a
    seeded sample of at most ``IMPORTANCE_ROWS`` of its training rows (2 repeats: ≈ 1 s for
    the demo's 69 encoded features)."""
    est = pipeline.named_steps["model"]
    if hasattr(est, "coef_"):
        return np.abs(est.coef_[0])
    if hasattr(est, "feature_importances_"):
        return est.feature_importances_
    from sklearn.inspection import permutation_importance

    rows = x.sample(n=IMPORTANCE_ROWS, random_state=seed) if len(x) > IMPORTANCE_ROWS else x
    encoded = pipeline.named_steps["preprocess"].transform(rows)
    found = permutation_importance(est, encoded, y.loc[rows.index], scoring="roc_auc", n_repeats=2,
                                   random_state=seed, n_jobs=1)
    return found.importances_mean


def mllib_pipeline(name: str, categorical: list[str], numeric: list[str], seed: int):
    """Index + one-hot categories (unknown kept), median-impute numbers, assemble, the estimator."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

    idx = [f"{c}__idx" for c in categorical]
    ohe = [f"{c}__ohe" for c in categorical]
    imp = [f"{c}__imp" for c in numeric]
    stages = [
        StringIndexer(inputCols=categorical, outputCols=idx, handleInvalid="keep", stringOrderType="alphabetAsc"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep", dropLast=True),
        Imputer(inputCols=numeric, outputCols=imp, strategy="median"),
        VectorAssembler(inputCols=ohe + imp, outputCol="assembled", handleInvalid="keep"),
    ]
    if name == "mllib_logreg":
        stages += [StandardScaler(inputCol="assembled", outputCol="features", withMean=True, withStd=True),
                   LogisticRegression(featuresCol="features", labelCol=LABEL, weightCol="weight", maxIter=50,
                                      tol=1e-5)]
    elif name == "mllib_random_forest":
        # 50 trees: at M the search took 71.9 s against 137.9 s with 100, CV ROC-AUC 0.97524
        # against 0.97546 (docs/modeling.md, "Forest sizes").
        stages.append(RandomForestClassifier(featuresCol="assembled", labelCol=LABEL, weightCol="weight",
                                             numTrees=50, minInstancesPerNode=5, seed=seed))
    else:
        raise ValueError(f"unknown MLlib candidate {name!r}")
    return Pipeline(stages=stages)


def constant_for_empty(df: DataFrame, numeric: list[str]) -> list[str]:
    """Numeric columns with no value at all (MLlib's Imputer cannot take a median of nothing):
    one Spark aggregation of non-null counts."""
    from pyspark.sql import functions as F

    if not numeric:
        return []
    counts = df.agg(*[F.count(F.col(c)).alias(c) for c in numeric]).first()
    return [c for c in numeric if not counts[c]]


def class_weights(df: DataFrame) -> tuple[float, float]:
    """(w0, w1) = n / (2 n_class) from the class counts of ``df``: both classes weigh the same in
    total (scikit-learn's ``class_weight="balanced"``, which its candidates use)."""
    from pyspark.sql import functions as F

    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(F.col(LABEL).cast("long")).alias("n1")).first()
    n, n1 = int(row["n"]), int(row["n1"] or 0)
    if n1 == 0 or n1 == n:
        raise ValueError("the training rows hold a single class; cannot train a classifier")
    return n / (2.0 * (n - n1)), n / (2.0 * n1)


FOLD = "cv_fold"
#: Rows per partition of the MLlib training frame.
ROWS_PER_PARTITION = 100_000
#: Grid points of one fold fitted side by side on the engine.
CV_THREADS = 2


def mllib_partitions(rows: int) -> int:
    """Partitions for ``rows`` training rows: one per ``ROWS_PER_PARTITION`` started.

    Few on purpose: every pass over the frame (each logistic-regression iteration, each tree
    level of the forest) is a Spark job whose cost on small data is per task and per shuffle,
    not per row. One partition needs no shuffle for the pass's final aggregate: on the demo
    (5.6k rows) it took the MLlib candidates' engine CPU from 49 to 28 s (logistic regression)
    and 50 to 35 s (forest) against two partitions (docs/benchmarks.md). Larger sets get a
    partition per 100k rows, enough for the cores of a small machine. (The frame comes out of
    the feature store's join with the shuffle's partition count, hence the repartition.)"""
    return max(1, math.ceil(rows / ROWS_PER_PARTITION))


def cv_fold(seed: int, folds: int):
    """The cross-validation fold of a row, 0 … folds-1, from a seeded hash of its customer id
    (the split's :func:`~churnlake.ml.splits.hash_bucket`): the same folds whatever the partitioning."""
    from pyspark.sql import functions as F

    from churnlake.ml.splits import hash_bucket

    return hash_bucket(F.col(KEY), seed, "churnlake-cv", folds)


def mllib_training_frame(train: DataFrame, categorical: list[str], numeric: list[str],
                         fill_zero: list[str], w0: float, w1: float) -> DataFrame:
    """The MLlib training columns: key, categories as text, numbers as double (``fill_zero``
    columns as 0), the label as double and the balanced ``weight``."""
    from pyspark.sql import functions as F

    rows = model_input(train.select(KEY, *categorical, *numeric, LABEL), categorical, numeric)
    if fill_zero:
        rows = rows.fillna({c: 0.0 for c in fill_zero})
    return (rows.withColumn(LABEL, F.col(LABEL).cast("double"))
            .withColumn("weight", F.when(F.col(LABEL) == 1, F.lit(w1)).otherwise(F.lit(w0))))


def cross_validate(pipeline, maps: list[dict], sdf: DataFrame, folds: int, evaluator,
                   threads: int = 1, step: Sections | None = None) -> list[float]:
    """The validation metric of each param map of the pipeline's last stage, averaged over the
    ``folds`` of the ``FOLD`` column (train on the other folds, evaluate on this one).

    What ``CrossValidator(foldCol=FOLD)`` computes, with less work: the stages before the
    estimator (indexers, encoder, imputer, scaler) have no tuned parameter, so they are fitted
    once per fold on its training rows, and every grid point's estimator fits on the same
    transformed, cached rows. ``CrossValidator`` refits the whole pipeline for every grid point
    (measured on the demo: 45 s against 74 s for the logistic regression's six fits).
    ``threads`` > 1 fits the grid points of a fold side by side. ``step`` times the two parts:
    ``cv_prepare`` fits the stages before the estimator; ``cv_fit`` holds the grid points' fits
    and evaluations, and the filling of the fold frames' caches, which the first fit does."""
    from pyspark.ml import Pipeline
    from pyspark.sql import functions as F

    stages = pipeline.getStages()
    prepare, estimator = Pipeline(stages=stages[:-1]), stages[-1]
    step = step or Sections()
    totals = [0.0] * len(maps)
    for fold in range(folds):
        with step("cv_prepare"):
            rest = sdf.where(F.col(FOLD) != fold)
            fitted = prepare.fit(rest)
            train = cached(fitted.transform(rest))
            valid = cached(fitted.transform(sdf.where(F.col(FOLD) == fold)))

        def score(params: dict) -> float:
            return float(evaluator.evaluate(estimator.fit(train, params).transform(valid)))

        with step("cv_fit"):
            if threads > 1 and len(maps) > 1:
                spark = sdf.sparkSession
                with ThreadPoolExecutor(max_workers=min(threads, len(maps)), thread_name_prefix="cv") as pool:
                    metrics = list(pool.map(in_thread(spark, score), maps))
            else:
                metrics = [score(params) for params in maps]
        for i, metric in enumerate(metrics):
            totals[i] += metric
        train.unpersist()
        valid.unpersist()
    return [total / folds for total in totals]


def fit_mllib(spark, name: str, train: DataFrame, categorical: list[str],
              numeric: list[str], *, seed: int, folds: int) -> Fitted:
    """Cross-validated grid search (ROC-AUC, :func:`cross_validate`) on all rows of the Spark
    DataFrame ``train``, best model refit on all of them (the test rows are not seen here;
    nothing is collected). Logs its time by step: ``frame`` (the counts and class weights; the
    frame's cache is filled by the first fold's ``cv_prepare``), the two steps of
    :func:`cross_validate`, ``refit`` and ``importances``."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import ParamGridBuilder

    if isinstance(train, pd.DataFrame):
        raise TypeError(f"{name}: MLlib candidates fit on a Spark DataFrame, got a pandas frame")
    step = Sections()
    with step("frame"):
        sdf, empty = _mllib_frame(name, train, categorical, numeric, seed=seed, folds=folds)
    pipeline = mllib_pipeline(name, categorical, numeric, seed)
    est = pipeline.getStages()[-1]
    grid = ParamGridBuilder()
    for param, values in MLLIB_GRIDS[name].items():
        grid = grid.addGrid(est.getParam(param), values)
    maps = grid.build()
    evaluator = BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol="rawPrediction",
                                              metricName="areaUnderROC")
    # Folds from a seeded hash of the customer id (not a rand(seed) draw, which depends on how
    # the frame happens to be partitioned: local session vs engine, AQE).
    metrics = cross_validate(pipeline, maps, sdf, folds, evaluator, threads=CV_THREADS, step=step)
    best_i = int(np.argmax(metrics))
    with step("refit"):
        best = pipeline.fit(sdf, maps[best_i])
    params = {p.name: v for p, v in maps[best_i].items()}
    with step("importances"):
        importances = mllib_importances(best, sdf.limit(5))
    sdf.unpersist()
    log.info("%s: time by step: %s", name, step.summary())
    return Fitted(name, "mllib", best, params, float(metrics[best_i]), importances,
                  extra={"empty_columns": empty, "seconds": dict(step.seconds)})


def _mllib_frame(name: str, train: DataFrame, categorical: list[str], numeric: list[str], *,
                 seed: int, folds: int) -> tuple[DataFrame, list[str]]:
    """The cached MLlib training frame of :func:`fit_mllib` (with its ``FOLD`` column) and the
    numeric columns with no value at all."""
    empty = constant_for_empty(train, numeric)
    if empty:  # same treatment as sklearn's keep_empty_features: a constant 0 column
        log.warning("%s: no values at all in %s; used as constant 0", name, ", ".join(empty))
    w0, w1 = class_weights(train)
    # Cached: every fold and grid point (and each logistic-regression iteration) reads it again;
    # uncached, each pass recomputed the split and the feature-store join beneath it.
    # Repartitioned by customer id and sorted: every pass (each logistic-regression iteration)
    # runs a handful of tasks instead of one per partition of the feature store's join, and the
    # rows of each partition, which MLlib's per-partition random draws (forest bootstrap)
    # depend on, are the same from run to run.
    rows = train.count()
    sdf = cached(mllib_training_frame(train, categorical, numeric, empty, w0, w1)
                 .withColumn(FOLD, cv_fold(seed, folds))
                 .repartition(mllib_partitions(rows), KEY).sortWithinPartitions(KEY))
    return sdf, empty


def mllib_importances(model, sample) -> pd.Series:
    """Importance per encoded feature: |coefficient| (logistic regression, scaled inputs) or the
    forest's impurity importance, named from the assembled vector's attributes."""
    out = model.transform(sample)
    column = "features" if "features" in out.columns else "assembled"
    attrs = out.schema[column].metadata.get("ml_attr", {}).get("attrs", {})
    names = {a["idx"]: a["name"] for group in attrs.values() for a in group}
    est = model.stages[-1]
    values = (np.abs(est.coefficients.toArray()) if hasattr(est, "coefficients")
              else est.featureImportances.toArray())
    return pd.Series(values, index=[names.get(i, f"f{i}") for i in range(len(values))]).sort_values(ascending=False)


def choose_by_cv(results: list[dict]) -> dict:
    """The candidate (a dict with ``cv_roc_auc``) with the best cross-validated ROC-AUC; ties go
    to the first in the configured order. Test-set scores play no part: the test rows stay
    untouched until the chosen model is evaluated, so its test metrics are an honest estimate."""
    if not results:
        raise ValueError("no candidates to choose from (training.candidates is empty)")
    return max(results, key=lambda r: r["cv_roc_auc"])


def fit_candidate(name: str, spark, train: DataFrame | pd.DataFrame, categorical: list[str],
                  numeric: list[str], *, seed: int, folds: int) -> Fitted:
    """Tune and fit one candidate on the training rows; it is ranked by ``cv_roc_auc``.
    ``train``: a pandas frame for scikit-learn candidates (the capped sample), the Spark
    DataFrame of the training split for MLlib ones."""
    if name.startswith("sk_"):
        return fit_sklearn(name, train, categorical, numeric, seed=seed, folds=folds)
    return fit_mllib(spark, name, train, categorical, numeric, seed=seed, folds=folds)


def fit_all(names: list[str], fit: Callable[[str], T], *, parallel: bool = True,
            mllib_lanes: int = DEFAULT_MLLIB_LANES, spark=None) -> dict[str, T]:
    """``fit(name)`` for every candidate, in lanes side by side when ``parallel``; the results
    in the order of ``names``.

    scikit-learn candidates compute in this (the driver's) process, MLlib candidates on the
    engine: run one after the other, each side idles while the other works. So one lane starts
    with the scikit-learn candidates and ``mllib_lanes`` lanes with the MLlib ones (each kind in
    the configured order), and a lane whose own kind is used up takes the next candidate of the
    other kind: no lane waits while a candidate is left. With one MLlib lane the demo's two
    MLlib candidates ran one after the other, the second one alone at the end, while the
    scikit-learn lane was done after half the time; two MLlib lanes start both at once and
    share the engine's cores (docs/modeling.md). The results are the same as fitting one after
    the other, since no candidate sees another. After an error no lane starts another
    candidate; the first error is raised once every lane has stopped. ``spark``: the job's
    session, made active in the lanes' threads (:func:`in_thread`). ``fit`` may do more than
    fit (the training job logs the candidate too) and return anything."""
    if mllib_lanes < 1:
        raise ValueError(f"mllib_lanes must be at least 1, got {mllib_lanes}")
    queues = {"sk": deque(n for n in names if n.startswith("sk_")),
              "mllib": deque(n for n in names if not n.startswith("sk_"))}
    lock = threading.Lock()
    failed = threading.Event()
    done: dict[str, T] = {}

    def run(first: str) -> None:
        then = "mllib" if first == "sk" else "sk"
        while not failed.is_set():
            with lock:
                queue = queues[first] or queues[then]
                if not queue:
                    return
                name = queue.popleft()
            try:
                done[name] = fit(name)
            except BaseException:
                failed.set()
                raise

    lanes = ["sk"] + ["mllib"] * mllib_lanes
    lanes = lanes[:len(names)]  # no lane that could only find the queues empty
    if not parallel or len(lanes) < 2:
        run("sk")  # a lane that has used up its own kind takes the other: this one takes all
    else:
        with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="fit") as pool:
            futures = [pool.submit(in_thread(spark, run), first) for first in lanes]
            for error in [f.exception() for f in futures]:
                if error is not None:
                    raise error
    return {name: done[name] for name in names}
