"""Candidates are chosen by cross-validation; the report says what was measured on which rows."""

import dataclasses
import importlib.util

import pandas as pd
import pytest

from churnlake.config import PROJECT_ROOT
from churnlake.ml.candidates import Fitted, choose_by_cv, fit_all
from churnlake.ml.report import html_page, markdown
from churnlake.ml.splits import Sample


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
               "fit_note": "scikit-learn candidates fitted on a stratified sample of 200,000 of the 800,000 rows.",
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
    assert "stratified sample of 200,000 of the 800,000" in text
    assert "stratified sample of 200,000 of the 800,000" in html_page(summary, plot_dir=PROJECT_ROOT)
    assert "stratified sample" not in markdown({k: v for k, v in summary.items() if k != "fit_note"})


def load_train_job():
    spec = importlib.util.spec_from_file_location("train_job", PROJECT_ROOT / "jobs" / "ml" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sklearn_sample_is_logged_and_explained(cfg):
    from churnlake.ml.settings import training_settings

    job = load_train_job()
    settings = training_settings(cfg)
    capped = Sample(frame=None, rows=199_870, of_rows=800_000, max_rows=200_000)
    assert job.sampling_params(capped, settings) == {"sklearn_max_rows": "200000", "sklearn_sample_rows": "199870"}
    assert "stratified sample of 199,870 of the 800,000" in job.sampling_note(capped, settings)
    everything = Sample(frame=None, rows=5_634, of_rows=5_634, max_rows=200_000)
    assert "on all 5,634 training rows" in job.sampling_note(everything, settings)
    uncapped = dataclasses.replace(settings, sklearn_max_rows=None)
    assert job.sampling_params(everything, uncapped)["sklearn_max_rows"] == "none"
    assert "no cap" in job.sampling_note(everything, uncapped)
    assert job.sampling_params(None, settings)["sklearn_sample_rows"].startswith("none")


def _fake(name: str) -> Fitted:
    return Fitted(name, "sklearn" if name.startswith("sk_") else "mllib", None, {}, 0.5, pd.Series(dtype=float))


def test_sklearn_and_mllib_lanes_fit_side_by_side_in_the_configured_order():
    import threading

    mllib_started = threading.Event()
    order: list[str] = []

    def fit(name: str) -> Fitted:
        order.append(name)
        if name.startswith("mllib_"):
            mllib_started.set()
        elif not mllib_started.wait(timeout=20):  # only returns early when the MLlib lane runs meanwhile
            raise AssertionError("the MLlib lane did not run while a scikit-learn candidate was fitting")
        return _fake(name)

    names = ["sk_logreg", "sk_random_forest", "mllib_logreg", "mllib_random_forest"]
    fitted = fit_all(names, fit)
    assert list(fitted) == names and all(fitted[n].name == n for n in names)
    assert [n for n in order if n.startswith("sk_")] == ["sk_logreg", "sk_random_forest"]
    assert [n for n in order if n.startswith("mllib_")] == ["mllib_logreg", "mllib_random_forest"]


def test_a_lane_whose_own_kind_is_done_takes_the_other_kinds_next_candidate():
    import threading

    logreg_started, forest_started = threading.Event(), threading.Event()
    lanes: dict[str, str] = {}

    def fit(name: str) -> Fitted:
        lanes[name] = threading.current_thread().name
        if name == "sk_logreg":  # the MLlib lane has its first candidate before this one ends
            assert logreg_started.wait(timeout=20)
        elif name == "mllib_random_forest":
            forest_started.set()
        elif logreg_started.set() or not forest_started.wait(timeout=20):
            # only set when the scikit-learn lane, done with its own, took the forest meanwhile
            raise AssertionError("the second MLlib candidate waited for the first")
        return _fake(name)

    names = ["sk_logreg", "mllib_logreg", "mllib_random_forest"]
    fitted = fit_all(names, fit, mllib_lanes=1)
    assert list(fitted) == names
    assert lanes["mllib_random_forest"] == lanes["sk_logreg"] != lanes["mllib_logreg"]


def test_two_mllib_lanes_fit_both_mllib_candidates_at_once():
    import threading

    both = threading.Barrier(3, timeout=20)  # broken (an error) unless all three run at once
    lanes: dict[str, str] = {}

    def fit(name: str) -> Fitted:
        lanes[name] = threading.current_thread().name
        if name in ("sk_logreg", "mllib_logreg", "mllib_random_forest"):
            both.wait()
        return _fake(name)

    names = ["sk_logreg", "sk_random_forest", "mllib_logreg", "mllib_random_forest"]
    fitted = fit_all(names, fit, mllib_lanes=2)
    assert list(fitted) == names
    assert len({lanes["sk_logreg"], lanes["mllib_logreg"], lanes["mllib_random_forest"]}) == 3
    with pytest.raises(ValueError, match="mllib_lanes"):
        fit_all(names, fit, mllib_lanes=0)


def test_after_an_error_no_lane_starts_another_candidate():
    import threading

    started: list[str] = []
    failed = threading.Event()

    def fit(name: str) -> Fitted:
        started.append(name)
        if name == "mllib_logreg":
            failed.set()
            raise RuntimeError("engine went away")
        failed.wait(timeout=20)  # the scikit-learn lane's first candidate outlasts the error
        return _fake(name)

    with pytest.raises(RuntimeError, match="engine went away"):
        fit_all(["sk_logreg", "sk_random_forest", "mllib_logreg", "mllib_random_forest"], fit)
    assert sorted(started) == ["mllib_logreg", "sk_logreg"]


def test_one_after_the_other_when_not_parallel_and_errors_are_raised():
    order: list[str] = []
    fitted = fit_all(["mllib_logreg", "sk_logreg"], lambda n: order.append(n) or _fake(n), parallel=False)
    assert order == ["sk_logreg", "mllib_logreg"] and list(fitted) == ["mllib_logreg", "sk_logreg"]

    def broken(name: str) -> Fitted:
        if name == "mllib_logreg":
            raise RuntimeError("engine went away")
        return _fake(name)

    with pytest.raises(RuntimeError, match="engine went away"):
        fit_all(["sk_logreg", "mllib_logreg"], broken)


def test_the_mllib_lanes_setting_defaults_to_two_and_rejects_nonsense(cfg):
    import os

    from churnlake.config import load_config
    from churnlake.ml.settings import training_settings

    assert training_settings(cfg).mllib_lanes == 2
    one = load_config(environ={**os.environ, "CHURNLAKE__TRAINING__MLLIB_LANES": "1"})
    assert training_settings(one).mllib_lanes == 1
    for bad in ("0", "two", "true"):
        broken = load_config(environ={**os.environ, "CHURNLAKE__TRAINING__MLLIB_LANES": bad})
        with pytest.raises(ValueError, match="training.mllib_lanes"):
            training_settings(broken)
