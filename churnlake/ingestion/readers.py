"""Spark readers for raw landed files (explicit schemas, no inference)."""

from __future__ import annotations

import csv
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

CORRUPT_COLUMN = "_corrupt_record"


DELIMITERS = (",", ";", "\t", "|")
EXTRA_KEY = "_extra_columns"


def _normal(name: str) -> str:
    """A header name compared case- and space-insensitively."""
    return "".join(name.lstrip("\ufeff").strip().strip('"').split()).lower()


def record_lines(data: bytes, header: bool = True, blank: bool = False) -> list[bytes]:
    """The records of a line-based export as received, as raw bytes: its lines (split on LF,
    CRLF or CR, like Spark's line reader, never on the other separators ``str.splitlines``
    knows), without blank ones unless ``blank``, minus the header line when ``header``.

    The one way the ingestion jobs split and count landed bytes (:func:`count_records`), so
    the reconciliation's "received" side and the lines of a rejected file always agree."""
    lines = [line for line in data.splitlines() if blank or line.strip()]
    return lines[1:] if header else lines


def count_records(data: bytes, header: bool = True, blank: bool = False) -> int:
    """Records in a line-based export as received (:func:`record_lines`): by default its
    non-blank lines, minus the header line; ``blank=True`` counts blank lines too (the
    access-log parser rejects them, so they are records there). Counted from the bytes,
    independently of the reader, for the reconciliation."""
    return len(record_lines(data, header=header, blank=blank))


@dataclass(frozen=True)
class CsvPlan:
    """How one CRM export is read: by header name, or not at all (and why)."""

    kind: str  # "ok" | "reject" | "empty"
    cause: str = ""
    width: int = 0  # fields in the file's header
    positions: tuple[tuple[str, int], ...] = ()  # (schema column, index in the file)
    extras: tuple[tuple[str, int], ...] = ()  # (header name as written, index) of unknown columns
    reordered: bool = False

    @property
    def notes(self) -> list[str]:
        out = []
        if self.reordered:
            out.append("columns in another order (mapped by header name)")
        if self.extras:
            out.append(f"extra column(s) {', '.join(n for n, _ in self.extras)} kept in _rescued_data")
        return out


def plan_crm_csv(data: bytes, expected: list[str]) -> CsvPlan:
    """Read the header of a CRM export and decide: map its columns by name (case- and
    space-insensitive; another order and extra columns are fine), or reject the file naming the
    cause (a missing required column, a wrong delimiter), or skip it (zero bytes, no header)."""
    if not data.strip():
        return CsvPlan("empty", "the file is empty (0 bytes)" if not data else "the file holds only blank lines")
    first = data.splitlines()[0].decode("utf-8", errors="replace").lstrip("\ufeff")
    fields = next(csv.reader([first], delimiter=","))
    wanted = {_normal(c): c for c in expected}
    if len(fields) == 1:
        for other in DELIMITERS[1:]:
            if len(first.split(other)) >= max(2, len(expected) // 2):
                shown = "\\t" if other == "\t" else other
                return CsvPlan("reject", f"wrong delimiter: found '{shown}', the CRM export is comma-separated")
    found = [_normal(f) for f in fields]
    dupes = sorted({f for f in found if found.count(f) > 1 and f in wanted})
    if dupes:
        return CsvPlan("reject", f"header names {', '.join(wanted[d] for d in dupes)} more than once")
    missing = [c for c in expected if _normal(c) not in found]
    if missing:
        return CsvPlan("reject", f"header lacks required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    positions = tuple((wanted[f], i) for i, f in enumerate(found) if f in wanted)
    extras = tuple((fields[i].strip(), i) for i, f in enumerate(found) if f not in wanted)
    reordered = [c for c, _ in positions] != list(expected)
    return CsvPlan("ok", width=len(fields), positions=positions, extras=extras, reordered=reordered)


def group_by_plan(planned: list[tuple[CsvPlan, str]]) -> list[tuple[CsvPlan, list[str]]]:
    """``[(plan, [uri, ...])]``: the files of ``(plan, uri)`` pairs grouped by equal read plan, in
    order of first appearance, so :func:`read_crm_csv` reads each group in one Spark scan."""
    groups: dict[CsvPlan, list[str]] = {}
    for plan, uri in planned:
        if plan.kind != "ok":
            raise ValueError(f"only a readable file has a read plan; got a {plan.kind!r} plan for {uri}")
        groups.setdefault(plan, []).append(uri)
    return list(groups.items())


def read_crm_csv(spark: SparkSession, uris: list[str], schema: StructType, plan: CsvPlan | None = None) -> DataFrame:
    """Read CRM CSV exports (LF or CRLF, with or without a UTF-8 BOM) as all-text columns,
    values trimmed of surrounding spaces (also around the delimiter).

    ``plan`` (:func:`plan_crm_csv`, one per header layout) maps the files' columns to the schema
    by header name, so every file of ``uris`` must share it (:func:`group_by_plan`); Spark
    skips each file's own header line; extra columns' values go to ``_corrupt_record`` as
    ``{"_extra_columns": {...}}`` (JSON). A line with the wrong number of fields keeps its raw
    text in ``_corrupt_record``; the source file path is in ``_file``. Without a plan the
    columns are taken by position (the schema's order).
    """
    width = plan.width if plan else len(schema.fields)
    raw_names = [f"_c{i}" for i in range(width)]
    full = StructType([StructField(n, StringType()) for n in raw_names]).add(CORRUPT_COLUMN, "string")
    df = (spark.read.schema(full)
          .option("header", True)
          .option("enforceSchema", True)  # columns by position: the plan maps the names itself
          .option("mode", "PERMISSIVE")
          .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
          .option("encoding", "UTF-8")
          .option("multiLine", False)
          .option("ignoreLeadingWhiteSpace", True)
          .option("ignoreTrailingWhiteSpace", True)
          .csv(uris)
          .withColumn("_file", F.col("_metadata.file_path")))
    positions = plan.positions if plan else tuple((f.name, i) for i, f in enumerate(schema.fields))
    by_name = dict(positions)
    columns = [F.col(raw_names[by_name[f.name]]).alias(f.name) for f in schema.fields]
    rescued = F.col(CORRUPT_COLUMN)
    if plan and plan.extras:
        pairs = [x for name, i in plan.extras for x in (F.lit(name), F.col(raw_names[i]))]
        extras = F.to_json(F.struct(F.create_map(*pairs).alias(EXTRA_KEY)))
        rescued = F.coalesce(F.col(CORRUPT_COLUMN), extras)
    out = df.select(*columns, rescued.alias(CORRUPT_COLUMN), "_file")
    # A UTF-8 BOM can survive in the first header field or first value on some readers;
    # strip it from the first column so ids never carry an invisible prefix.
    first = schema.fields[0].name
    return out.withColumn(first, F.regexp_replace(F.col(first), "^\ufeff", ""))


def read_json_lines(spark: SparkSession, uris: list[str], schema: StructType) -> DataFrame:
    """Read JSON Lines with an explicit schema; malformed lines land in ``_corrupt_record``."""
    full = StructType(list(schema.fields)).add(CORRUPT_COLUMN, "string")
    return (spark.read.schema(full)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            .json(uris)
            .withColumn("_file", F.col("_metadata.file_path")))
