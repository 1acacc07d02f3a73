"""The scikit-learn baseline: split, pipeline and metrics."""

import numpy as np
import pandas as pd
import pytest

from churnlake.ml.baseline import FEATURES, LABEL, build_pipeline, evaluate, split
from churnlake.transforms.gold import CATEGORICAL_FEATURES


def test_evaluate_matches_hand_computed_metrics():
    y = np.array([1, 0, 1, 0])
    proba = np.array([0.9, 0.6, 0.4, 0.1])
    m = evaluate(y, proba)
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["roc_auc"] == 0.75


def synthetic(n=200, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({c: rng.choice(["a", "b"], n) for c in CATEGORICAL_FEATURES})
    for c in FEATURES:
        if c not in df:
            df[c] = rng.normal(size=n)
    df[LABEL] = (df["tenure_months"] + rng.normal(scale=0.3, size=n) < 0).astype(int)
    df.loc[df.index % 7 == 0, "avg_satisfaction"] = np.nan  # unknown averages are imputed
    return df


def test_pipeline_learns_a_separable_signal_and_split_is_stratified():
    data = synthetic(n=800)  # enough rows for ~50 features, most of them noise
    train, test = split(data, 0.25, seed=1)
    assert len(test) == 200
    assert abs(train[LABEL].mean() - test[LABEL].mean()) < 0.05
    model = build_pipeline(seed=1).fit(train[FEATURES], train[LABEL])
    assert evaluate(test[LABEL].to_numpy(), model.predict_proba(test[FEATURES])[:, 1])["roc_auc"] > 0.9


def test_split_rejects_bad_training_data():
    data = synthetic()
    with pytest.raises(ValueError, match="lacks columns: churned"):
        split(data.drop(columns=[LABEL]), 0.2, 1)
    with pytest.raises(ValueError, match="single class"):
        split(data.assign(churned=0), 0.2, 1)
