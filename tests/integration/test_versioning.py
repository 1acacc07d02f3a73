"""Dataset versioning on real Delta tables: tags, change logs, schema diffs, VACUUM, retention."""

from __future__ import annotations

import re
import uuid

import pytest
from pyspark.sql import functions as F

from churnlake.delta import latest_version, overwrite_table, read_table
from churnlake.tables import Table
from churnlake.versioning import retention, tags
from churnlake.versioning.changes import compare, history, schema_diff

pytestmark = pytest.mark.integration


def fresh_table() -> Table:
    name = f"t{uuid.uuid4().hex[:8]}"
    return Table(f"gold.{name}", f"gold/{name}")


def write(spark, cfg, table, rows, schema="customer_id string, spend double", meta="{}"):
    overwrite_table(spark.createDataFrame(rows, schema), table, cfg, metadata=meta)
    return latest_version(spark, table, cfg)


def test_a_tag_keeps_its_content_after_new_data_lands(spark, cfg):
    table = fresh_table()
    write(spark, cfg, table, [("a", 1.0), ("b", 2.0)])
    rows = tags.create_tag(spark, cfg, f"rel-{uuid.uuid4().hex[:6]}", [table], description="first")
    tag = rows[0]["tag"]
    assert rows[0]["row_count"] == 2 and rows[0]["rows_added"] == 2 and rows[0]["rows_removed"] == 0
    from churnlake.config import code_version

    assert rows[0]["code_version"] == code_version()  # the checkout's commit (tests run in one)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", rows[0]["code_version"])

    write(spark, cfg, table, [("a", 1.0), ("b", 5.0), ("c", 3.0)])  # b updated, c new
    assert read_table(spark, table, cfg).count() == 3
    old = {r["customer_id"]: r["spend"] for r in tags.read_tag(spark, cfg, tag, table.name).collect()}
    assert old == {"a": 1.0, "b": 2.0}
    by_ref, label = tags.read_ref(spark, cfg, table, tag)
    assert by_ref.count() == 2 and label == f"tag {tag} (version 0)"

    # A second tag records the change since the first one: b's update is one removed + one added.
    second = tags.create_tag(spark, cfg, tag + "-2", [table])[0]
    assert (second["delta_version"], second["row_count"]) == (1, 3)
    assert (second["rows_added"], second["rows_removed"]) == (2, 1)
    assert second["compared_to"] == f"tag {tag} (version 0)"
    listed = [r["tag"] for r in tags.list_tags(spark, cfg, table.name)]
    assert listed == [tag, tag + "-2"]


def test_a_schema_change_shows_in_the_diff(spark, cfg):
    table = fresh_table()
    write(spark, cfg, table, [("a", 1.0), ("b", 2.0)])
    write(spark, cfg, table, [("a", 1.0, 7), ("b", 2.0, 9)], schema="customer_id string, spend double, tickets int")
    old, _ = tags.read_ref(spark, cfg, table, "v0")
    new, label = tags.read_ref(spark, cfg, table, "latest")
    changes = compare(old, new)
    assert label == "version 1 (latest)"
    assert changes.schema.added == (("tickets", "int"),)
    assert changes.schema.summary() == "+tickets int"
    # Rows are compared on the shared columns, so an added column alone changes no row.
    assert (changes.rows_added, changes.rows_removed) == (0, 0)
    retyped = old.withColumn("spend", F.col("spend").cast("string"))
    assert schema_diff(old.schema, retyped.schema).changed == (("spend", "double", "string"),)


def test_tagged_versions_survive_vacuum(spark, cfg):
    table = fresh_table()
    write(spark, cfg, table, [("a", 1.0), ("b", 2.0)])
    tag = f"keep-{uuid.uuid4().hex[:6]}"
    tags.create_tag(spark, cfg, tag, [table])
    write(spark, cfg, table, [("z", 9.0)])
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        with retention.sized_listing(spark):
            spark.sql(f"VACUUM delta.`{table.uri(cfg)}` RETAIN 0 HOURS")
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    # the untagged old version's files are gone from the source table ...
    with pytest.raises(Exception, match=r"(?i)does not exist|not found|FileNotFound|No such file"):
        read_table(spark, table, cfg, version=0).collect()
    assert sorted(r["customer_id"] for r in tags.read_tag(spark, cfg, tag, table.name).collect()) == ["a", "b"]


def test_tags_are_checked_and_immutable(spark, cfg):
    table = fresh_table()
    write(spark, cfg, table, [("a", 1.0)])
    with pytest.raises(tags.TagError, match="invalid tag name"):
        tags.create_tag(spark, cfg, "bad name!", [table])
    name = f"once-{uuid.uuid4().hex[:6]}"
    tags.create_tag(spark, cfg, name, [table])
    with pytest.raises(tags.TagError, match="exists already"):
        tags.create_tag(spark, cfg, name, [table])
    with pytest.raises(tags.TagError, match="does not cover"):
        tags.read_tag(spark, cfg, "no-such-tag", table.name)
    missing = fresh_table()
    with pytest.raises(tags.TagError, match="do not exist"):
        tags.create_tag(spark, cfg, name + "x", [missing])
    assert tags.delete_tag(spark, cfg, name) == 1
    assert not [r for r in tags.list_tags(spark, cfg) if r["tag"] == name]


def test_retention_policy_on_new_and_existing_tables(spark, cfg):
    pol = retention.policy(cfg)
    table = fresh_table()
    write(spark, cfg, table, [("a", 1.0)])
    props = retention.table_properties(spark, table, cfg)
    # New tables get the policy from the session defaults every churnlake session carries.
    assert props.get("delta.deletedFileRetentionDuration") == pol.properties["delta.deletedFileRetentionDuration"]
    assert props.get("delta.logRetentionDuration") == pol.properties["delta.logRetentionDuration"]
    spark.sql(f"ALTER TABLE delta.`{table.uri(cfg)}` SET TBLPROPERTIES "
              "('delta.logRetentionDuration' = 'interval 60 days')")
    assert retention.apply_policy(spark, cfg, [table]) == [table.name]
    assert retention.apply_policy(spark, cfg, [table]) == []  # idempotent: no second commit
    assert retention.table_properties(spark, table, cfg)["delta.logRetentionDuration"] == "interval 30 days"
    assert retention.vacuum(spark, cfg, [table], dry_run=True) == {table.name: 0}
    ops = [h["operation"] for h in history(spark, table.uri(cfg))]
    assert ops[0] == "SET TBLPROPERTIES"


def test_time_travel_error_is_clear_for_unknown_version(spark, cfg):
    table = fresh_table()
    write(spark, cfg, table, [("a", 1.0)])
    with pytest.raises(tags.TagError) as err:
        tags.read_ref(spark, cfg, table, "v7")
    assert str(err.value) == (f"{table.name} has no version 7: its versions go up to 0 "
                              f"(list them with: versions.py history {table.name})")
    assert tags.read_ref(spark, cfg, table, "v0")[1] == "version 0"
