"""The online store returns what gold holds; loads swap atomically and are recorded."""

import datetime as dt

import pytest
import sqlalchemy as sa

from churnlake.features.online import OnlineStore, materialize, table_name
from churnlake.features.registry import load_registry

DAY = dt.date(2026, 11, 27)


@pytest.fixture()
def group():
    return load_registry()["customer_churn"]


def gold_rows(group, values):
    rows = []
    for cid, tickets in values:
        row = {f.name: None for f in group.features}
        row.update(customer_id=cid, as_of_date=DAY, tickets_90d=tickets, contract="Two year", monthly_charges=20.5,
                   spend_trend=None)
        rows.append(row)
    return rows


def test_lookups_return_the_materialised_gold_values(tmp_path, group):
    url = f"sqlite:///{tmp_path / 'online.db'}"
    engine = sa.create_engine(url)
    assert materialize(engine, group, gold_rows(group, [("C1", 3), ("C2", 0)]), as_of_date=DAY, delta_version=4) == 2
    store = OnlineStore(url)
    try:
        one = store.get("C1")
        assert (one["tickets_90d"], one["contract"], one["monthly_charges"], one["spend_trend"]) == (3, "Two year", 20.5, None)
        assert one["as_of_date"] == DAY and set(one) == {"customer_id", "as_of_date", *group.feature_names}
        assert store.get("nobody") is None
        assert {k: (v or {}).get("tickets_90d") for k, v in store.get_many(["C2", "C1", "C9"]).items()} == \
            {"C2": 0, "C1": 3, "C9": None}
        log = store.last_materialization()
        assert (log["delta_version"], log["rows"], log["registry_version"]) == (4, 2, group.registry_version)
        assert store.materialized(DAY) and not store.materialized(DAY - dt.timedelta(days=1))
    finally:
        store.close()
    # A new load replaces the table whole: C2 gone, C1 updated; no staging tables left behind.
    materialize(engine, group, gold_rows(group, [("C1", 5)]), as_of_date=DAY, delta_version=5)
    store = OnlineStore(url)
    try:
        assert store.get("C1")["tickets_90d"] == 5 and store.get("C2") is None
    finally:
        store.close()
    assert [t for t in sa.inspect(engine).get_table_names() if t.startswith(table_name(group))] == [table_name(group)]
