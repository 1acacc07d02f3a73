"""What changed between two versions of a Delta table: rows added and removed, schema diff.

Rows are compared as multisets of their full content: each row is reduced to a SHA-256 of
its JSON form over the columns both versions share (sorted by name, so a column move is not
a change), and the two hash multisets are compared. An updated row counts as one removed
plus one added. Columns present in only one version show in the schema diff, not in the row
counts (otherwise every row would look changed after an added column).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

HASH = "__row_sha256"


@dataclass(frozen=True)
class SchemaDiff:
    """Columns added, removed, or changed in type (name, old type, new type)."""

    added: tuple[tuple[str, str], ...] = ()
    removed: tuple[tuple[str, str], ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """One line, e.g. ``+churn_score double; -old_col string; ~tenure int->bigint``."""
        parts = ([f"+{n} {t}" for n, t in self.added] + [f"-{n} {t}" for n, t in self.removed]
                 + [f"~{n} {a}->{b}" for n, a, b in self.changed])
        return "; ".join(parts) if parts else "no schema change"


@dataclass(frozen=True)
class Changes:
    """Row and schema changes from ``old`` to ``new``."""

    rows_old: int
    rows_new: int
    rows_added: int
    rows_removed: int
    schema: SchemaDiff = field(default_factory=SchemaDiff)

    @property
    def rows_unchanged(self) -> int:
        return self.rows_new - self.rows_added

    def summary(self) -> str:
        return (f"{self.rows_old} -> {self.rows_new} rows: +{self.rows_added} added, "
                f"-{self.rows_removed} removed, {self.rows_unchanged} unchanged; {self.schema.summary()}")


def schema_diff(old: StructType, new: StructType) -> SchemaDiff:
    """Compare two schemas by column name (types as Spark's simple strings)."""
    a = {f.name: f.dataType.simpleString() for f in old.fields}
    b = {f.name: f.dataType.simpleString() for f in new.fields}
    return SchemaDiff(
        added=tuple((n, b[n]) for n in b if n not in a),
        removed=tuple((n, a[n]) for n in a if n not in b),
        changed=tuple((n, a[n], b[n]) for n in a if n in b and a[n] != b[n]),
    )


def row_hashes(df: DataFrame, columns: list[str]) -> DataFrame:
    """``df`` reduced to one hash per row over ``columns`` (nulls and nested values included)."""
    return df.select(F.sha2(F.to_json(F.struct(*[F.col(c) for c in sorted(columns)])), 256).alias(HASH))


def _counted(df: DataFrame, columns: list[str], name: str) -> DataFrame:
    return row_hashes(df, columns).groupBy(HASH).agg(F.count(F.lit(1)).alias(name))


def compare(old: DataFrame | None, new: DataFrame) -> Changes:
    """Changes from ``old`` (None: an empty table) to ``new``."""
    if old is None:
        n = new.count()
        return Changes(0, n, n, 0, schema_diff(StructType([]), new.schema))
    diff = schema_diff(old.schema, new.schema)
    common = [c for c in new.columns if c in set(old.columns)]
    joined = (_counted(old, common, "n_old").join(_counted(new, common, "n_new"), HASH, "full_outer")
              .fillna(0, ["n_old", "n_new"]))
    totals = joined.agg(
        F.sum("n_old").alias("rows_old"), F.sum("n_new").alias("rows_new"),
        F.sum(F.greatest(F.col("n_new") - F.col("n_old"), F.lit(0))).alias("added"),
        F.sum(F.greatest(F.col("n_old") - F.col("n_new"), F.lit(0))).alias("removed"),
    ).first()
    return Changes(int(totals["rows_old"] or 0), int(totals["rows_new"] or 0),
                   int(totals["added"] or 0), int(totals["removed"] or 0), diff)


def changed_rows(old: DataFrame, new: DataFrame, limit: int = 5) -> tuple[DataFrame, DataFrame]:
    """Up to ``limit`` example rows added (content only in ``new``) and removed (only in ``old``)."""
    common = [c for c in new.columns if c in set(old.columns)]

    def hashed(df: DataFrame) -> DataFrame:
        return df.select(*common).withColumn(HASH, F.sha2(F.to_json(F.struct(*sorted(common))), 256))

    a, b = hashed(old), hashed(new)
    added = b.join(a.select(HASH), HASH, "left_anti").drop(HASH).limit(limit)
    removed = a.join(b.select(HASH), HASH, "left_anti").drop(HASH).limit(limit)
    return added, removed


def history(spark, uri: str, limit: int | None = None) -> list[dict]:
    """A table's Delta versions, newest first: version, timestamp, operation, job, run date,
    rows written (operation metrics) and the user metadata."""
    import json

    from churnlake.delta import history as delta_history

    rows = delta_history(spark, uri, limit).select(
        "version", "timestamp", "operation", "userMetadata", "operationMetrics").collect()
    out = []
    for r in rows:
        try:
            meta = json.loads(r["userMetadata"]) if r["userMetadata"] else {}
        except ValueError:
            meta = {"text": r["userMetadata"]}
        metrics = r["operationMetrics"] or {}
        out.append({"version": int(r["version"]), "timestamp": r["timestamp"], "operation": r["operation"],
                    "job": meta.get("job"), "run_date": meta.get("run_date"),
                    "rows_written": int(metrics["numOutputRows"]) if "numOutputRows" in metrics else None,
                    "metadata": meta})
    return out
