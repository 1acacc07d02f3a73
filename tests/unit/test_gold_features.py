"""Cross-source gold features on a constructed history: values by hand, nothing after the cutoff."""

import datetime as dt

import pytest
from pyspark.sql import functions as F

from churnlake.schemas import conform, struct
from churnlake.transforms.gold import CATEGORICAL_FEATURES, NUMERIC_FEATURES, customer_features

AS_OF = dt.date(2026, 11, 27)  # cutoff: 2026-11-28 00:00
D = dt.datetime


def customers(spark):
    cols = ["customer_id", *CATEGORICAL_FEATURES, "senior_citizen", "partner", "dependents", "phone_service",
            "paperless_billing", "tenure_months", "monthly_charges", "total_charges", "churn"]
    row = ["x", *["No"] * len(CATEGORICAL_FEATURES), False, True, False, True, True, 12, 20.0, 240.0, False]
    c1 = dict(zip(cols, row), customer_id="C1")
    c2 = dict(zip(cols, row), customer_id="C2")
    return spark.createDataFrame([c1, c2])


def invoices(spark):
    amounts = {5: 10.0, 6: 10.0, 7: 10.0, 8: 15.0, 9: 20.0, 10: 20.0, 11: 20.0}
    rows = [(m, "C1", dt.date(2026, m, 1), a, D(2026, m, 1), D(2026, m, 1), None) for m, a in amounts.items()]
    rows.append((12, "C1", dt.date(2026, 12, 1), 999.0, D(2026, 12, 1), D(2026, 12, 1), None))  # the future
    return spark.createDataFrame(rows, "invoice_id int, customer_id string, billing_month date, amount double, "
                                       "issued_at timestamp, valid_from timestamp, valid_to timestamp")


def payments(spark):
    rows = [
        (1, "C1", "late", None, D(2026, 10, 5), D(2026, 12, 1)),      # late at the cutoff ...
        (1, "C1", "paid", D(2026, 12, 1), D(2026, 12, 1), None),     # ... paid only afterwards
        (2, "C1", "paid", D(2026, 11, 2), D(2026, 11, 2), None),
        (3, "C1", "failed", None, D(2026, 11, 30), None),            # after the cutoff
    ]
    return spark.createDataFrame(rows, "payment_id int, customer_id string, status string, paid_at timestamp, "
                                       "valid_from timestamp, valid_to timestamp")


def tickets(spark):
    rows = [
        (1, "C1", D(2026, 11, 20), None, None, None, "technical", D(2026, 11, 20), D(2026, 11, 30)),
        (1, "C1", D(2026, 11, 20), D(2026, 11, 30), 240.0, 1, "technical", D(2026, 11, 30), None),  # later
        (2, "C1", D(2026, 10, 1), D(2026, 10, 1, 10), 10.0, 4, "cancellation", D(2026, 10, 1, 10), None),
    ]
    return spark.createDataFrame(rows, "ticket_id int, customer_id string, created_at timestamp, "
                                       "resolved_at timestamp, resolution_hours double, satisfaction int, "
                                       "category string, valid_from timestamp, valid_to timestamp")


def events(spark):
    rows = [
        ("C1", D(2026, 11, 26, 10, 0), "/dashboard"), ("C1", D(2026, 11, 26, 10, 10), "/usage"),
        ("C1", D(2026, 11, 26, 10, 20), "/account/cancel"), ("C1", D(2026, 11, 24, 9), "/dashboard"),
        ("C1", D(2026, 11, 28, 8), "/account/cancel"),  # after the cutoff
        ("C1", D(2026, 10, 1), "/dashboard"),            # outside the 28-day window
        (None, D(2026, 11, 26, 11), "/login"),           # anonymous
    ]
    return spark.createDataFrame(rows, "customer_id string, event_time timestamp, path string")


@pytest.fixture(scope="module")
def feats(spark):
    out = customer_features(customers(spark), AS_OF, invoices=invoices(spark), payments=payments(spark),
                            tickets=tickets(spark), events=events(spark))
    return {r["customer_id"]: r.asDict() for r in out.collect()}


def test_billing_features_use_only_invoices_and_payment_states_before_the_cutoff(feats):
    c1 = feats["C1"]
    assert c1["total_spend"] == 105.0  # May..Nov; the December invoice does not exist yet
    assert (c1["spend_last_3m"], c1["spend_prev_3m"]) == (60.0, 35.0)  # Sep-Nov vs Jun-Aug
    assert c1["spend_trend"] == pytest.approx(0.7143)
    assert (c1["payments_late"], c1["payments_failed"]) == (1, 0)  # late then, paid later; failed later
    assert c1["late_or_failed_6m"] == 1 and c1["late_or_failed_share"] == 0.5
    assert c1["days_since_last_payment"] == 25
    assert c1["tenure_days"] == 210  # since the first billing month, 2026-05-01


def test_ticket_features_see_each_ticket_as_it_was(feats):
    c1 = feats["C1"]
    assert (c1["tickets_total"], c1["tickets_90d"], c1["cancellation_tickets_90d"]) == (2, 2, 1)
    assert c1["open_tickets"] == 1  # resolved only after the cutoff
    assert c1["avg_resolution_hours"] == 10.0  # the later resolution does not count
    assert c1["avg_satisfaction"] == 4.0  # the later rating of 1 does not count
    assert c1["days_since_last_ticket"] == 7


def test_web_features_count_sessions_and_recency_up_to_the_cutoff(feats):
    c1 = feats["C1"]
    assert (c1["events_28d"], c1["sessions_28d"], c1["active_days_28d"]) == (4, 2, 2)
    assert c1["sessions_per_week"] == 0.5 and c1["activity_frequency"] == pytest.approx(2 / 28, abs=1e-4)
    assert c1["cancel_page_views_28d"] == 1  # the view after the cutoff is not counted
    assert c1["days_since_last_activity"] == 1


def test_a_customer_without_events_gets_zero_counts_and_unknown_averages(feats):
    c2 = feats["C2"]
    assert c2["tickets_total"] == 0 and c2["events_28d"] == 0 and c2["total_spend"] == 0
    assert c2["avg_satisfaction"] is None and c2["days_since_last_activity"] is None
    assert c2["tenure_days"] == 365  # 12 months x 30.4375 without invoices


def test_features_match_the_gold_ddl(spark, cfg):
    out = customer_features(customers(spark), AS_OF, invoices=invoices(spark), payments=payments(spark),
                            tickets=tickets(spark), events=events(spark))
    schema = struct(cfg, "gold", "customer_features")
    conformed = conform(out, schema, "gold.customer_features")
    assert [f.name for f in conformed.schema.fields] == ["customer_id", *CATEGORICAL_FEATURES, *NUMERIC_FEATURES,
                                                        "as_of_date"]
    assert all(f.metadata.get("comment") for f in conformed.schema.fields)
    with pytest.raises(ValueError, match="undeclared"):
        conform(out.withColumn("surprise", out["tenure_days"]), schema, "gold.customer_features")


def _web_by_hand(rows, as_of):
    """Sessions, active days, cancel views and recency counted in plain Python (the definition)."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    start = dt.datetime.combine(as_of - dt.timedelta(days=27), dt.time())
    out = {}
    for cid in {r[0] for r in rows if r[0] is not None}:
        known = sorted(r for r in rows if r[0] == cid and r[1] < end)
        if not known:  # only events after the cutoff: no row at all
            continue
        times = [t for _, t, _ in known if t >= start]
        new = [i == 0 or (times[i] - times[i - 1]).total_seconds() > 30 * 60 for i in range(len(times))]
        counts = {"events_28d": len(times), "sessions_28d": sum(new), "active_days_28d": len({t.date() for t in times}),
                  "cancel_page_views_28d": sum(1 for _, t, p in known if t >= start and p == "/account/cancel")}
        if not times:  # seen only before the window: recency, but no window counts (zeroed later, in gold)
            counts = dict.fromkeys(counts)
        out[cid] = {**counts, "days_since_last_activity": (as_of - known[-1][1].date()).days}
    return out


def test_web_features_match_a_count_by_hand_with_and_without_date_partitions(spark, tmp_path):
    """Random events around the window's edges (ties, gaps of 30 minutes and a second either
    side, events on the first day, around midnight and after the cutoff); read as given and
    from a Parquet table partitioned by ``event_date`` (as silver.web_events is), where the
    date bounds prune partitions."""
    import random

    from churnlake.transforms.gold import web_features

    rng = random.Random(7)
    start = D(2026, 10, 20)
    # steps in seconds: ties, gaps one second either side of 30 minutes (which straddle the
    # 30-minute slots session_counts groups by), an hour, 5 hours, a day, 4 days
    steps = [0, 1, 29 * 60, 1799, 1800, 1801, 31 * 60, 3600, 5 * 3600, 86400, 4 * 86400]
    rows = []
    for c in range(12):
        t = start + dt.timedelta(seconds=rng.randrange(0, 86400 * 10))
        for _ in range(rng.randrange(0, 40)):
            t += dt.timedelta(seconds=rng.choice(steps))
            rows.append((f"C{c}", t, rng.choice(["/dashboard", "/account/cancel", "/usage"])))
    rows += [("C12", D(2026, 11, 29), "/usage"), ("C0", D(2026, 10, 31, 0, 0), "/usage"), ("C0", D(2026, 11, 27, 23, 59, 59), "/account/cancel"),
             ("C0", D(2026, 11, 28), "/account/cancel"), (None, D(2026, 11, 20), "/login")]
    # across midnight (25 min: the same session, a new day), 30 min 1 s (a new session), exactly
    # 30 min (the same), and one second across a slot boundary (01:29:59 -> 01:30:00)
    c13 = [D(2026, 11, 20, 23, 45), D(2026, 11, 21, 0, 10), D(2026, 11, 21, 0, 40, 1), D(2026, 11, 21, 1, 10, 1),
           D(2026, 11, 21, 1, 29, 59), D(2026, 11, 21, 1, 30)]
    rows += [("C13", t, "/usage") for t in c13]
    frame = spark.createDataFrame(rows, "customer_id string, event_time timestamp, path string")
    path = str(tmp_path / "events")
    frame.withColumn("event_date", F.to_date("event_time")).write.partitionBy("event_date").parquet(path)
    expected = _web_by_hand(rows, AS_OF)
    cols = ["events_28d", "sessions_28d", "active_days_28d", "cancel_page_views_28d", "days_since_last_activity"]
    for source in (frame, spark.read.parquet(path)):
        got = {r["customer_id"]: {c: r[c] for c in cols} for r in web_features(source, AS_OF).collect()}
        assert got == expected
    assert {c: expected["C13"][c] for c in cols[:3]} == {"events_28d": 6, "sessions_28d": 2, "active_days_28d": 2}
    # the sample holds each kind of customer the join has to keep apart
    assert {v["events_28d"] is None for v in expected.values()} == {True, False}
    assert len(expected) < len({r[0] for r in rows if r[0]})  # and one seen only after the cutoff
