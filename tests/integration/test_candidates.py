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
def test_candidate_learns_the_signal_from_training_rows_only(spark, name):
    train, test = frame(240, 1), frame(80, 2)
    fitted = fit_candidate(name, spark, train, CAT, NUM, seed=42, folds=2)  # no test rows are given
    assert fitted.library == ("sklearn" if name.startswith("sk_") else "mllib")
    assert 0.75 < fitted.cv_roc_auc <= 1.0
    assert not hasattr(fitted, "test_proba")
    from sklearn.metrics import roc_auc_score

    # The scorer used for the chosen model's test evaluation, the champion gate and batch scoring.
    proba = scorer_for(fitted.library, fitted.model, spark, CAT, NUM)(test)
    assert roc_auc_score(test["churned"], proba) > 0.8
    assert len(proba) == len(test) and ((proba >= 0) & (proba <= 1)).all()
    assert set(fitted.params) and not fitted.importances.empty
    again = scorer_for(fitted.library, fitted.model, spark, CAT, NUM)(test.sample(frac=1.0, random_state=3))
    np.testing.assert_allclose(np.sort(again), np.sort(proba), rtol=1e-6, atol=1e-9)
