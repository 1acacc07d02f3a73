"""Bronze transforms: keep data as received and add lineage columns."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

LINEAGE_COLUMNS = ("_source", "_ingest_date", "_batch_id", "_ingested_at", "_source_file",
                   "_source_file_sha256", "_rescued_data")


def add_lineage(df: DataFrame, *, source: str, batch_id: str, ingested_at: dt.datetime,
                ingest_date: dt.date, file_col: Column, sha_by_file: dict[str, str],
                rescued_col: Column | None = None) -> DataFrame:
    """Append the bronze lineage columns.

    ``file_col`` names the file each row came from (``_metadata.file_path``);
    ``sha_by_file`` maps the file's base name to the content hash recorded at landing;
    ``rescued_col`` holds the raw text of a row that did not fit the schema (else null).
    """
    if not source or not batch_id:
        raise ValueError("source and batch_id must be non-empty")
    sha_map = F.create_map(*[F.lit(x) for kv in sha_by_file.items() for x in kv]) if sha_by_file \
        else F.create_map().cast("map<string,string>")
    return (
        df.withColumn("_source", F.lit(source))
        .withColumn("_ingest_date", F.lit(ingest_date.isoformat()).cast("date"))
        .withColumn("_batch_id", F.lit(batch_id))
        .withColumn("_ingested_at", F.lit(ingested_at).cast("timestamp"))
        .withColumn("_source_file", file_col)
        .withColumn("_source_file_sha256", sha_map[F.element_at(F.split(file_col, "/"), -1)])
        .withColumn("_rescued_data", rescued_col if rescued_col is not None
                    else F.lit(None).cast("string"))
    )
