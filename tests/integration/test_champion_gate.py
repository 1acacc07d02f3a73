"""The champion gate against a real MLflow registry (SQLite backend, local artifacts).

The champion is re-scored the way jobs/ml/train.py does it: loaded from the registry and scored
in Spark (``mapInPandas`` over the loaded scikit-learn model), with only the key, the label and
the probability collected for the metric.
"""

from __future__ import annotations


import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from churnlake.ml.registry import CHAMPION, DECISION_TAG, current_champion, gate, load_model, register
from churnlake.ml.scoring import PROBABILITY, collect_sorted, score_frame

pytestmark = pytest.mark.integration
NAME = "gate-test-model"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the module (creating the SQLite schema takes ~30 s)."""
    base = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{base / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("gate", artifact_location=(base / "artifacts").as_uri())
    yield exp
    mlflow.set_tracking_uri(None)


@pytest.fixture()
def registry(store):
    """A clean registered model for each test (the runs may stay)."""
    client = MlflowClient()
    yield client, store
    client.delete_registered_model(NAME)


def data(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.8 * x[:, 2] + 0.3 * rng.normal(size=n) > 0.6).astype(int)  # "a" and "c" carry the signal
    return pd.DataFrame(x, columns=["a", "b", "c"]), y


def train_and_register(exp: str, features: list[str], seed: int, n: int = 400) -> tuple[str, float]:
    """Fit on ``features`` only (["a"] and ["c"] are informative, ["b"] is noise) and ``n`` rows, log, register;
    returns the version and its ROC-AUC on the shared test rows."""
    x, y = data(seed, n)
    test_x, test_y = data(99)
    model = LogisticRegression().fit(x[features], y)
    score = roc_auc_score(test_y, model.predict_proba(test_x[features])[:, 1])
    with mlflow.start_run(experiment_id=exp):
        mlflow.log_param("features", ",".join(features))
        mlflow.log_metric("test_roc_auc", score)
        info = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=["numpy.dtype"])
    return register(info.model_uri, NAME, "sklearn", {}), score


def shared_test_rows(spark):
    """The shared test rows as a Spark DataFrame (customer_id, a, b, c, churned)."""
    test_x, test_y = data(99)
    frame = test_x.assign(customer_id=[f"t{i:03d}" for i in range(len(test_x))], churned=test_y)
    return spark.createDataFrame(frame[["customer_id", "a", "b", "c", "churned"]])


def rescore(client, spark):
    rows = shared_test_rows(spark)

    def score(champion) -> float:
        flavor, model = load_model(client, NAME, champion)
        features = client.get_run(champion.run_id).data.params["features"].split(",")
        assert flavor == "sklearn"
        scores = collect_sorted(score_frame(flavor, model, rows, [], features, keep=["customer_id", "churned"]))
        return roc_auc_score(scores["churned"], scores[PROBABILITY])

    return score


def test_gate_keeps_a_better_champion_and_promotes_a_better_challenger(registry, spark):
    client, exp = registry
    v1, good = train_and_register(exp, ["a"], seed=1)
    first = gate(client, NAME, v1, "roc_auc", good, rescore(client, spark))
    assert first.promoted and str(current_champion(client, NAME).version) == v1

    v2, weak = train_and_register(exp, ["b"], seed=2)
    assert weak < good
    kept = gate(client, NAME, v2, "roc_auc", weak, rescore(client, spark))
    assert not kept.promoted
    assert str(current_champion(client, NAME).version) == v1  # the better champion stays
    assert kept.champion_score == pytest.approx(good)
    assert kept.basis == "re-scored on this run's test set"
    assert f"champion version {v1} kept" in kept.reason and "does not beat" in kept.reason
    assert kept.tags()[DECISION_TAG] == "kept_champion"

    # A really better model (both informative features) against the champion, each with its real
    # score on the same test rows.
    v3, better = train_and_register(exp, ["a", "c"], seed=3)
    v1_again = rescore(client, spark)(client.get_model_version(NAME, v1))
    assert v1_again == pytest.approx(good) and better > good
    promoted = gate(client, NAME, v3, "roc_auc", better, rescore(client, spark))
    assert promoted.promoted and str(client.get_model_version_by_alias(NAME, CHAMPION).version) == v3
    assert promoted.champion_score == pytest.approx(good) and promoted.challenger_score == better
    assert f"beats champion version {v1}" in promoted.reason


def test_a_champion_that_cannot_be_rescored_is_kept_and_an_operator_can_promote(registry, spark):
    from churnlake.ml.registry import OPERATOR_TAG, promote

    client, exp = registry
    v1, good = train_and_register(exp, ["a"], seed=1)
    gate(client, NAME, v1, "roc_auc", good, rescore(client, spark))
    v2, challenger = train_and_register(exp, ["a"], seed=5, n=8000)

    def broken(champion):
        raise KeyError("column 'a' is gone")

    # Even a challenger with a far better score is not promoted on numbers that are not comparable.
    decision = gate(client, NAME, v2, "roc_auc", challenger + 1.0, broken)
    assert not decision.promoted and decision.champion_score is None
    assert str(current_champion(client, NAME).version) == v1
    assert "could not be scored" in decision.reason and "KeyError" in decision.reason
    assert f"python -m churnlake.ml.registry promote {v2}" in decision.reason
    assert decision.tags()[DECISION_TAG] == "kept_champion"

    explicit = promote(client, NAME, v2, "reviewed the report", "ops@host")
    assert explicit.promoted and explicit.champion_before == v1
    assert str(current_champion(client, NAME).version) == v2
    tags = client.get_model_version(NAME, v2).tags
    assert tags[OPERATOR_TAG] == "ops@host" and tags[DECISION_TAG] == "promoted"
    assert "reviewed the report" in tags["churnlake.gate.reason"]
    with pytest.raises(Exception, match="(?i)not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        promote(client, NAME, "999", "no such version", "ops@host")


def test_a_champion_whose_features_are_gone_is_kept(registry, spark):
    """Scoring in Spark fails on a column the test rows no longer have: the champion stays."""
    client, exp = registry
    v1, good = train_and_register(exp, ["a"], seed=1)
    gate(client, NAME, v1, "roc_auc", good, rescore(client, spark))
    v2, challenger = train_and_register(exp, ["a", "c"], seed=3)
    rows = shared_test_rows(spark).drop("a")

    def score(champion) -> float:
        flavor, model = load_model(client, NAME, champion)
        scores = collect_sorted(score_frame(flavor, model, rows, [], ["a"], keep=["customer_id", "churned"]))
        return roc_auc_score(scores["churned"], scores[PROBABILITY])

    decision = gate(client, NAME, v2, "roc_auc", challenger, score)
    assert not decision.promoted and str(current_champion(client, NAME).version) == v1
    assert "no column a" in decision.reason
