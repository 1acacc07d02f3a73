"""Ranking of batch scores and the contact-budget flag."""

from __future__ import annotations

import importlib.util

import pandas as pd

from churnlake.config import PROJECT_ROOT


def load_score_job():
    spec = importlib.util.spec_from_file_location("score_job", PROJECT_ROOT / "jobs" / "ml" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rank_scores_orders_by_probability_and_flags_the_budget():
    job = load_score_job()
    scores = pd.DataFrame({"customer_id": ["c", "a", "b", "d"], "churn_probability": [0.2, 0.9, 0.9, 0.1]})
    ranked = job.rank_scores(scores, budget=0.5)
    assert list(ranked["customer_id"]) == ["a", "b", "c", "d"]  # tie 0.9 broken by id
    assert list(ranked["risk_rank"]) == [1, 2, 3, 4]
    assert list(ranked["in_contact_budget"]) == [True, True, False, False]
