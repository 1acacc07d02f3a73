"""The retention policy: how long Delta keeps old versions readable, and VACUUM with it.

Two table properties decide what time travel can reach (docs/versioning.md):

* ``delta.deletedFileRetentionDuration`` — VACUUM deletes a data file only when it has been
  out of the table for longer than this; every version younger than this stays readable.
* ``delta.logRetentionDuration`` — commits older than this are dropped at checkpoints; it
  must be at least the file retention, or versions whose files still exist lose their log.

Both come from ``versioning`` in conf/pipeline.yaml. New tables get them as Delta's session
defaults (:func:`session_defaults`, set by churnlake.spark for every session); existing ones
by :func:`apply_policy`. Tagged versions do not depend on either: tags keep copies.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

from pyspark.sql import SparkSession

from churnlake.config import Config
from churnlake.delta import table_exists
from churnlake.tables import Table

DEFAULTS_PREFIX = "spark.databricks.delta.properties.defaults."


@dataclass(frozen=True)
class Policy:
    deleted_file_retention_days: int
    log_retention_days: int

    @property
    def properties(self) -> dict[str, str]:
        return {"delta.deletedFileRetentionDuration": f"interval {self.deleted_file_retention_days} days",
                "delta.logRetentionDuration": f"interval {self.log_retention_days} days"}

    @property
    def vacuum_hours(self) -> int:
        return self.deleted_file_retention_days * 24


def policy(cfg: Config) -> Policy:
    """The configured policy, checked: positive days, log retention >= file retention."""
    section = cfg.raw.get("versioning") or {}
    try:
        files = int(section.get("deleted_file_retention_days", 7))
        logs = int(section.get("log_retention_days", 30))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"versioning retention days must be whole numbers: {exc}") from None
    if files < 1 or logs < 1:
        raise ValueError("versioning retention days must be at least 1")
    if logs < files:
        raise ValueError(f"versioning.log_retention_days ({logs}) must be >= deleted_file_retention_days "
                         f"({files}): otherwise versions whose files still exist lose their log")
    return Policy(files, logs)


def session_defaults(cfg: Config) -> dict[str, str]:
    """Spark settings that give every new Delta table the policy's properties."""
    return {DEFAULTS_PREFIX + key.removeprefix("delta."): value for key, value in policy(cfg).properties.items()}


def table_properties(spark: SparkSession, table: Table, cfg: Config) -> dict[str, str]:
    return dict(spark.sql(f"DESCRIBE DETAIL delta.`{table.uri(cfg)}`").first()["properties"] or {})


def apply_policy(spark: SparkSession, cfg: Config, tables: list[Table]) -> list[str]:
    """Set the policy's properties on every existing table that differs (one commit each).
    Returns the names of the tables changed."""
    wanted = policy(cfg).properties
    changed = []
    key = "spark.databricks.delta.commitInfo.userMetadata"
    for table in tables:
        if not table_exists(spark, table, cfg):
            continue
        current = table_properties(spark, table, cfg)
        if all(current.get(k) == v for k, v in wanted.items()):
            continue
        props = ", ".join(f"'{k}' = '{v}'" for k, v in wanted.items())
        spark.conf.set(key, json.dumps({"job": "versioning", "action": "retention_policy"}))
        try:
            spark.sql(f"ALTER TABLE delta.`{table.uri(cfg)}` SET TBLPROPERTIES ({props})")
        finally:
            spark.conf.unset(key)
        changed.append(table.name)
    return changed


#: Tasks VACUUM lists a table's folders with (see :func:`sized_listing`).
LISTING_PARALLELISM_KEY = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


@contextlib.contextmanager
def sized_listing(spark: SparkSession):
    """VACUUM lists a table's folders with spark.sql.sources.parallelPartitionDiscovery.parallelism
    tasks (default 10,000): minutes of empty tasks per table on a small machine. Within this block
    the session's shuffle partitions are used (a per-session SQL setting, so it works for a
    Spark Connect client too and never touches another session of a shared engine); the
    setting is restored after."""
    previous = spark.conf.get(LISTING_PARALLELISM_KEY, None)
    spark.conf.set(LISTING_PARALLELISM_KEY, str(max(2, int(spark.conf.get("spark.sql.shuffle.partitions", "8")))))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(LISTING_PARALLELISM_KEY)
        else:
            spark.conf.set(LISTING_PARALLELISM_KEY, previous)


def vacuum(spark: SparkSession, cfg: Config, tables: list[Table], *, dry_run: bool = False) -> dict[str, int]:
    """VACUUM each existing table with the policy's file retention.

    Returns, per table, the number of files deleted (or that would be, with ``dry_run``): the
    files a dry run lists right before the real VACUUM."""
    hours = policy(cfg).vacuum_hours
    out = {}
    with sized_listing(spark):
        for table in tables:
            if not table_exists(spark, table, cfg):
                continue
            sql = f"VACUUM delta.`{table.uri(cfg)}` RETAIN {hours} HOURS"
            out[table.name] = spark.sql(sql + " DRY RUN").count()
            if not dry_run:
                spark.sql(sql)
    return out
