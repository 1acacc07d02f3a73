"""Spark readers for raw landed files (explicit schemas, no inference)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

CORRUPT_COLUMN = "_corrupt_record"


def read_crm_csv(spark: SparkSession, uris: list[str], schema: StructType) -> DataFrame:
    """Read CRM CSV exports (LF or CRLF, with or without a UTF-8 BOM) as all-text columns.

    A line with the wrong number of fields keeps its raw text in ``_corrupt_record``; the
    source file path is in ``_file``.
    """
    full = StructType(list(schema.fields)).add(CORRUPT_COLUMN, "string")
    df = (spark.read.schema(full)
          .option("header", True)
          .option("mode", "PERMISSIVE")
          .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
          .option("encoding", "UTF-8")
          .option("multiLine", False)
          .csv(uris)
          .withColumn("_file", F.col("_metadata.file_path")))
    # A UTF-8 BOM can survive in the first header field or first value on some readers;
    # strip it from the first column so ids never carry an invisible prefix.
    first = schema.fields[0].name
    return df.withColumn(first, F.regexp_replace(F.col(first), "^\ufeff", ""))


def csv_header_problem(data: bytes, expected: list[str]) -> str | None:
    """Why the header line of a CSV export does not match ``expected`` (None when it does).

    The reader maps fields by position, so a missing, extra, renamed or reordered column
    would shift values silently; such files are flagged instead.
    """
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff").strip("\r")
    found = [name.strip().strip('"') for name in first.split(",")]
    if found == expected:
        return None
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(extra)}"] if extra else [])
        return "header " + "; ".join(parts)
    return "header columns in a different order"


def read_json_lines(spark: SparkSession, uris: list[str], schema: StructType) -> DataFrame:
    """Read JSON Lines with an explicit schema; malformed lines land in ``_corrupt_record``."""
    full = StructType(list(schema.fields)).add(CORRUPT_COLUMN, "string")
    return (spark.read.schema(full)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            .json(uris)
            .withColumn("_file", F.col("_metadata.file_path")))
