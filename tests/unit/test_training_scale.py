"""Training and scoring without collecting the data set: the Spark-side hash, split, sample and scoring."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from churnlake.config import load_config
from churnlake.ml.candidates import (FOLD, LABEL, class_weights, cross_validate, cv_fold, mllib_pipeline,
                                    mllib_training_frame, sklearn_pipeline)
from churnlake.ml.scoring import PROBABILITY, collect_sorted, model_input, score_frame, sklearn_predictor
from churnlake.ml.settings import DEFAULT_SKLEARN_MAX_ROWS, sklearn_cap, training_settings
from churnlake.ml.splits import ClassCut, class_cuts, stratified_sample, stratified_split
from churnlake.ml.training_set import content_hash


SCHEMA = "customer_id string, contract string, tenure double, late int, churned long"


def rows(n: int, churn_every: int = 4) -> list[tuple]:
    """``n`` customers, every ``churn_every``-th a churner; some values null."""
    return [(f"c{i:05d}", ["Month-to-month", "One year", None][i % 3], float(i % 70) if i % 11 else None,
             i % 5, int(i % churn_every == 0)) for i in range(n)]


@pytest.fixture(scope="module")
def small(spark):
    return spark.createDataFrame(rows(12), SCHEMA)


@pytest.fixture(scope="module")
def many(spark):
    return spark.createDataFrame(rows(4000), SCHEMA)


# --- the content hash -------------------------------------------------------------------------

def test_the_hash_does_not_depend_on_row_order_or_partitioning(spark, small):
    shuffled = spark.createDataFrame(list(reversed(rows(12))), SCHEMA).repartition(5)
    assert content_hash(small) == content_hash(shuffled) == content_hash(small.coalesce(1))
    # Pinned: the recorded hashes of registered models are compared with rebuilt ones, so a
    # change of the method must be deliberate (a new training_set_hash version), never silent.
    assert content_hash(small) == "faa787cfa0a9ef1de30e4fc13b2640bff78cbb4284f2e8ed0719fb11b72b3cad"


def test_the_hash_sees_any_changed_added_removed_or_duplicated_row(spark, small):
    base = content_hash(small)
    data = rows(12)
    changed = data[:1] + [data[1][:2] + (data[1][2] + 0.5,) + data[1][3:]] + data[2:]
    relabelled = data[:-1] + [data[-1][:4] + (1 - data[-1][4],)]
    assert content_hash(spark.createDataFrame(changed, SCHEMA)) != base
    assert content_hash(spark.createDataFrame(relabelled, SCHEMA)) != base
    assert content_hash(spark.createDataFrame(data[1:], SCHEMA)) != base  # removed
    assert content_hash(spark.createDataFrame(data + [("x", "One year", 1.0, 1, 0)], SCHEMA)) != base  # added
    assert content_hash(spark.createDataFrame(data + [data[3]], SCHEMA)) != base  # duplicated
    # Two values swapped between rows: every row still exists somewhere, the set of rows differs.
    swapped = [data[0][:3] + (data[1][3],) + data[0][4:], data[1][:3] + (data[0][3],) + data[1][4:]] + data[2:]
    assert content_hash(spark.createDataFrame(swapped, SCHEMA)) != base
    assert content_hash(small.withColumnRenamed("late", "late_payments")) != base
    assert content_hash(small.withColumn("late", F.col("late").cast("long"))) != base


def test_a_null_is_not_confused_with_a_missing_value_elsewhere(spark):
    schema = "customer_id string, a double, b double"
    one = spark.createDataFrame([("c1", None, 1.0)], schema)
    other = spark.createDataFrame([("c1", 1.0, None)], schema)
    assert content_hash(one) != content_hash(other)  # Spark's xxhash64 alone skips nulls


# --- the split --------------------------------------------------------------------------------

def ids(df) -> set[str]:
    return {r[0] for r in df.select("customer_id").collect()}


def test_the_split_is_the_same_for_a_seed_whatever_the_partitioning(many):
    a = stratified_split(many, 0.2, seed=42)
    b = stratified_split(many.repartition(7), 0.2, seed=42)
    assert ids(a.test) == ids(b.test) and ids(a.train) == ids(b.train)
    assert ids(stratified_split(many, 0.2, seed=43).test) != ids(a.test)


def test_the_split_is_stratified_and_disjoint(many):
    split = stratified_split(many, 0.2, seed=42)
    train, test = ids(split.train), ids(split.test)
    assert not train & test and len(train | test) == 4000
    assert (split.train_rows, split.test_rows) == (len(train), len(test))
    by_class = {r["churned"]: r["count"] for r in split.test.groupBy("churned").count().collect()}
    assert by_class == split.class_rows("test")
    assert by_class[1] / 1000 == pytest.approx(0.2, abs=0.01)  # 1,000 churners, 3,000 others
    assert by_class[0] / 3000 == pytest.approx(0.2, abs=0.01)


def test_cv_folds_come_from_the_customer_id_whatever_the_partitioning(many):
    from pyspark.sql import functions as F

    from churnlake.ml.candidates import FOLD, cv_fold

    def folds(df, seed=42):
        return {r["customer_id"]: r[FOLD] for r in df.select("customer_id", cv_fold(seed, 3).alias(FOLD)).collect()}

    a, b = folds(many), folds(many.repartition(5))
    assert a == b and set(a.values()) == {0, 1, 2}
    sizes = many.groupBy(cv_fold(42, 3).alias(FOLD)).count().select(F.min("count"), F.max("count")).first()
    assert sizes[0] > 0.9 * len(a) / 3 and sizes[1] < 1.1 * len(a) / 3
    assert folds(many, seed=7) != a


def test_a_single_class_cannot_be_split(spark):
    one_class = spark.createDataFrame([r[:4] + (0,) for r in rows(20)], SCHEMA)
    with pytest.raises(ValueError, match="single class"):
        stratified_split(one_class, 0.2, seed=1)
    with pytest.raises(ValueError, match="test_size"):
        stratified_split(one_class, 1.0, seed=1)


def test_class_cuts_take_the_nearest_boundary_or_never_more_than_the_share():
    counts = {0: {0: 3, 1: 3, 2: 3, 3: 3}, 1: {1: 2, 3: 2}}
    assert class_cuts(counts, 0.5, buckets=4) == {0: ClassCut(2, 6, 12), 1: ClassCut(2, 2, 4)}
    assert class_cuts(counts, 0.4, buckets=4) == {0: ClassCut(2, 6, 12), 1: ClassCut(2, 2, 4)}  # 4.8 -> 6, 1.6 -> 2
    at_most = class_cuts(counts, 0.4, buckets=4, at_most=True)
    assert at_most == {0: ClassCut(1, 3, 12), 1: ClassCut(1, 0, 4)}  # floor(4.8) = 4 -> 3; floor(1.6) = 1 -> 0
    with pytest.raises(ValueError):
        class_cuts(counts, 1.5)


# --- the scikit-learn sample ------------------------------------------------------------------

def test_under_the_cap_the_sample_is_every_row(many):
    sample = stratified_sample(many, 200_000, seed=42)
    assert sample.is_all and sample.rows == sample.of_rows == 4000 and sample.frame is many
    assert stratified_sample(many, None, seed=42).is_all


def test_over_the_cap_the_sample_is_capped_stratified_and_repeatable(many):
    sample = stratified_sample(many, 1000, seed=42)
    got = ids(sample.frame)
    assert len(got) == sample.rows <= 1000 and sample.rows > 950 and sample.of_rows == 4000
    churners = sample.frame.where("churned = 1").count()
    assert churners / sample.rows == pytest.approx(0.25, abs=0.01)
    assert ids(stratified_sample(many.repartition(3), 1000, seed=42).frame) == got
    with pytest.raises(ValueError, match="max_rows"):
        stratified_sample(many, 0, seed=42)


def test_the_cap_setting_defaults_to_200000_and_null_means_no_cap(cfg):
    assert training_settings(cfg).sklearn_max_rows == DEFAULT_SKLEARN_MAX_ROWS == 200_000
    off = load_config(environ={**os.environ, "CHURNLAKE__TRAINING__SKLEARN_MAX_ROWS": "null"})
    assert training_settings(off).sklearn_max_rows is None
    assert sklearn_cap(5000) == 5000 and sklearn_cap("5000") == 5000 and sklearn_cap(None) is None
    for bad in (0, -3, 2.5, "many", True):
        with pytest.raises(ValueError, match="sklearn_max_rows"):
            sklearn_cap(bad)


# --- weights and scoring in Spark -------------------------------------------------------------

def test_class_weights_balance_the_classes(small):
    w0, w1 = class_weights(small)  # 3 churners of 12
    assert 9 * w0 == pytest.approx(3 * w1) == pytest.approx(6.0)


def test_the_mllib_training_frame_is_typed_weighted_and_filled(small):
    w0, w1 = class_weights(small)
    frame = mllib_training_frame(small.withColumn("empty", F.lit(None).cast("int")), ["contract"],
                                 ["tenure", "late", "empty"], ["empty"], w0, w1)
    assert dict(frame.dtypes) == {"customer_id": "string", "contract": "string", "tenure": "double",
                                  "late": "double", "empty": "double", "churned": "double", "weight": "double"}
    got = {r["customer_id"]: r for r in frame.collect()}
    assert got["c00000"]["weight"] == pytest.approx(w1) and got["c00001"]["weight"] == pytest.approx(w0)
    assert {r["empty"] for r in got.values()} == {0.0} and got["c00000"]["tenure"] is None  # only "empty" filled


def test_cross_validation_scores_every_grid_point_as_crossvalidator_does(spark):
    """The preprocessing fitted once per fold, the grid points side by side, gives CrossValidator's
    own averages (it refits the whole pipeline for every grid point)."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator

    cat, num = ["contract"], ["tenure", "late"]
    # Churn only loosely tied to the features: no perfect fit, so the penalty changes the ranking.
    data = spark.createDataFrame([(f"c{i:04d}", ["Month-to-month", "One year"][i % 2], float(i % 17), i % 5,
                                   int((i * 7) % 11 < 4 + i % 2)) for i in range(240)], SCHEMA)
    w0, w1 = class_weights(data)
    sdf = mllib_training_frame(data, cat, num, [], w0, w1).withColumn(FOLD, cv_fold(7, 2)).cache()
    pipeline = mllib_pipeline("mllib_logreg", cat, num, seed=7)
    est = pipeline.getStages()[-1]
    maps = [{est.regParam: 0.0}, {est.regParam: 1.0}]
    evaluator = BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol="rawPrediction")
    reference = CrossValidator(estimator=pipeline, estimatorParamMaps=maps, evaluator=evaluator, numFolds=2,
                               foldCol=FOLD).fit(sdf).avgMetrics
    np.testing.assert_allclose(cross_validate(pipeline, maps, sdf, 2, evaluator, threads=2), reference, rtol=1e-9)
    assert reference[0] != reference[1]
    sdf.unpersist()


def fitted_sklearn(frame: pd.DataFrame):
    model = sklearn_pipeline("sk_logreg", ["contract"], ["tenure", "late"], seed=0)
    return model.fit(frame[["contract", "tenure", "late"]], frame["churned"])


def test_sklearn_scores_in_spark_equal_the_driver_s(spark, many):
    cat, num = ["contract"], ["tenure", "late"]
    local = collect_sorted(model_input(many, cat, num))
    model = fitted_sklearn(local)
    scored = score_frame("sklearn", model, many.repartition(3), cat, num, keep=["customer_id", "churned", "late"])
    assert scored.columns == ["customer_id", "churned", "late", PROBABILITY]
    got = collect_sorted(scored)
    assert list(got["customer_id"]) == list(local["customer_id"])
    np.testing.assert_allclose(got[PROBABILITY], model.predict_proba(local[cat + num])[:, 1], rtol=1e-12)
    assert list(got["late"]) == list(local["late"]) and got["late"].dtype == np.float64  # a feature: cast
    with pytest.raises(ValueError, match="no column"):
        score_frame("sklearn", model, many.drop("late"), cat, num)
    with pytest.raises(ValueError, match="flavor"):
        score_frame("onnx", model, many, cat, num)


def test_the_input_examples_probabilities_in_process_equal_the_engines(spark, many):
    """The training job scores a scikit-learn candidate's five example rows in its own process
    (jobs/ml/train.py, ``log_candidate``); they must be what Spark's ``mapInPandas`` gives."""
    cat, num = ["contract"], ["tenure", "late"]
    model = fitted_sklearn(collect_sorted(model_input(many, cat, num)).head(50))
    examples = many.orderBy("customer_id").limit(5)
    example = collect_sorted(model_input(examples, cat, num))[cat + num]
    here = next(sklearn_predictor(model, cat + num, keep=[])(iter([example])))
    assert list(here.columns) == [PROBABILITY] and len(here) == 5
    there = collect_sorted(score_frame("sklearn", model, examples, cat, num))
    np.testing.assert_allclose(here[PROBABILITY].to_numpy(), there[PROBABILITY].to_numpy(), rtol=1e-12)


def test_the_mapinpandas_function_runs_without_churnlake(spark, many, tmp_path):
    """What an engine's Python worker gets: the pickled closure, on a path without churnlake."""
    from pyspark import cloudpickle

    cat, num = ["contract"], ["tenure", "late"]
    local = collect_sorted(model_input(many, cat, num)).head(50)
    model = fitted_sklearn(local)
    predict = sklearn_predictor(model, cat + num, ["customer_id"])
    (tmp_path / "fn.pkl").write_bytes(cloudpickle.dumps(predict))
    local.to_pickle(tmp_path / "rows.pkl")
    script = textwrap.dedent(f"""
        import importlib.abc, pickle, sys
        class NoChurnlake(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "churnlake" or name.startswith("churnlake."):
                    raise ImportError("churnlake is not on this worker")
        sys.meta_path.insert(0, NoChurnlake())
        import pandas as pd
        predict = pickle.loads(open({str(tmp_path / 'fn.pkl')!r}, "rb").read())
        rows = pd.read_pickle({str(tmp_path / 'rows.pkl')!r})
        out = pd.concat(predict(iter([rows.head(20), rows.iloc[20:0], rows.iloc[20:]])))
        assert "churnlake" not in sys.modules
        out.to_pickle({str(tmp_path / 'out.pkl')!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = pd.read_pickle(tmp_path / "out.pkl")
    assert list(out.columns) == ["customer_id", PROBABILITY] and list(out["customer_id"]) == list(local["customer_id"])
    np.testing.assert_allclose(out[PROBABILITY], model.predict_proba(local[cat + num])[:, 1], rtol=1e-12)


def test_the_mllib_frame_has_one_partition_per_hundred_thousand_rows():
    from churnlake.ml.candidates import mllib_partitions

    assert [mllib_partitions(n) for n in (0, 10, 5_636, 100_000, 100_001, 200_000, 800_000)] == [1, 1, 1, 1, 2, 2, 8]
