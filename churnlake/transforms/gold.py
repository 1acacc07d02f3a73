"""Gold transforms: model features and labels, computed as of a date."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

CATEGORICAL_FEATURES = ("gender", "multiple_lines", "internet_service", "online_security",
                        "online_backup", "device_protection", "tech_support", "streaming_tv",
                        "streaming_movies", "contract", "payment_method")
NUMERIC_FEATURES = ("senior_citizen", "partner", "dependents", "phone_service",
                    "paperless_billing", "tenure_months", "monthly_charges", "total_charges",
                    "avg_monthly_spend", "num_addon_services")
ADDON_SERVICES = ("online_security", "online_backup", "device_protection", "tech_support",
                  "streaming_tv", "streaming_movies")


def customer_features(customers: DataFrame, as_of: dt.date) -> DataFrame:
    """One feature row per customer as of ``as_of`` (booleans as 0/1, categories as text)."""
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
