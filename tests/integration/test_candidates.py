"""Every model candidate fits, cross-validates and scores on a small frame (in-process Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlake.ml.candidates import fit_candidate, scorer_for
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


@pytest.mark.parametrize("name", KNOWN_CANDIDATES)
def test_candidate_learns_the_signal_and_scores_like_it_was_tested(spark, name):
    train, test = frame(240, 1), frame(80, 2)
    fitted = fit_candidate(name, spark, train, test, CAT, NUM, seed=42, folds=2)
    assert fitted.library == ("sklearn" if name.startswith("sk_") else "mllib")
    assert 0.75 < fitted.cv_roc_auc <= 1.0
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test["churned"], fitted.test_proba) > 0.8
    assert len(fitted.test_proba) == len(test) and ((fitted.test_proba >= 0) & (fitted.test_proba <= 1)).all()
    assert set(fitted.params) and not fitted.importances.empty
    # The scorer used for the champion gate and batch scoring gives the test probabilities again.
    again = scorer_for(fitted.library, fitted.model, spark, CAT, NUM)(test)
    np.testing.assert_allclose(again, fitted.test_proba, rtol=1e-6, atol=1e-9)
