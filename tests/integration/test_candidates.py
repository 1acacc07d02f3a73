"""Every model candidate fits, cross-validates and scores (in Spark) on a small frame (in-process Spark).

scikit-learn candidates fit on a pandas frame (in training: the capped sample of the split);
MLlib candidates on a Spark DataFrame (the whole split), without a pandas round trip. Both are
scored the way the test evaluation, the champion gate and batch scoring score them:
``churnlake.ml.scoring.score_frame`` (MLlib ``transform``; scikit-learn ``mapInPandas``).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from churnlake.ml.candidates import fit_candidate
from churnlake.ml.scoring import PROBABILITY, collect_sorted, score_frame
from churnlake.ml.settings import KNOWN_CANDIDATES

pytestmark = pytest.mark.integration
CAT, NUM = ["contract"], ["tenure_months", "late_payments", "avg_satisfaction"]


def frame(n: int, seed: int) -> pd.DataFrame:
    """Churn driven by contract, tenure and late payments; satisfaction is empty for some."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n)
    tenure = rng.integers(0, 72, n).astype(float)
    late = rng.poisson(1.0, n).astype(float)
    risk = 1.5 * (contract == "Month-to-month") - tenure / 30 + 0.8 * late + rng.normal(0, 0.5, n)
    sat = np.where(rng.random(n) < 0.3, np.nan, rng.integers(1, 6, n).astype(float))
    return pd.DataFrame({"customer_id": [f"c{seed}-{i}" for i in range(n)], "contract": contract,
                         "tenure_months": tenure, "late_payments": late, "avg_satisfaction": sat,
                         "churned": (risk > 0.5).astype(int)})


def spark_rows(spark, pdf: pd.DataFrame):
    """The same rows as a Spark DataFrame of the training set's types (NaN -> null)."""
    records = [tuple(None if isinstance(v, float) and np.isnan(v) else v for v in r)
               for r in pdf.itertuples(index=False, name=None)]
    return spark.createDataFrame(records, "customer_id string, contract string, tenure_months double, "
                                          "late_payments double, avg_satisfaction double, churned long")


@pytest.mark.parametrize("name", KNOWN_CANDIDATES)
def test_candidate_learns_the_signal_from_training_rows_only(spark, name):
    train, test = frame(240, 1), frame(80, 2)
    rows = train if name.startswith("sk_") else spark_rows(spark, train)
    fitted = fit_candidate(name, spark, rows, CAT, NUM, seed=42, folds=2)  # no test rows are given
    assert fitted.library == ("sklearn" if name.startswith("sk_") else "mllib")
    assert 0.75 < fitted.cv_roc_auc <= 1.0
    assert not hasattr(fitted, "test_proba")
    from sklearn.metrics import roc_auc_score

    # How the chosen model's test evaluation, the champion gate and batch scoring score: in Spark.
    test_rows = spark_rows(spark, test)
    scores = collect_sorted(score_frame(fitted.library, fitted.model, test_rows, CAT, NUM,
                                        keep=["customer_id", "churned"]))
    proba = scores[PROBABILITY].to_numpy()
    assert roc_auc_score(scores["churned"], proba) > 0.8
    assert len(proba) == len(test) and ((proba >= 0) & (proba <= 1)).all()
    assert set(fitted.params) and not fitted.importances.empty
    again = collect_sorted(score_frame(fitted.library, fitted.model, test_rows.repartition(3).orderBy("tenure_months"),
                                       CAT, NUM))
    assert list(again["customer_id"]) == list(scores["customer_id"])
    np.testing.assert_allclose(again[PROBABILITY], proba, rtol=1e-6, atol=1e-9)
    wrong = spark_rows(spark, train) if name.startswith("sk_") else train  # each library takes its own kind
    with pytest.raises(TypeError, match="scikit-learn|MLlib"):
        fit_candidate(name, spark, wrong, CAT, NUM, seed=42, folds=2)
