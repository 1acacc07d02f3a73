"""Ranking of batch scores and the contact-budget flag (in Spark, as jobs/ml/score.py writes them)."""

from __future__ import annotations

import importlib.util

import numpy as np

from churnlake.config import PROJECT_ROOT
from churnlake.ml.evaluation import contact_list, contact_size


def load_score_job():
    spec = importlib.util.spec_from_file_location("score_job", PROJECT_ROOT / "jobs" / "ml" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ranked_rows(spark, pairs, budget, **kw):
    job = load_score_job()
    scores = spark.createDataFrame(pairs, "customer_id string, churn_probability double").repartition(3)
    out = job.rank_scores(scores, budget=budget, **kw).orderBy("risk_rank").collect()
    return [(r["customer_id"], r["risk_rank"], r["in_contact_budget"]) for r in out]


def test_rank_scores_orders_by_probability_and_flags_the_budget(spark):
    ranked = ranked_rows(spark, [("c", 0.2), ("a", 0.9), ("b", 0.9), ("d", 0.1)], budget=0.5)
    assert ranked == [("a", 1, True), ("b", 2, True), ("c", 3, False), ("d", 4, False)]  # tie 0.9 broken by id


def test_the_budget_flags_the_same_customers_as_the_evaluation_contact_list(spark):
    rng = np.random.default_rng(5)
    proba = np.round(rng.random(23), 1)  # many ties
    ids = [f"c{i:02d}" for i in range(23)]  # id order = position order, as contact_list breaks ties
    for budget in (0.01, 0.1, 0.5, 1.0):
        ranked = ranked_rows(spark, list(zip(ids, proba.tolist())), budget=budget)
        flagged = {cid for cid, _, flag in ranked if flag}
        assert flagged == {ids[i] for i in contact_list(proba, budget)}
        assert len(flagged) == contact_size(23, budget) == max(1, int(np.ceil(23 * budget)))
        assert [rank for _, rank, _ in ranked] == list(range(1, 24))


def test_a_known_row_count_is_used_as_given(spark):
    ranked = ranked_rows(spark, [("a", 0.9), ("b", 0.5)], budget=0.5, n=10)  # 10 x 0.5 = 5 >= both
    assert [flag for _, _, flag in ranked] == [True, True]
