"""Point-in-time retrieval on a constructed history: no snapshot from the future, no late rewrite."""

import datetime as dt
import os

import pytest

from churnlake.config import load_config
from churnlake.delta import replace_rows
from churnlake.features.offline import get_historical_features, point_in_time_join
from churnlake.tables import GOLD_CUSTOMER_FEATURES
from tests.conftest import lakehouse_env

D = dt.date
T = dt.datetime


def snapshots(spark, rows):
    return spark.createDataFrame(rows, "customer_id string, as_of_date date, tickets_90d bigint")


def test_each_event_gets_the_latest_snapshot_completed_before_it(spark):
    snaps = snapshots(spark, [("C1", D(2026, 11, 1), 1), ("C1", D(2026, 11, 8), 5), ("C2", D(2026, 11, 1), 7)])
    entities = spark.createDataFrame([
        ("C1", T(2026, 11, 1, 12)),   # snapshot of 1 Nov is only complete at midnight: none yet
        ("C1", T(2026, 11, 2, 0)),    # exactly at the cutoff of 1 Nov: usable
        ("C1", T(2026, 11, 8, 23)),   # 8 Nov not complete yet: still 1 Nov
        ("C1", T(2026, 11, 20)),      # 8 Nov
        ("C2", T(2026, 11, 20)),
        ("C3", T(2026, 11, 20)),      # unknown customer: kept, with nulls
    ], "customer_id string, event_timestamp timestamp")
    out = point_in_time_join(entities, snaps, key="customer_id", event_ts="event_timestamp",
                             snapshot_date="as_of_date", features=["tickets_90d"])
    got = sorted((r["customer_id"], r["event_timestamp"], r["tickets_90d"], r["feature_snapshot_date"])
                 for r in out.collect())
    assert got == [
        ("C1", T(2026, 11, 1, 12), None, None),
        ("C1", T(2026, 11, 2, 0), 1, D(2026, 11, 1)),
        ("C1", T(2026, 11, 8, 23), 1, D(2026, 11, 1)),
        ("C1", T(2026, 11, 20), 5, D(2026, 11, 8)),
        ("C2", T(2026, 11, 20), 7, D(2026, 11, 1)),
        ("C3", T(2026, 11, 20), None, None),
    ]


def test_a_late_rewrite_does_not_leak_into_a_pinned_training_set(spark, tmp_path):
    lake = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    from churnlake.features.registry import load_registry
    names = load_registry()["customer_churn"].feature_names
    base = {n: None for n in names}

    def write(rows, day):
        df = spark.createDataFrame([{**base, "customer_id": c, "as_of_date": day, "tickets_90d": v} for c, v in rows],
                                   schema=_schema(spark))
        replace_rows(df, GOLD_CUSTOMER_FEATURES, lake, replace_where=f"as_of_date = '{day}'", metadata="{}")

    write([("C1", 1)], D(2026, 11, 1))                       # version 0
    entities = spark.createDataFrame([("C1", T(2026, 11, 5))], "customer_id string, event_timestamp timestamp")
    first, used = get_historical_features(spark, lake, entities, features=["tickets_90d"])
    assert first.first()["tickets_90d"] == 1 and used.delta_version == 0
    write([("C1", 99)], D(2026, 11, 1))                      # version 1: the snapshot recomputed later
    again, _ = get_historical_features(spark, lake, entities, features=["tickets_90d"], delta_version=used.delta_version)
    assert again.first()["tickets_90d"] == 1                 # the recorded version gives the same rows
    latest, now = get_historical_features(spark, lake, entities, features=["tickets_90d"])
    assert (latest.first()["tickets_90d"], now.delta_version) == (99, 1)
    assert used.registry_version == now.registry_version and used.features == ("tickets_90d",)
    with pytest.raises(ValueError, match="not in the customer_churn registry"):
        get_historical_features(spark, lake, entities, features=["shoe_size"])


def _schema(spark):
    from churnlake.config import load_config as lc
    from churnlake.schemas import struct
    return struct(lc(), "gold", "customer_features")
