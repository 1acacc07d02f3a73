"""Ingest CRM customer exports (CSV files in the inbox) into ``bronze.crm_customers``.

    ./spark-submit.sh jobs/bronze/ingest_crm.py --run-date 2026-11-27 [--run-hour 6]

Files whose content was already ingested by another batch are skipped (and logged). The
batch replaces its own rows, so a rerun leaves the table content unchanged. A committed batch
is immutable: its rerun is rebuilt from the raw files it landed in ``bronze/_landing``, never
from what the inbox holds now (exports get archived), and a rerun that would replace the
batch's rows with none stops unless ``--replace-with-empty`` is given. LF or CRLF line
endings and a UTF-8 BOM are accepted; a line with the wrong number of fields is kept with
its raw text in ``_rescued_data``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from functools import reduce

from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import read_table, replace_rows, table_exists
from churnlake.ingestion.batch import (BatchReport, Interval, batch_commit, ingested_file_hashes,
                                       interval_arg_parser, land_bytes, landed_files, reconcile,
                                       refuse_emptying, reporting, sha256_bytes)
from churnlake.ingestion.readers import (CORRUPT_COLUMN, count_records, group_by_plan, plan_crm_csv, read_crm_csv,
                                         record_lines)
from churnlake.jobrun import JobResult, commit_metadata, run_job
from churnlake.schemas import struct
from churnlake.spark import cached, get_spark, stop
from churnlake.tables import BRONZE_CRM_CUSTOMERS as TABLE
from churnlake.tables import BRONZE_CRM_REJECTED as REJECTED
from churnlake.transforms.bronze import add_lineage

JOB = "bronze_ingest_crm"
SOURCE, ENTITY = "crm", "customers"
log = logging.getLogger(JOB)


REJECTED_LINE = "raw_line string, reason string, _file string"


def rejected_lines(uri: str, data: bytes, cause: str) -> list[tuple[str, str, str]]:
    """``(raw_line, reason, _file)`` of each record of a rejected file: the lines
    :func:`~churnlake.ingestion.readers.count_records` counts (non-blank, after the header), so
    the reconciliation holds whatever separators the text contains."""
    return [(line.decode("utf-8", errors="replace"), f"file rejected: {cause}", uri) for line in record_lines(data)]


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Land new inbox files and append them to bronze as one batch for the run date."""
    run_date: dt.date = args.run_date
    interval = Interval(run_date, args.run_hour)
    report = BatchReport.for_batch(SOURCE, ENTITY, interval)
    with reporting(report, cfg):
        return _ingest(cfg, interval, report.batch_id, report, allow_empty=args.replace_with_empty)


def batch_inputs(cfg: Config, interval: Interval, batch_id: str) -> tuple[list[tuple[str, bytes]], bool]:
    """``([(name, bytes)], committed)``: a committed batch's own landed files, else the inbox's CSVs."""
    if batch_commit(TABLE, cfg, batch_id) is not None:
        landed = landed_files(cfg, source=SOURCE, entity=ENTITY, interval=interval)
        log.info("batch %s is committed: rebuilt from its %d landed file(s); the inbox is not read",
                 batch_id, len(landed))
        return landed, True
    inbox = cfg.crm_inbox
    if not inbox.is_dir():
        raise FileNotFoundError(f"the CRM inbox {inbox} does not exist (sources.crm.inbox)")
    return [(p.name, p.read_bytes()) for p in sorted(inbox.glob("*.csv")) if p.is_file()], False


def _ingest(cfg: Config, interval: Interval, batch_id: str, report: BatchReport, *, allow_empty: bool) -> JobResult:
    run_date = interval.day
    files, committed = batch_inputs(cfg, interval, batch_id)

    spark = get_spark(JOB, cfg)
    try:
        seen = ingested_file_hashes(spark, [TABLE, REJECTED], cfg, except_batch=batch_id)
        # A rerun keeps the batch's first ingestion time, so its rows come out identical.
        ingested_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        committed_rows = 0
        if table_exists(spark, TABLE, cfg):
            first, committed_rows = (read_table(spark, TABLE, cfg).where(F.col("_batch_id") == batch_id)
                                     .agg(F.min("_ingested_at"), F.count("*")).first())
            ingested_at = first or ingested_at
        schema = struct(cfg, "bronze", "crm_customers")
        expected = schema.fieldNames()
        landed, readable, rejected_records = [], [], []
        empty_files, rejected_files, notes = [], {}, {}
        received = 0
        for name, data in files:
            digest = sha256_bytes(data)
            if digest in seen:
                log.info("skip %s: content %s already ingested by an earlier batch", name, digest[:12])
                continue
            plan = plan_crm_csv(data, expected)
            if plan.kind == "empty":
                log.warning("skip %s: %s; nothing to ingest (recorded in the ingestion log as an empty file)",
                            name, plan.cause)
                empty_files.append(name)
                continue
            # The CRM batch is rewritten on a rerun, so its landed files must stay as they are.
            landed_file = land_bytes(cfg, data, source=SOURCE, entity=ENTITY, interval=interval, name=name,
                                     committed=True)
            landed.append(landed_file)
            received += count_records(data)
            if plan.kind == "reject":
                log.error("%s rejected: %s; its lines go to %s with that reason, the batch's other files flow on",
                          name, plan.cause, REJECTED.name)
                rejected_files[name] = plan.cause
                rejected_records += rejected_lines(landed_file.uri, data, plan.cause)
                continue
            if plan.notes:
                log.info("%s: %s", name, "; ".join(plan.notes))
                notes[name] = plan.notes
            readable.append((plan, landed_file.uri))
        if not landed:
            # Still commit (an empty batch) so the run date is recorded as done.
            log.info("no new CRM files; batch %s commits no rows", batch_id)
        # One Spark scan per distinct read plan (header layout), not one per file; _file keeps
        # each row's own file.
        scans = group_by_plan(readable)
        if len(scans) < len(readable):
            log.info("%d readable file(s) in %d scan(s), one per header layout", len(readable), len(scans))
        frames = [read_crm_csv(spark, uris, schema, plan) for plan, uris in scans]
        raw = reduce(lambda a, b: a.unionByName(b), frames) if frames else spark.createDataFrame(
            [], schema.add(CORRUPT_COLUMN, "string").add("_file", "string"))
        lineage = dict(source=SOURCE, batch_id=batch_id, ingested_at=ingested_at, ingest_date=run_date,
                       file_col=F.col("_file"), sha_by_file={f.name: f.sha256 for f in landed})
        bronze = add_lineage(raw, **lineage, rescued_col=F.col(CORRUPT_COLUMN)).drop("_file", CORRUPT_COLUMN)
        bronze = cached(bronze)
        rows = bronze.count()
        rejected = spark.createDataFrame(rejected_records, REJECTED_LINE)
        rejected = cached(add_lineage(rejected, **lineage).drop("_file", "_rescued_data"))
        rejected_rows = rejected.count()
        reconcile(batch_id, received=received, written=rows, rejected=rejected_rows)
        refuse_emptying(TABLE, batch_id, committed_rows, rows + rejected_rows, allowed=allow_empty)
        meta = commit_metadata(JOB, run_date, batch_id=batch_id, interval=interval.label,
                               files=[f.name for f in landed], rows_written=rows, rows_rejected=rejected_rows)
        where = f"_source = '{SOURCE}' AND _batch_id = '{batch_id}'"
        # Rejected lines first: the bronze commit is what marks the batch as done.
        replace_rows(rejected, REJECTED, cfg, replace_where=where, metadata=meta, rows=rejected_rows)
        replace_rows(bronze, TABLE, cfg, replace_where=where, metadata=meta, rows=rows)
        rescued = bronze.where(F.col("_rescued_data").isNotNull()).count()
        report.rows_read = received
        report.rows_written = rows
        report.rows_rejected = rejected_rows
        report.bytes = sum(f.size for f in landed)
        report.extra.update(files=len(landed), skipped_files=len(files) - len(landed), rebuilt_from_landing=committed,
                            rescued_rows=rescued, rejected_files=rejected_files, empty_files=empty_files,
                            header_notes=notes)
        return JobResult(rows_in=received, rows_out=rows,
                         details={"batch_id": batch_id, "files": len(landed), "rejected_files": rejected_files,
                                  "rejected_rows": rejected_rows, "empty_files": empty_files,
                                  "skipped_files": len(files) - len(landed), "rescued_rows": rescued})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, interval_arg_parser(__doc__.splitlines()[0]))
