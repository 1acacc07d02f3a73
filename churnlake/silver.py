"""What every silver job does: validated bronze rows → typed, cleaned, deduplicated → Delta.

Each silver table holds the current state of its entity and is rewritten as a whole per
run (one commit, stamped with the job and run date); Delta keeps every earlier state.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import overwrite_table, replace_rows
from churnlake.jobrun import JobResult, commit_metadata
from churnlake.spark import cached
from churnlake.tables import SILVER_REJECTS, Table
from churnlake.transforms.silver import latest_per_key, split_missing_key

log = logging.getLogger(__name__)
from churnlake.validation.store import validated_rows


def build_silver(spark: SparkSession, cfg: Config, *, job: str, run_date: dt.date, bronze: Table,
                 silver: Table, prepare: Callable[[DataFrame], DataFrame], key: str | None,
                 order_by: tuple[str, ...] = ("_ingested_at", "_batch_id")) -> JobResult:
    """Read validated ``bronze`` rows, ``prepare`` them, keep the latest row per ``key``, write ``silver``.

    ``key=None`` means ``prepare`` already removed duplicates by its own rule. With a key, rows
    whose key is missing after typing go to ``quality.silver_rejects`` with the reason (they
    would otherwise vanish); the details name each count: ``rows_in``, ``rejected_no_key``,
    ``duplicates_removed``, and ``rows_in = rows_out + rejected_no_key + duplicates_removed``.
    """
    rows = validated_rows(spark, bronze, cfg, run_date)
    typed = prepare(rows)
    rejected_count = 0
    if key:
        typed, rejected = split_missing_key(typed, key)
        rejected = cached(rejected.select(F.lit(silver.name).alias("silver_table"),
                                          F.lit(run_date).cast("date").alias("run_date"), "*"))
        rejected_count = rejected.count()
        replace_rows(rejected, SILVER_REJECTS, cfg,
                     replace_where=f"silver_table = '{silver.name}' AND run_date = '{run_date.isoformat()}'",
                     metadata=commit_metadata(job, run_date, rejected=rejected_count))
        if rejected_count:
            log.warning("%d row(s) of %s have no %s after typing: kept in %s with the reason",
                        rejected_count, bronze.name, key, SILVER_REJECTS.name)
    current = cached(latest_per_key(typed, key, list(order_by)) if key else typed)
    rows_in, rows_out = rows.count(), current.count()
    overwrite_table(current, silver, cfg, metadata=commit_metadata(job, run_date))
    current.unpersist()
    return JobResult(rows_in=rows_in, rows_out=rows_out, details=silver_counts(rows_in, rows_out, rejected_count))


def silver_counts(rows_in: int, rows_out: int, rejected_no_key: int) -> dict[str, int]:
    """The named counts of a silver build (see :func:`build_silver`)."""
    if rows_out + rejected_no_key > rows_in:
        raise ValueError(f"silver wrote {rows_out} rows and rejected {rejected_no_key} from {rows_in} input rows: "
                         "more out than in")
    return {"rows_in": rows_in, "rejected_no_key": rejected_no_key,
            "duplicates_removed": rows_in - rows_out - rejected_no_key}


def pseudonym_key(cfg: Config) -> str:
    """The key of IP pseudonyms: from the configured env variable, else a key file in the state dir."""
    import os
    import secrets

    env_name = (cfg.raw.get("privacy") or {}).get("pseudonym_key_env") or "CHURNLAKE_PSEUDONYM_KEY"
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = cfg.state_dir / "pseudonym.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()
