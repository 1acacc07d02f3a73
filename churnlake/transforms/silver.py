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


def split_missing_key(df: DataFrame, key: str) -> tuple[DataFrame, DataFrame]:
    """``(rows with a key, rows without one)``; the second with ``reason`` and the row as
    ``record`` (JSON), ready for ``quality.silver_rejects``."""
    missing = F.col(key).isNull() | (F.trim(F.col(key).cast("string")) == "")
    lineage = [(F.col(c) if c in df.columns else F.lit(None)).cast("string").alias(c)
               for c in ("_batch_id", "_source_file")]
    rejected = df.where(missing).select(
        F.lit(f"{key} is missing after typing: the row cannot be matched to an entity").alias("reason"),
        F.to_json(F.struct(*[F.col(c) for c in df.columns])).alias("record"),
        *lineage)
    return df.where(~missing), rejected


def latest_per_key(df: DataFrame, key: str, order_by: list[str]) -> DataFrame:
    """Keep one row per ``key``: the first by ``order_by`` descending (latest wins)."""
    if not order_by:
        raise ValueError("order_by must name at least one column")
    window = Window.partitionBy(key).orderBy(*[F.col(c).desc_nulls_last() for c in order_by])
    return df.withColumn("_rn", F.row_number().over(window)).where("_rn = 1").drop("_rn")


# --- category standardisation ------------------------------------------------------------
# "No internet service" / "No phone service" repeat what internet_service = 'No' and
# phone_service = false already say; silver keeps plain Yes/No (docs/silver.md).
NO_SERVICE_VALUES = ("No internet service", "No phone service")
SERVICE_COLUMNS = ("multiple_lines", "online_security", "online_backup", "device_protection",
                   "tech_support", "streaming_tv", "streaming_movies")


def standardise_service_flags(df: DataFrame) -> DataFrame:
    """Map 'No internet service' / 'No phone service' to 'No' in the service columns."""
    out = df
    for c in SERVICE_COLUMNS:
        if c in out.columns:
            out = out.withColumn(c, F.when(F.col(c).isin(*NO_SERVICE_VALUES), F.lit("No")).otherwise(F.col(c)))
    return out


# --- billing ------------------------------------------------------------------------------

def type_invoices(bronze: DataFrame) -> DataFrame:
    """Typed invoices: the billing month (YYYY-MM or YYYY-MM-01) as its first day, amounts as doubles."""
    return bronze.select(
        F.col("invoice_id").cast("long").alias("invoice_id"),
        blank_to_null(F.col("customer_id")).alias("customer_id"),
        F.trunc(F.coalesce(F.try_to_date(F.concat(F.col("billing_month"), F.lit("-01"))),
                           F.try_to_date(F.col("billing_month"))), "month").alias("billing_month"),
        F.col("amount").try_cast("double").alias("amount"),
        F.try_to_date(F.col("due_date")).alias("due_date"),
        F.try_to_timestamp(F.col("issued_at")).alias("issued_at"),
        F.try_to_timestamp(F.col("updated_at")).alias("updated_at"),
        "_ingested_at", "_batch_id",
    )


def type_payments(bronze: DataFrame) -> DataFrame:
    """Typed payments; ``status`` and ``method`` trimmed and lower-cased."""
    return bronze.select(
        F.col("payment_id").cast("long").alias("payment_id"),
        F.col("invoice_id").cast("long").alias("invoice_id"),
        blank_to_null(F.col("customer_id")).alias("customer_id"),
        F.try_to_timestamp(F.col("paid_at")).alias("paid_at"),
        F.col("amount").try_cast("double").alias("amount"),
        F.lower(blank_to_null(F.col("status"))).alias("status"),
        F.lower(blank_to_null(F.col("method"))).alias("method"),
        F.try_to_timestamp(F.col("updated_at")).alias("updated_at"),
        "_ingested_at", "_batch_id",
    )


# --- support tickets ----------------------------------------------------------------------

def type_tickets(bronze: DataFrame) -> DataFrame:
    """Typed ticket versions, with the resolution time in hours (null while unresolved)."""
    created = F.try_to_timestamp(F.col("created_at"))
    resolved = F.try_to_timestamp(F.col("resolved_at"))
    return bronze.select(
        F.col("ticket_id").cast("long").alias("ticket_id"),
        blank_to_null(F.col("customer_id")).alias("customer_id"),
        created.alias("created_at"),
        F.try_to_timestamp(F.col("updated_at")).alias("updated_at"),
        resolved.alias("resolved_at"),
        *[F.lower(blank_to_null(F.col(c))).alias(c) for c in ("category", "priority", "status", "channel")],
        F.col("satisfaction").cast("int").alias("satisfaction"),
        F.round((F.unix_timestamp(resolved) - F.unix_timestamp(created)) / 3600.0, 3).alias("resolution_hours"),
        "_ingested_at", "_batch_id",
    )


# --- web access logs ----------------------------------------------------------------------

def pseudonymise(col: Column, key: str) -> Column:
    """A keyed SHA-256 pseudonym of a value (null stays null).

    The same value maps to the same pseudonym for a given key, so sessions can still be
    counted; without the key the original cannot be recovered by hashing candidate values.
    """
    if not key:
        raise ValueError("a pseudonymisation key is required")
    return F.when(col.isNull(), F.lit(None).cast("string")).otherwise(
        F.sha2(F.concat(F.lit(key), F.lit("|"), col), 256))


WEB_EVENT_COLUMNS = ("event_time", "customer_id", "client_pseudonym", "method", "path", "status",
                     "bytes", "user_agent")


def web_events(bronze: DataFrame, key: str) -> DataFrame:
    """Access-log events without personal data: the IP becomes a keyed pseudonym.

    The raw line, the IP, the referer (may carry query strings) and the text timestamp are
    dropped; exact duplicate events (the same request logged twice) are removed, keeping the
    first seen (earliest ``_ingested_at``, then batch id): a deterministic choice, so an
    incremental merge that keeps the row already in silver gives the same table as a rebuild.
    """
    events = bronze.select(
        F.col("event_time").cast("timestamp").alias("event_time"),
        blank_to_null(F.col("customer_id")).alias("customer_id"),
        pseudonymise(F.col("client_ip"), key).alias("client_pseudonym"),
        F.upper(F.col("method")).alias("method"),
        F.col("path"),
        F.col("status").cast("int").alias("status"),
        F.col("bytes").cast("long").alias("bytes"),
        F.col("user_agent"),
        "_ingested_at", "_batch_id",
    )
    first_seen = Window.partitionBy(*WEB_EVENT_COLUMNS).orderBy(F.col("_ingested_at").asc_nulls_last(),
                                                                 F.col("_batch_id").asc_nulls_last())
    return (events.withColumn("_rn", F.row_number().over(first_seen)).where("_rn = 1").drop("_rn")
            .withColumn("event_date", F.to_date("event_time")))


def history_versions(df: DataFrame, key: str, ts: str) -> DataFrame:
    """Every distinct version of each record, with its validity interval (SCD type 2).

    The same version seen twice (same ``key`` and ``ts``) is kept once: the latest ingestion
    wins. ``valid_from`` is the version's ``ts``, ``valid_to`` the next version's (null for the
    current one), ``is_current`` marks the latest. Point-in-time reads select
    ``valid_from <= t AND (valid_to IS NULL OR valid_to > t)``; current-state reads ``is_current``.
    """
    same = Window.partitionBy(key, ts).orderBy(F.col("_ingested_at").desc_nulls_last(),
                                               F.col("_batch_id").desc_nulls_last())
    distinct = df.withColumn("_rn", F.row_number().over(same)).where("_rn = 1").drop("_rn")
    following = Window.partitionBy(key).orderBy(F.col(ts))
    return (distinct.withColumn("valid_from", F.col(ts))
            .withColumn("valid_to", F.lead(F.col(ts)).over(following))
            .withColumn("is_current", F.col("valid_to").isNull()))


def as_of(versions: DataFrame, cutoff: Column) -> DataFrame:
    """The version of each record that was valid at ``cutoff`` (records created later are absent)."""
    return versions.where((F.col("valid_from") <= cutoff)
                          & (F.col("valid_to").isNull() | (F.col("valid_to") > cutoff)))
