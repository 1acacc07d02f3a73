"""The fitted preprocessing pipeline: stratified split, train-only fitting, identical reload."""

import pytest
from pyspark.sql import functions as F

from churnlake.ml import preprocessing as pp

COLS = ("customer_id string, gender string, senior_citizen boolean, partner boolean, dependents boolean, "
        "phone_service boolean, tenure_months int, multiple_lines string, internet_service string, "
        "online_security string, online_backup string, device_protection string, tech_support string, "
        "streaming_tv string, streaming_movies string, contract string, paperless_billing boolean, "
        "payment_method string, monthly_charges double, total_charges double, churn boolean")


def customer(i, churn, tenure=10, contract="Month-to-month", partner=True):
    return (f"C{i:03d}", "female" if i % 2 else "male", False, partner, False, True, tenure, "No", "DSL", "No",
            "Yes", "No", "No", "No", "No", contract, True, "Electronic check", 20.0 + i, 20.0 * (tenure or 1), churn)


@pytest.fixture()
def frame(spark):
    rows = [customer(i, False, tenure=10 + i) for i in range(8)] + [customer(100 + i, True, tenure=1 + i) for i in range(4)]
    return spark.createDataFrame(rows, COLS)


def test_split_is_stratified_and_deterministic(frame):
    a = pp.stratified_split(frame, "churn", 0.25, seed=7)
    counts = {(r["churn"], r["split"]): r["count"] for r in a.groupBy("churn", "split").count().collect()}
    assert counts == {(False, "train"): 6, (False, "test"): 2, (True, "train"): 3, (True, "test"): 1}
    b = pp.stratified_split(frame, "churn", 0.25, seed=7)
    assert sorted(map(tuple, a.select("customer_id", "split").collect())) == \
        sorted(map(tuple, b.select("customer_id", "split").collect()))
    with pytest.raises(ValueError):
        pp.stratified_split(frame, "churn", 1.5, seed=7)


def test_imputation_and_scaling_are_fitted_on_train_only(spark, frame):
    split = pp.stratified_split(frame, "churn", 0.25, seed=7)
    test_id = split.where("split = 'test'").first()["customer_id"]
    # A test row with a missing tenure, an unseen contract and an extreme charge.
    split = split.withColumn("tenure_months", F.when(F.col("customer_id") == test_id, None)
                             .otherwise(F.col("tenure_months")))
    split = split.withColumn("contract", F.when(F.col("customer_id") == test_id, "Weekly").otherwise(F.col("contract")))
    split = split.withColumn("monthly_charges", F.when(F.col("customer_id") == test_id, 10_000.0)
                             .otherwise(F.col("monthly_charges")))
    model, ready = pp.fit_transform(split)
    imputer = model.stages[0]
    train_tenures = sorted(r[0] for r in split.where("split = 'train'").select("tenure_months").collect())
    median = imputer.surrogateDF.first()["tenure_months"]
    assert median in train_tenures  # a train value, unaffected by the test rows
    scaler = model.stages[6]
    train_charges = [r[0] for r in split.where("split = 'train'").select("monthly_charges").collect()]
    assert scaler.mean[1] == pytest.approx(sum(train_charges) / len(train_charges))  # 10,000 is not in it
    names = pp.feature_names(model)
    row = ready.where(F.col("customer_id") == test_id).first()
    assert len(names) == row["features"].size
    assert row["label"] in (0, 1) and row["split"] == "test"


def test_a_saved_pipeline_loads_back_and_gives_identical_output(spark, frame, tmp_path):
    split = pp.stratified_split(frame, "churn", 0.25, seed=7)
    model, ready = pp.fit_transform(split)
    pp.save(model, str(tmp_path / "prep"))
    again = pp.model_ready(pp.load(str(tmp_path / "prep")).transform(split))
    key = "customer_id"
    first = {r[key]: r["features"].toArray().tolist() for r in ready.collect()}
    second = {r[key]: r["features"].toArray().tolist() for r in again.collect()}
    assert first == second
