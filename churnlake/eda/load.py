"""Read a lakehouse table into pandas for the EDA, pinned to one Delta version.

The EDA works on the driver: ``silver.customers`` is one row per customer (7,043 in the
bundled data), so collecting it with ``toPandas`` is cheap and lets the statistics and
plots be plain pandas and matplotlib. Lineage columns (``_…``) are not collected.
"""

from __future__ import annotations

import logging
import time

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from churnlake.config import Config
from churnlake.delta import latest_version, read_table, table_exists
from churnlake.tables import Table

log = logging.getLogger(__name__)


def load_table(spark: SparkSession, table: Table, cfg: Config) -> tuple[pd.DataFrame, int]:
    """The table's newest version as a pandas frame, and that version number.

    The version is read first and the data read ``versionAsOf`` it, so a commit landing in
    between cannot make the reported version differ from the data. Decimal columns are
    cast to double (pandas would hold them as Python objects). Raises
    ``FileNotFoundError`` when the table does not exist yet.
    """
    started = time.monotonic()
    if not table_exists(spark, table, cfg):
        raise FileNotFoundError(f"{table.name} does not exist at {table.uri(cfg)}: run the job that writes it first")
    version = latest_version(spark, table, cfg)
    df = read_table(spark, table, cfg, version=version)
    cols = [F.col(f.name).cast("double").alias(f.name) if isinstance(f.dataType, DecimalType) else F.col(f.name)
            for f in df.schema.fields if not f.name.startswith("_")]
    pdf = df.select(*cols).toPandas()
    log.info("collected %d rows of %s version %d in %.1fs", len(pdf), table.name, version,
             time.monotonic() - started)
    return pdf, version
