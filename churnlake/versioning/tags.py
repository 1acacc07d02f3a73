"""Named data versions: the tag registry ``meta.data_tags`` and the tagged copies.

A tag (``release-2026-11`` …) names one Delta version of each table it covers. Tagging
1. resolves the version (the latest, or one given),
2. counts its rows and compares it with the table's previous tag (rows added/removed,
   schema diff — :mod:`churnlake.versioning.changes`),
3. writes a copy of that version to ``<root>/meta/tag_snapshots/<tag>/<table path>``
   (a Delta table of its own), checks the copy's row count, and
4. appends one registry row per table in one commit — so a tag exists completely or not at all.

Why a copy and not pinned retention: VACUUM deletes the data files of old versions after
the retention period, whoever runs it (a job, or an analyst through the Thrift server).
A copy is independent of the source table's maintenance, costs exactly the tagged data
(visible, and freed by ``untag``), and keeps ordinary retention short for everything else.
Pinning instead would need every table's retention stretched to its oldest tag, so one old
tag would stop VACUUM from reclaiming anything. Tags are immutable: a name is used once.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churnlake.config import Config, code_version
from churnlake.delta import latest_version, read_table, table_exists
from churnlake.tables import META_DATA_TAGS, Table, get_table, tag_snapshot_uri
from churnlake.versioning.changes import Changes, compare

TAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REGISTRY_SCHEMA = T.StructType([
    T.StructField("tag", T.StringType(), False),
    T.StructField("table_name", T.StringType(), False),
    T.StructField("delta_version", T.LongType(), False),
    T.StructField("version_timestamp", T.TimestampType(), True),
    T.StructField("tagged_at", T.TimestampType(), False),
    T.StructField("source", T.StringType(), True),
    T.StructField("description", T.StringType(), True),
    T.StructField("row_count", T.LongType(), False),
    T.StructField("compared_to", T.StringType(), True),
    T.StructField("rows_added", T.LongType(), True),
    T.StructField("rows_removed", T.LongType(), True),
    T.StructField("schema_changes", T.StringType(), True),
    T.StructField("snapshot_uri", T.StringType(), False),
    T.StructField("code_version", T.StringType(), True),
])


class TagError(ValueError):
    """A tag that cannot be created or found, with the reason."""


def check_tag_name(tag: str) -> str:
    if not TAG_NAME.match(tag or ""):
        raise TagError(f"invalid tag name {tag!r}: use letters, digits, '.', '_' and '-' "
                       "(1-64 characters, starting with a letter or digit)")
    return tag


def registry(spark: SparkSession, cfg: Config) -> DataFrame:
    """All registry rows (an empty frame before the first tag)."""
    if not table_exists(spark, META_DATA_TAGS, cfg):
        return spark.createDataFrame([], REGISTRY_SCHEMA)
    return read_table(spark, META_DATA_TAGS, cfg)


def list_tags(spark: SparkSession, cfg: Config, table: str | None = None) -> list[dict]:
    """Registry rows as dicts, oldest tag first (optionally for one table)."""
    df = registry(spark, cfg)
    if table:
        df = df.where(F.col("table_name") == table)
    return [r.asDict() for r in df.orderBy("tagged_at", "tag", "table_name").collect()]


def lookup(spark: SparkSession, cfg: Config, tag: str, table: str) -> dict:
    """The registry row of ``tag`` for ``table``; a clear error when there is none."""
    rows = [r for r in list_tags(spark, cfg, table) if r["tag"] == tag]
    if not rows:
        known = sorted({r["tag"] for r in list_tags(spark, cfg, table)})
        raise TagError(f"tag {tag!r} does not cover {table}; tags of {table}: {', '.join(known) or 'none'}")
    return rows[0]


def read_tag(spark: SparkSession, cfg: Config, tag: str, table: str) -> DataFrame:
    """``table`` as of ``tag``: its archived copy (independent of the source's VACUUM)."""
    return spark.read.format("delta").load(lookup(spark, cfg, tag, table)["snapshot_uri"])


def read_ref(spark: SparkSession, cfg: Config, table: Table, ref: str) -> tuple[DataFrame, str]:
    """``table`` as of a reference: a Delta version (``12`` or ``v12``), ``latest``, or a tag name."""
    text = str(ref).strip()
    if text == "latest":
        version = latest_version(spark, table, cfg)
        return read_table(spark, table, cfg, version=version), f"version {version} (latest)"
    digits = text[1:] if text[:1] in "vV" else text
    if digits.isdigit():
        latest = latest_version(spark, table, cfg)
        if int(digits) > latest:
            raise TagError(f"{table.name} has no version {int(digits)}: its versions go up to {latest} "
                           f"(list them with: versions.py history {table.name})")
        return read_table(spark, table, cfg, version=int(digits)), f"version {int(digits)}"
    row = lookup(spark, cfg, text, table.name)
    return read_tag(spark, cfg, text, table.name), f"tag {text} (version {row['delta_version']})"


def _version_timestamp(spark: SparkSession, table: Table, cfg: Config, version: int) -> dt.datetime | None:
    from churnlake.delta import history

    rows = (history(spark, table.uri(cfg))
            .where(F.col("version") == version).select("timestamp").collect())
    return rows[0]["timestamp"] if rows else None


def create_tag(spark: SparkSession, cfg: Config, tag: str, tables: list[Table], *,
               description: str = "", source: str | None = None,
               versions: dict[str, int] | None = None) -> list[dict]:
    """Tag the given (or latest) version of each table; returns the registry rows written."""
    check_tag_name(tag)
    if not tables:
        raise TagError("a tag needs at least one table")
    if META_DATA_TAGS in tables:
        raise TagError("the tag registry cannot be tagged")
    existing = registry(spark, cfg)
    if existing.where(F.col("tag") == tag).limit(1).count():
        raise TagError(f"tag {tag!r} exists already (tags are immutable; choose a new name)")
    missing = [t.name for t in tables if not table_exists(spark, t, cfg)]
    if missing:
        raise TagError(f"cannot tag tables that do not exist: {', '.join(missing)}")
    versions = versions or {}
    source = source or f"{getpass.getuser()}@{os.uname().nodename}"
    tagged_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = []
    for table in tables:
        version = versions.get(table.name, latest_version(spark, table, cfg))
        data = read_table(spark, table, cfg, version=version)
        previous = list_tags(spark, cfg, table.name)
        if previous:
            prev = previous[-1]
            changes: Changes = compare(read_tag(spark, cfg, prev["tag"], table.name), data)
            compared_to = f"tag {prev['tag']} (version {prev['delta_version']})"
        else:
            changes = compare(None, data)
            compared_to = "nothing (first tag of this table)"
        target = tag_snapshot_uri(cfg, tag, table)
        writer = (data.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
                  .option("userMetadata", json.dumps({"tag": tag, "source_table": table.name,
                                                      "source_version": version}, sort_keys=True)))
        if table.partition_by:
            writer = writer.partitionBy(*table.partition_by)
        writer.save(target)
        copied = spark.read.format("delta").load(target).count()
        if copied != changes.rows_new:
            raise TagError(f"copy of {table.name} version {version} for tag {tag!r} holds {copied} rows, "
                           f"the source {changes.rows_new}; the tag was not registered")
        rows.append({
            "tag": tag, "table_name": table.name, "delta_version": int(version),
            "version_timestamp": _version_timestamp(spark, table, cfg, version), "tagged_at": tagged_at,
            "source": source, "description": description, "row_count": changes.rows_new,
            "compared_to": compared_to, "rows_added": changes.rows_added, "rows_removed": changes.rows_removed,
            "schema_changes": changes.schema.summary(), "snapshot_uri": target, "code_version": code_version(),
        })
    (spark.createDataFrame(rows, REGISTRY_SCHEMA).write.format("delta").mode("append")
     .option("userMetadata", json.dumps({"job": "versioning", "tag": tag, "action": "tag"}))
     .save(META_DATA_TAGS.uri(cfg)))
    return rows


def delete_tag(spark: SparkSession, cfg: Config, tag: str) -> int:
    """Remove ``tag`` from the registry (one commit, so its history keeps it) and delete its
    copies. Returns the number of tables it covered."""
    rows = [r for r in list_tags(spark, cfg) if r["tag"] == tag]
    if not rows:
        raise TagError(f"no tag named {tag!r}")
    from churnlake.delta import _quoted
    from churnlake.storage import filestore_for

    check_tag_name(tag)
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, json.dumps({"job": "versioning", "tag": tag, "action": "untag"}))
    try:
        spark.sql(f"DELETE FROM {_quoted(META_DATA_TAGS.uri(cfg))} WHERE tag = '{tag}'")
    finally:
        spark.conf.unset(key)
    for r in rows:
        filestore_for(r["snapshot_uri"], cfg).delete_tree(r["snapshot_uri"])
    return len(rows)


def tables_for(names: list[str] | None, layers: list[str] | None) -> list[Table]:
    """Tables chosen by name and/or layer (bronze, silver, gold, quality)."""
    from churnlake.tables import ALL_TABLES

    chosen = [get_table(n) for n in names or []]
    for layer in layers or []:
        layer_tables = [t for t in ALL_TABLES if t.layer == layer and t is not META_DATA_TAGS]
        if not layer_tables:
            raise TagError(f"unknown layer {layer!r}: use bronze, silver, gold or quality")
        chosen.extend(layer_tables)
    seen: dict[str, Table] = {}
    for t in chosen:
        seen.setdefault(t.name, t)
    return list(seen.values())
