"""Silver transforms: typed, trimmed, renamed and deduplicated customer records."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# CRM export column -> silver column.
CRM_RENAMES: dict[str, str] = {
    "customerID": "customer_id",
    "gender": "gender",
    "SeniorCitizen": "senior_citizen",
    "Partner": "partner",
    "Dependents": "dependents",
    "tenure": "tenure_months",
    "PhoneService": "phone_service",
    "MultipleLines": "multiple_lines",
    "InternetService": "internet_service",
    "OnlineSecurity": "online_security",
    "OnlineBackup": "online_backup",
    "DeviceProtection": "device_protection",
    "TechSupport": "tech_support",
    "StreamingTV": "streaming_tv",
    "StreamingMovies": "streaming_movies",
    "Contract": "contract",
    "PaperlessBilling": "paperless_billing",
    "PaymentMethod": "payment_method",
    "MonthlyCharges": "monthly_charges",
    "TotalCharges": "total_charges",
    "Churn": "churn",
}
YES_NO_COLUMNS = ("partner", "dependents", "phone_service", "paperless_billing", "churn")


def blank_to_null(col: Column) -> Column:
    """Trim a text column and turn empty strings into null."""
    trimmed = F.trim(col)
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def yes_no_to_bool(col: Column) -> Column:
    """'Yes'/'No' (any case, padded) -> true/false; anything else -> null."""
    norm = F.lower(F.trim(col))
    return F.when(norm == "yes", True).when(norm == "no", False).otherwise(F.lit(None).cast("boolean"))


def type_crm_customers(bronze: DataFrame) -> DataFrame:
    """Rename CRM columns to snake_case and cast them to their types.

    ``TotalCharges`` is blank for brand-new customers (tenure 0): a customer who has not
    been billed yet has spent nothing, so the domain value 0.0 is used (documented in
    docs/problem_formulation.md). Lineage columns ``_ingested_at`` and ``_batch_id`` are kept.
    """
    missing = [c for c in CRM_RENAMES if c not in bronze.columns]
    if missing:
        raise ValueError(f"bronze CRM data lacks columns: {', '.join(missing)}")
    cols = {new: blank_to_null(F.col(old)) for old, new in CRM_RENAMES.items()}
    typed = bronze.select(
        cols["customer_id"].alias("customer_id"),
        F.lower(cols["gender"]).alias("gender"),
        (cols["senior_citizen"].try_cast("int") == 1).alias("senior_citizen"),
        *[yes_no_to_bool(cols[c]).alias(c) for c in ("partner", "dependents", "phone_service")],
        cols["tenure_months"].try_cast("int").alias("tenure_months"),
        *[cols[c].alias(c) for c in ("multiple_lines", "internet_service", "online_security",
                                     "online_backup", "device_protection", "tech_support",
                                     "streaming_tv", "streaming_movies", "contract")],
        yes_no_to_bool(cols["paperless_billing"]).alias("paperless_billing"),
        cols["payment_method"].alias("payment_method"),
        cols["monthly_charges"].try_cast("double").alias("monthly_charges"),
        cols["total_charges"].try_cast("double").alias("total_charges"),
        yes_no_to_bool(cols["churn"]).alias("churn"),
        F.col("_ingested_at"),
        F.col("_batch_id"),
    )
    return typed.withColumn(
        "total_charges",
        F.when(F.col("total_charges").isNull() & (F.col("tenure_months") == 0), F.lit(0.0))
        .otherwise(F.col("total_charges")),
    )


def latest_per_key(df: DataFrame, key: str, order_by: list[str]) -> DataFrame:
    """Keep one row per ``key``: the first by ``order_by`` descending (latest wins)."""
    if not order_by:
        raise ValueError("order_by must name at least one column")
    window = Window.partitionBy(key).orderBy(*[F.col(c).desc_nulls_last() for c in order_by])
    return df.withColumn("_rn", F.row_number().over(window)).where("_rn = 1").drop("_rn")
