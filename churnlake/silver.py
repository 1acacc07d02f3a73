"""What every silver job does: validated bronze rows → typed, cleaned, deduplicated → Delta.

Each silver table holds the current state of its entity and is rewritten as a whole per
run (one commit, stamped with the job and run date); Delta keeps every earlier state.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from pyspark.sql import DataFrame, SparkSession

from churnlake.config import Config
from churnlake.delta import overwrite_table
from churnlake.jobrun import JobResult, commit_metadata
from churnlake.spark import cached
from churnlake.tables import Table
from churnlake.transforms.silver import latest_per_key
from churnlake.validation.store import validated_rows


def build_silver(spark: SparkSession, cfg: Config, *, job: str, run_date: dt.date, bronze: Table,
                 silver: Table, prepare: Callable[[DataFrame], DataFrame], key: str | None,
                 order_by: tuple[str, ...] = ("_ingested_at", "_batch_id")) -> JobResult:
    """Read validated ``bronze`` rows, ``prepare`` them, keep the latest row per ``key``, write ``silver``.

    ``key=None`` means ``prepare`` already removed duplicates by its own rule.
    """
    rows = validated_rows(spark, bronze, cfg, run_date)
    typed = prepare(rows)
    current = cached(latest_per_key(typed, key, list(order_by)) if key else typed)
    rows_in, rows_out = rows.count(), current.count()
    overwrite_table(current, silver, cfg, metadata=commit_metadata(job, run_date))
    current.unpersist()
    return JobResult(rows_in=rows_in, rows_out=rows_out, details={"duplicates_removed": rows_in - rows_out})


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
