"""Model metrics, the business metric, class weights, the ranking of scores and the training-set hash
(the Spark-side hash: tests/unit/test_training_scale.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlake.features.registry import load_registry
from churnlake.ml.candidates import class_weights, constant_for_empty
from churnlake.ml.evaluation import business_metrics, contact_list, contact_size, evaluate
from churnlake.ml.training_set import model_features, pandas_content_hash


def test_metrics_on_a_hand_checked_example():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.4, 0.2, 0.3, 0.05, 0.0])
    m = evaluate(y, p, threshold=0.5, monthly_charges=np.full(10, 100.0), budget=0.2, save_rate=0.5)
    # predicted positive: 0.9, 0.8, 0.7, 0.6 -> TP 2, FP 2; churner at 0.4 missed.
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 2, 1, 5)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(0.7)
    # Top 20 % = the two highest scores, both churners: 2 x 100 x 12 x 0.5 retained.
    assert m["retained_revenue"] == pytest.approx(1200.0)
    # A random list of 2 of 10 reaches 2/10 of the 3 churners' value: 0.6 x 600.
    assert m["random_retained_revenue"] == pytest.approx(360.0)
    assert m["revenue_lift"] == pytest.approx(1200 / 360)
    assert m["top_budget_lift"] == pytest.approx(1.0 / 0.3)
    assert 0.0 <= m["pr_auc"] <= 1.0 and m["roc_auc"] == pytest.approx(19 / 21)


def test_contact_list_takes_at_least_one_and_breaks_ties_by_position():
    assert list(contact_list(np.array([0.2, 0.9, 0.9, 0.1]), 0.5)) == [1, 2]
    assert list(contact_list(np.array([0.2, 0.1]), 0.01)) == [0]


def test_business_metrics_without_charges_keep_the_lift():
    out = business_metrics(np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3]), None, budget=0.25, save_rate=0.3)
    assert out == {"top_budget_churn_rate": 1.0, "top_budget_lift": 4.0}


def test_the_spark_class_weights_are_scikit_learns_balanced_weights(spark):
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([1, 0, 0, 0, 0, 1, 0])
    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    got = class_weights(spark.createDataFrame([(int(v),) for v in y], "churned int"))
    assert got == pytest.approx(tuple(expected))


def test_all_empty_numeric_columns_are_found(spark):
    frame = spark.createDataFrame([(1.0, None, 2), (None, None, None)], "a double, b double, c int")
    assert constant_for_empty(frame, ["a", "b", "c"]) == ["b"]
    assert constant_for_empty(frame, []) == []


def test_the_legacy_pandas_hash_sees_any_change():
    """The hash of runs recorded before the Spark-side hash (reproduce.py still checks them)."""
    frame = pd.DataFrame({"customer_id": ["a", "b"], "x": [1.0, None], "churned": [0, 1]})
    same = frame.copy()
    assert pandas_content_hash(frame) == pandas_content_hash(same)
    changed = frame.copy()
    changed.loc[1, "x"] = 0.0
    assert pandas_content_hash(changed) != pandas_content_hash(frame)
    assert pandas_content_hash(frame.rename(columns={"x": "y"})) != pandas_content_hash(frame)


def test_model_features_leave_out_the_excluded_tags():
    group = load_registry()["customer_churn"]
    cat, num = model_features(group, ("web",))
    web = {f.name for f in group.features if "web" in f.tags}
    assert web and not web & set(cat + num)
    assert "contract" in cat and "tenure_months" in num
    assert len(cat) + len(num) == len(group.features) - len(web)


def test_the_contact_budget_is_counted_exactly():
    # Floating point would give ceil(100 * 0.07) == 8 and ceil(3 * 0.1) == 1 only by luck.
    assert [contact_size(n, b) for n, b in ((100, 0.07), (3, 0.1), (1000, 0.1), (5, 0.01), (1, 1.0))] == \
        [7, 1, 100, 1, 1]
