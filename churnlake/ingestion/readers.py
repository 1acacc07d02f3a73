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


def read_json_lines(spark: SparkSession, uris: list[str], schema: StructType) -> DataFrame:
    """Read JSON Lines with an explicit schema; malformed lines land in ``_corrupt_record``."""
    full = StructType(list(schema.fields)).add(CORRUPT_COLUMN, "string")
    return (spark.read.schema(full)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            .json(uris)
            .withColumn("_file", F.col("_metadata.file_path")))
