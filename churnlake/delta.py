"""Delta reads and writes for the registered tables, in one place.

Writes are idempotent: a batch replaces exactly its own rows (``replaceWhere``), and every
commit carries JSON ``userMetadata`` (job, run date, batch) that Luigi targets look for.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from churnlake.config import Config
from churnlake.tables import Table


def table_exists(spark: SparkSession, table: Table, cfg: Config) -> bool:
    """True when a Delta table exists at the table's location."""
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, table.uri(cfg))


def latest_version(spark: SparkSession, table: Table, cfg: Config) -> int:
    """The newest Delta version of ``table``."""
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, table.uri(cfg)).history(1).select("version").first()[0])


def read_table(spark: SparkSession, table: Table, cfg: Config, *, version: int | None = None) -> DataFrame:
    """Read a table by location, optionally as of a Delta version."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(table.uri(cfg))


def replace_rows(df: DataFrame, table: Table, cfg: Config, *, replace_where: str,
                 metadata: str) -> None:
    """Atomically replace the rows matching ``replace_where`` with ``df`` (one commit)."""
    if not replace_where:
        raise ValueError("replace_where must select the batch being replaced")
    writer = (df.write.format("delta").mode("overwrite")
              .option("replaceWhere", replace_where)
              .option("userMetadata", metadata))
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(table.uri(cfg))


def overwrite_table(df: DataFrame, table: Table, cfg: Config, *, metadata: str) -> None:
    """Replace the whole table content with ``df`` (one commit; history is kept)."""
    writer = (df.write.format("delta").mode("overwrite")
              .option("overwriteSchema", "true")
              .option("userMetadata", metadata))
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(table.uri(cfg))


def register_in_catalog(spark: SparkSession, table: Table, cfg: Config) -> None:
    """Make an external Delta table visible in the metastore as ``<layer>.<name>``."""
    if not table.in_catalog:
        raise ValueError(f"{table.name} is not a catalog table")
    if not spark.catalog.databaseExists(table.layer):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {table.layer} "
                  f"LOCATION '{cfg.lakehouse_root}/{table.layer}/_database'")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table.name} USING DELTA LOCATION '{table.uri(cfg)}'")


def set_table_comment(spark: SparkSession, table: Table, cfg: Config, comment: str, *, metadata: str) -> bool:
    """Give a catalog table its description, once: a commit only when it differs (so a table
    gets one commit per run, not two). The commit carries ``metadata`` like a data write.
    Returns True when it changed."""
    current = spark.sql(f"DESCRIBE DETAIL delta.`{table.uri(cfg)}`").first()["description"]
    if current == comment:
        return False
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, metadata)
    try:
        escaped = comment.replace("'", "\\'")
        spark.sql(f"COMMENT ON TABLE {table.name} IS '{escaped}'")
    finally:
        spark.conf.unset(key)
    return True
