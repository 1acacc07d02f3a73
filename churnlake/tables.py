"""The one module that knows every table's name and location.

Jobs, tasks and tests ask here for a table's URI, its partition columns and its catalog
name; no other module builds a lakehouse path. Locations are URIs under the configured
lakehouse root, so the same code runs on a local folder and on ``hdfs://``.
"""

from __future__ import annotations

from dataclasses import dataclass

from churnlake.config import Config


@dataclass(frozen=True)
class Table:
    """A Delta table of the lakehouse."""

    name: str  # "<layer>.<table>", also the metastore name for catalog tables
    relpath: str  # location below the lakehouse root
    partition_by: tuple[str, ...] = ()
    in_catalog: bool = False  # registered in the Hive metastore (gold tables)
    description: str = ""

    @property
    def layer(self) -> str:
        """The medallion layer: bronze, silver or gold."""
        return self.name.split(".", 1)[0]

    def uri(self, cfg: Config) -> str:
        """Full location of the table under ``cfg.lakehouse_root``."""
        return f"{cfg.lakehouse_root}/{self.relpath}"


BRONZE_CRM_CUSTOMERS = Table(
    "bronze.crm_customers",
    "bronze/crm/customers",
    partition_by=("_source", "_ingest_date"),
    description="CRM customer export as received (all columns text) plus lineage columns.",
)
BRONZE_BILLING_INVOICES = Table(
    "bronze.billing_invoices",
    "bronze/billing/invoices",
    partition_by=("_source", "_ingest_date"),
    description="Invoices from the billing database, read incrementally by (updated_at, invoice_id).",
)
BRONZE_BILLING_PAYMENTS = Table(
    "bronze.billing_payments",
    "bronze/billing/payments",
    partition_by=("_source", "_ingest_date"),
    description="Payments from the billing database, read incrementally by (updated_at, payment_id).",
)
BRONZE_SUPPORT_TICKETS = Table(
    "bronze.support_tickets",
    "bronze/support/tickets",
    partition_by=("_source", "_ingest_date"),
    description="Support-ticket versions from the ticket REST API (one row per fetched version).",
)
BRONZE_WEB_ACCESS_LOGS = Table(
    "bronze.web_access_logs",
    "bronze/web/access_logs",
    partition_by=("_source", "_ingest_date"),
    description="Parsed Apache combined-format access-log lines (customer id in the authuser field).",
)
BRONZE_CRM_REJECTED = Table(
    "bronze.crm_customers_rejected",
    "bronze/crm/customers_rejected",
    partition_by=("_source", "_ingest_date"),
    description="Lines of CRM export files rejected as a whole (missing required column, wrong delimiter): "
                "the raw line and the file's cause.",
)
QUARANTINE_WEB_ACCESS_LOGS = Table(
    "bronze.web_access_logs_quarantine",
    "bronze/web/access_logs_quarantine",
    partition_by=("_source", "_ingest_date"),
    description="Access-log lines that did not parse: the raw line and the reason.",
)
BILLING_TABLES = {"invoices": BRONZE_BILLING_INVOICES, "payments": BRONZE_BILLING_PAYMENTS}
# The bronze tables checked by an expectation suite (conf/expectations/<name>.yaml) before silver.
VALIDATED_TABLES = (BRONZE_CRM_CUSTOMERS, BRONZE_BILLING_INVOICES, BRONZE_BILLING_PAYMENTS,
                    BRONZE_SUPPORT_TICKETS, BRONZE_WEB_ACCESS_LOGS)

# Data quality (docs/validation.md): results, runs and one quarantine table per validated table.
QUALITY_RESULTS = Table(
    "quality.validation_results",
    "quality/validation_results",
    partition_by=("table_name",),
    description="One row per check per validation run: severity, success, counts, samples, resolution.",
)
QUALITY_RUNS = Table(
    "quality.validation_runs",
    "quality/validation_runs",
    partition_by=("table_name",),
    description="One row per validation run: batches covered, rows in/passed/quarantined, status, profile.",
)

SILVER_REJECTS = Table(
    "quality.silver_rejects",
    "quality/silver_rejects",
    partition_by=("silver_table",),
    description="Rows a silver job could not keep (no key after typing), with the reason, the run date "
                "and the row as JSON: nothing leaves between bronze and silver without a trace.",
)


def quarantine_table(bronze: Table) -> Table:
    """The quarantine table of a validated bronze table: its rows plus the reasons."""
    short = bronze.name.split(".", 1)[1]
    return Table(f"quality.quarantine_{short}", f"quality/quarantine/{short}",
                 partition_by=("_validation_date",),
                 description=f"Rows of {bronze.name} that failed validation, with reasons and run id.")


QUARANTINE_TABLES = {t.name: quarantine_table(t) for t in VALIDATED_TABLES}
SILVER_CUSTOMERS = Table(
    "silver.customers",
    "silver/customers",
    description="One typed, deduplicated row per customer (latest CRM record wins).",
)
SILVER_INVOICES = Table(
    "silver.invoices",
    "silver/invoices",
    description="Every distinct invoice version with valid_from/valid_to; is_current marks the latest.",
)
SILVER_PAYMENTS = Table(
    "silver.payments",
    "silver/payments",
    description="Every distinct payment version with valid_from/valid_to; is_current marks the latest.",
)
SILVER_TICKETS = Table(
    "silver.tickets",
    "silver/tickets",
    description="Every distinct ticket version with validity and resolution hours; is_current marks the latest.",
)
SILVER_WEB_EVENTS = Table(
    "silver.web_events",
    "silver/web_events",
    partition_by=("event_date",),
    description="Access-log events without personal data (IP as a keyed pseudonym), duplicates removed.",
)
SILVER_MODEL_READY = Table(
    "silver.customers_model_ready",
    "silver/customers_model_ready",
    description="Customers encoded and scaled by the fitted preprocessing pipeline, with label and split.",
)
GOLD_CUSTOMER_FEATURES = Table(
    "gold.customer_features",
    "gold/customer_features",
    partition_by=("as_of_date",),
    in_catalog=True,
    description="Model features per customer, computed as of a date.",
)
GOLD_CHURN_LABELS = Table(
    "gold.churn_labels",
    "gold/churn_labels",
    partition_by=("as_of_date",),
    in_catalog=True,
    description="Churn label per customer as of a date (kept apart from the features).",
)

GOLD_CHURN_PREDICTIONS = Table(
    "gold.churn_predictions",
    "gold/churn_predictions",
    partition_by=("as_of_date",),
    in_catalog=True,
    description="Churn probability per active customer per scoring date, with the model version used.",
)

# Dataset versioning (docs/versioning.md): the tag registry; tagged copies live beside it.
META_DATA_TAGS = Table(
    "meta.data_tags",
    "meta/data_tags",
    description="Named data versions: tag -> table -> Delta version, counts, change summary, archived copy.",
)


def tag_snapshot_uri(cfg: Config, tag: str, table: Table) -> str:
    """Where a tag keeps its archived copy of ``table`` (survives VACUUM of the source)."""
    return f"{cfg.lakehouse_root}/meta/tag_snapshots/{tag}/{table.relpath}"


# Monitoring (docs/monitoring.md): written by jobs/monitoring/run_summary.py after every run.
MONITORING_PIPELINE_RUNS = Table(
    "monitoring.pipeline_runs",
    "monitoring/pipeline_runs",
    partition_by=("run_date",),
    description="One summary row per run date: status, duration, task counts, rows per table, "
                "data-quality status, model metrics.",
)
MONITORING_TASK_RUNS = Table(
    "monitoring.task_runs",
    "monitoring/task_runs",
    partition_by=("run_date",),
    description="One row per Luigi task attempt of a run date (and per task that never ran): "
                "status, attempt, times, the job's rows in/out and error.",
)
MONITORING_TABLES = (MONITORING_PIPELINE_RUNS, MONITORING_TASK_RUNS)


ALL_TABLES: tuple[Table, ...] = (
    BRONZE_CRM_CUSTOMERS,
    BRONZE_BILLING_INVOICES,
    BRONZE_BILLING_PAYMENTS,
    BRONZE_SUPPORT_TICKETS,
    BRONZE_WEB_ACCESS_LOGS,
    BRONZE_CRM_REJECTED,
    QUARANTINE_WEB_ACCESS_LOGS,
    QUALITY_RESULTS,
    QUALITY_RUNS,
    *QUARANTINE_TABLES.values(),
    SILVER_REJECTS,
    SILVER_CUSTOMERS,
    SILVER_INVOICES,
    SILVER_PAYMENTS,
    SILVER_TICKETS,
    SILVER_WEB_EVENTS,
    SILVER_MODEL_READY,
    GOLD_CUSTOMER_FEATURES,
    GOLD_CHURN_LABELS,
    GOLD_CHURN_PREDICTIONS,
    META_DATA_TAGS,
    *MONITORING_TABLES,
)
_BY_NAME = {t.name: t for t in ALL_TABLES}


def get_table(name: str) -> Table:
    """Look a table up by its ``layer.table`` name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise ValueError(f"unknown table {name!r}; known tables: {known}") from None


def landing_uri(cfg: Config, source: str, entity: str, ingest_date: str, ingest_hour: int) -> str:
    """Folder of the immutable raw landing zone for one source entity and hour."""
    if not 0 <= ingest_hour <= 23:
        raise ValueError(f"ingest_hour must be 0..23, got {ingest_hour}")
    return (
        f"{cfg.lakehouse_root}/bronze/_landing/source={source}/type={entity}"
        f"/ingest_date={ingest_date}/ingest_hour={ingest_hour:02d}"
    )
