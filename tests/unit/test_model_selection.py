"""Candidates are chosen by cross-validation; the report says what was measured on which rows."""

import pytest

from churnlake.ml.candidates import choose_by_cv
from churnlake.ml.report import markdown


def test_the_best_cv_score_wins_whatever_a_test_score_would_say():
    results = [{"name": "a", "cv_roc_auc": 0.80, "metrics": {"roc_auc": 0.99}},  # lucky on test: not chosen
               {"name": "b", "cv_roc_auc": 0.86, "metrics": {}},
               {"name": "c", "cv_roc_auc": 0.86, "metrics": {}}]
    assert choose_by_cv(results)["name"] == "b"  # a tie goes to the first in the configured order
    with pytest.raises(ValueError, match="no candidates"):
        choose_by_cv([])


def test_the_report_shows_cv_for_all_and_test_only_for_the_chosen_and_the_champion():
    metrics = {k: 0.8 for k in ("roc_auc", "pr_auc", "f1", "recall", "precision", "accuracy", "top_budget_lift",
                                "revenue_lift")} | {"retained_revenue": 1234.0, "tn": 1, "fp": 2, "fn": 3, "tp": 4}
    summary = {"title": "t", "inputs": {"selection_metric": "roc_auc"}, "best": "b", "gate": "g.",
               "champion_score": 0.7512, "champion_before": "3", "plots": {},
               "candidates": [{"name": "a", "library": "sklearn", "cv_roc_auc": 0.81, "metrics": {}, "params": {}},
                              {"name": "b", "library": "mllib", "cv_roc_auc": 0.86, "metrics": metrics,
                               "params": {"x": 1}}]}
    text = markdown(summary)
    row_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    row_b = next(line for line in text.splitlines() if line.startswith("| b **(best)** |"))
    assert "0.810" in row_a and row_a.count("–") == 9  # no test-set numbers for a candidate not chosen
    assert "0.860" in row_b and "1,234" in row_b
    assert "test rows are used once" in text
    assert "champion version 3 roc_auc 0.751" in text and "chosen b roc_auc 0.800" in text
