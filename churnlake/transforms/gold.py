"""Gold transforms: model features and labels, computed as of a date.

"As of D" means with the information available at the end of day D (UTC): every event,
version and invoice counted has a time before ``cutoff(D)`` = D + 1 day, 00:00. Nothing
after it is used, so any past date can be rebuilt (docs/features.md).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from churnlake.transforms.silver import as_of as version_as_of

from churnlake.features.columns import (ADDON_SERVICES, BILLING_FEATURES, CATEGORICAL_FEATURES,  # noqa: F401
                                       CRM_NUMERIC_FEATURES, DERIVED_FEATURES, NUMERIC_FEATURES,
                                       SESSION_GAP_MINUTES, TICKET_FEATURES, WEB_FEATURES, ZERO_WHEN_ABSENT)


def cutoff(as_of: dt.date) -> Column:
    """The first instant after day ``as_of`` (exclusive upper bound of usable event times)."""
    return F.lit(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())).cast("timestamp")


def _month(as_of: dt.date, back: int) -> Column:
    first = as_of.replace(day=1)
    return F.add_months(F.lit(first.isoformat()).cast("date"), -back)


def billing_features(invoices: DataFrame, payments: DataFrame, as_of: dt.date) -> DataFrame:
    """Spend and payment behaviour per customer from versioned silver invoices and payments.

    Spend trend compares the 3 most recent billing months up to the as-of month (M-2..M)
    with the 3 before (M-5..M-3): (last - previous) / previous, null without previous spend.
    """
    end = cutoff(as_of)
    inv = version_as_of(invoices, end).where(F.col("issued_at") < end)
    recent = F.col("billing_month") >= _month(as_of, 2)
    previous = (F.col("billing_month") >= _month(as_of, 5)) & (F.col("billing_month") < _month(as_of, 2))
    spend = inv.groupBy("customer_id").agg(
        F.round(F.sum("amount"), 2).alias("total_spend"),
        F.round(F.avg("amount"), 4).alias("avg_invoice_amount"),
        F.round(F.sum(F.when(recent, F.col("amount")).otherwise(0.0)), 2).alias("spend_last_3m"),
        F.round(F.sum(F.when(previous, F.col("amount")).otherwise(0.0)), 2).alias("spend_prev_3m"),
        F.min("billing_month").alias("_first_billing_month"),
    ).withColumn("spend_trend", F.when(F.col("spend_prev_3m") > 0, F.round(
        (F.col("spend_last_3m") - F.col("spend_prev_3m")) / F.col("spend_prev_3m"), 4)))
    pay = version_as_of(payments, end)
    when = F.coalesce(F.col("paid_at"), F.col("valid_from"))
    bad = F.col("status").isin("late", "failed")
    six_months = F.lit(dt.datetime.combine(as_of - dt.timedelta(days=180), dt.time())).cast("timestamp")
    behaviour = pay.groupBy("customer_id").agg(
        F.sum((F.col("status") == "late").cast("int")).alias("payments_late"),
        F.sum((F.col("status") == "failed").cast("int")).alias("payments_failed"),
        F.sum((bad & (when >= six_months)).cast("int")).alias("late_or_failed_6m"),
        F.round(F.avg(bad.cast("double")), 4).alias("late_or_failed_share"),
        F.max(F.col("paid_at")).alias("_last_paid_at"),
    ).withColumn("days_since_last_payment", F.datediff(F.lit(as_of), F.to_date("_last_paid_at"))).drop("_last_paid_at")
    return spend.join(behaviour, "customer_id", "full")


def ticket_features(tickets: DataFrame, as_of: dt.date) -> DataFrame:
    """Support load and experience per customer, each ticket as it was at the cutoff."""
    end = cutoff(as_of)
    t = version_as_of(tickets, end).where(F.col("created_at") < end)
    d90 = F.lit(dt.datetime.combine(as_of - dt.timedelta(days=89), dt.time())).cast("timestamp")
    resolved = F.col("resolved_at").isNotNull() & (F.col("resolved_at") < end)
    return t.groupBy("customer_id").agg(
        F.count("*").alias("tickets_total"),
        F.sum((F.col("created_at") >= d90).cast("int")).alias("tickets_90d"),
        F.sum((~resolved).cast("int")).alias("open_tickets"),
        F.sum(((F.col("category") == "cancellation") & (F.col("created_at") >= d90)).cast("int"))
        .alias("cancellation_tickets_90d"),
        F.round(F.avg(F.when(resolved, F.col("resolution_hours"))), 3).alias("avg_resolution_hours"),
        F.round(F.avg("satisfaction"), 4).alias("avg_satisfaction"),
        F.max("created_at").alias("_last_ticket"),
    ).withColumn("days_since_last_ticket", F.datediff(F.lit(as_of), F.to_date("_last_ticket"))).drop("_last_ticket")


def session_counts(events: DataFrame, gap_minutes: int = SESSION_GAP_MINUTES) -> DataFrame:
    """Per customer: ``events``, ``sessions`` (a customer's first event starts one, and so does
    every event more than ``gap_minutes`` after the previous, in whole seconds as
    ``unix_timestamp`` counts them), ``active_days`` (distinct dates of ``event_time``),
    ``cancel_views`` (the sum of ``_cancel``) and ``last_event``.

    Events are first aggregated into groups: one per customer, date and ``gap_minutes`` slot of
    the clock. Inside a group two events are less than a gap apart, so only a group's first event
    can start a session, and it does exactly when the previous group of the customer ended more
    than a gap before it. So the one sort per customer is over the groups, not the events (at
    scale L 8.4 M groups for 43.5 M events, docs/features.md), and both counts are sums of flags
    over the sorted groups."""
    gap = gap_minutes * 60
    second = F.unix_timestamp("event_time")
    groups = events.groupBy("customer_id", F.to_date("event_time").alias("_day"),
                            (second - F.pmod(second, F.lit(gap))).alias("_slot")).agg(
        F.min(second).alias("_first"), F.max(second).alias("_last"), F.count("*").alias("_events"),
        F.sum("_cancel").alias("_cancel"), F.max("event_time").alias("_last_time"))
    order = Window.partitionBy("customer_id").orderBy("_first")
    last_before, day_before = F.lag("_last").over(order), F.lag("_day").over(order)
    new_session = last_before.isNull() | (F.col("_first") - last_before > gap)
    new_day = day_before.isNull() | (day_before != F.col("_day"))
    return groups.select("customer_id", "_events", "_cancel", "_last_time",
                         new_session.cast("int").alias("_new_session"), new_day.cast("int").alias("_new_day")) \
        .groupBy("customer_id").agg(
            F.sum("_events").alias("events"), F.sum("_new_session").alias("sessions"),
            F.sum("_new_day").alias("active_days"), F.sum("_cancel").alias("cancel_views"),
            F.max("_last_time").alias("last_event"))


def _event_days(events: DataFrame, first: dt.date | None, last: dt.date | None) -> DataFrame:
    """Keep the ``event_date`` partitions that can hold events from ``first`` to ``last``, so Spark
    reads no others. silver.web_events derives ``event_date`` from ``event_time`` in UTC; the
    bounds keep a day of slack on each side, so the filters on ``event_time`` stay the exact ones
    whatever the partition values' time zone. Frames without the column are returned as given."""
    if "event_date" not in events.columns:
        return events
    if first is not None:
        events = events.where(F.col("event_date") >= F.lit(first - dt.timedelta(days=1)))
    if last is not None:
        events = events.where(F.col("event_date") <= F.lit(last + dt.timedelta(days=1)))
    return events


def web_features(events: DataFrame, as_of: dt.date) -> DataFrame:
    """Portal activity per customer over the 28 days up to the cutoff, and recency.

    The window's events are read once and counted by :func:`session_counts`; the last activity
    of customers with no event in the window comes from the days before it alone."""
    end = cutoff(as_of)
    start_day = as_of - dt.timedelta(days=27)
    start = F.lit(dt.datetime.combine(start_day, dt.time())).cast("timestamp")
    known = F.col("customer_id").isNotNull() & (F.col("event_time") < end)
    window = _event_days(events, start_day, as_of).where(known & (F.col("event_time") >= start)) \
        .select("customer_id", "event_time", (F.col("path") == "/account/cancel").cast("int").alias("_cancel"))
    recent = session_counts(window).select(
        "customer_id", F.col("events").alias("events_28d"), F.col("sessions").alias("sessions_28d"),
        F.col("active_days").alias("active_days_28d"), F.col("cancel_views").alias("cancel_page_views_28d"),
        F.col("last_event").alias("_last_recent"),
    ).withColumn("sessions_per_week", F.round(F.col("sessions_28d") / 4.0, 4)) \
        .withColumn("activity_frequency", F.round(F.col("active_days_28d") / 28.0, 4))
    before = _event_days(events, None, start_day).where(known & (F.col("event_time") < start)) \
        .groupBy("customer_id").agg(F.max("event_time").alias("_last_before"))
    last = F.coalesce(F.col("_last_recent"), F.col("_last_before"))
    return recent.join(before, "customer_id", "full") \
        .withColumn("days_since_last_activity", F.datediff(F.lit(as_of), F.to_date(last))) \
        .drop("_last_recent", "_last_before")


def customer_features(customers: DataFrame, as_of: dt.date, *, invoices: DataFrame | None = None,
                      payments: DataFrame | None = None, tickets: DataFrame | None = None,
                      events: DataFrame | None = None) -> DataFrame:
    """One feature row per customer as of ``as_of``: CRM attributes plus, when the versioned
    silver tables are given, billing, support and portal-activity aggregates (see module doc)."""
    base = crm_features(customers, as_of)
    parts = []
    if invoices is not None and payments is not None:
        parts.append(billing_features(invoices, payments, as_of))
    if tickets is not None:
        parts.append(ticket_features(tickets, as_of))
    if events is not None:
        parts.append(web_features(events, as_of))
    out = base
    for part in parts:
        out = out.join(part, "customer_id", "left")
    for name in NUMERIC_FEATURES:
        if name not in out.columns:
            out = out.withColumn(name, F.lit(None).cast("double"))
    out = out.fillna(0, subset=[c for c in ZERO_WHEN_ABSENT])
    months_days = F.round(F.col("tenure_months") * F.lit(30.4375)).cast("int")
    first = F.col("_first_billing_month") if "_first_billing_month" in out.columns else F.lit(None).cast("date")
    out = out.withColumn("tenure_days", F.coalesce(F.datediff(F.lit(as_of), first), months_days))
    columns = ["customer_id", *CATEGORICAL_FEATURES, *NUMERIC_FEATURES, "as_of_date"]
    return out.select(*columns)


def crm_features(customers: DataFrame, as_of: dt.date) -> DataFrame:
    """The CRM part: booleans as 0/1, categories as text, spend per month and add-on count."""
    as_of_col = F.lit(as_of.isoformat()).cast("date")
    avg_spend = F.when(F.col("tenure_months") > 0, F.col("total_charges") / F.col("tenure_months")) \
        .otherwise(F.col("monthly_charges"))
    addons = sum((F.col(c) == "Yes").cast("int") for c in ADDON_SERVICES)
    return customers.select(
        "customer_id",
        *[F.col(c) for c in CATEGORICAL_FEATURES],
        *[F.col(c).cast("int").alias(c) for c in
          ("senior_citizen", "partner", "dependents", "phone_service", "paperless_billing")],
        "tenure_months",
        "monthly_charges",
        "total_charges",
        F.round(avg_spend, 4).alias("avg_monthly_spend"),
        addons.alias("num_addon_services"),
        as_of_col.alias("as_of_date"),
    )


def churn_labels(customers: DataFrame, as_of: dt.date) -> DataFrame:
    """The label table: 1 when the customer churned, kept apart from the features."""
    return customers.where(F.col("churn").isNotNull()).select(
        "customer_id",
        F.col("churn").cast("int").alias("churned"),
        F.lit(as_of.isoformat()).cast("date").alias("as_of_date"),
    )
