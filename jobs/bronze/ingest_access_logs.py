"""Ingest web/app access-log files (Apache combined format) into ``bronze.web_access_logs``.

    ./spark-submit.sh jobs/bronze/ingest_access_logs.py --run-date 2026-11-27 [--run-hour 13]

Every ``*.log`` file in the log folder whose content was not ingested before is copied as
received into the landing zone and parsed in Spark. Lines that do not parse go to
``bronze.web_access_logs_quarantine`` with the raw line and the reason; rows read always
equal rows in bronze plus rows quarantined. A committed batch is never rewritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import replace_rows
from churnlake.ingestion.batch import (BatchReport, FileHashes, Interval, ingested_file_hashes,
                                       interval_arg_parser, land_bytes, reconcile, reporting, sha256_bytes,
                                       skip_if_committed)
from churnlake.ingestion.readers import count_records
from churnlake.jobrun import JobResult, commit_metadata, run_job
from churnlake.spark import cached, get_spark, stop
from churnlake.tables import BRONZE_WEB_ACCESS_LOGS as TABLE
from churnlake.tables import QUARANTINE_WEB_ACCESS_LOGS as QUARANTINE
from churnlake.transforms.access_logs import parse_access_log
from churnlake.transforms.bronze import add_lineage

JOB = "bronze_ingest_access_logs"
SOURCE, ENTITY = "web", "access_logs"
log = logging.getLogger(JOB)


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Land new log files, parse them, write good lines to bronze and bad ones to quarantine."""
    interval = Interval(args.run_date, args.run_hour)
    report = BatchReport.for_batch(SOURCE, ENTITY, interval)
    batch = report.batch_id
    with reporting(report, cfg):
        if (done := skip_if_committed(TABLE, cfg, report)) is not None:
            return JobResult(details=done)
        folder = cfg.web_logs_inbox
        if not folder.is_dir():
            raise FileNotFoundError(f"the access-log folder {folder} does not exist (sources.web_logs.inbox)")
        spark = get_spark(JOB, cfg)
        try:
            seen = ingested_file_hashes(spark, [TABLE, QUARANTINE], cfg, except_batch=batch)
            hashes = FileHashes(cfg.state_dir / "ingestion" / f"file-hashes-{SOURCE}-{ENTITY}.json")
            landed, received = [], 0
            for path in sorted(folder.glob("*.log")):
                data, digest = None, hashes.lookup(path)
                if digest is None:  # new or changed since hashed: read it once
                    data = path.read_bytes()
                    digest = sha256_bytes(data)
                    hashes.remember(path, digest)
                if digest in seen:
                    log.debug("skip %s: already ingested", path.name)
                    continue
                data = path.read_bytes() if data is None else data
                # Every line, blank ones too: the parser quarantines them ("empty line").
                received += count_records(data, header=False, blank=True)
                landed.append(land_bytes(cfg, data, source=SOURCE, entity=ENTITY, interval=interval,
                                         name=path.name, committed=False))
            hashes.save()
            report.bytes = sum(f.size for f in landed)
            report.extra["files"] = len(landed)
            log.info("%d new log files (%d bytes; %d file(s) hashed, the others unchanged since hashed)",
                     len(landed), report.bytes, hashes.hashed)
            ingested_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
            if landed:
                lines = spark.read.text([f.uri for f in landed]).withColumn("_file", F.col("_metadata.file_path"))
            else:
                lines = spark.createDataFrame([], "value string, _file string")
            parsed = add_lineage(parse_access_log(lines), source=SOURCE, batch_id=batch,
                                 ingested_at=ingested_at, ingest_date=interval.day,
                                 file_col=F.col("_file"), sha_by_file={f.name: f.sha256 for f in landed})
            parsed = cached(parsed.drop("_file"))
            rejected = (parsed.where(F.col("_reject_reason").isNotNull())
                        .select("raw_line", F.col("_reject_reason").alias("reason"), "_source",
                                "_ingest_date", "_batch_id", "_ingested_at", "_source_file",
                                "_source_file_sha256"))
            good = parsed.where(F.col("_reject_reason").isNull()).drop("_reject_reason")
            # Lines counted in the landed bytes, not in the parsed frame: a line the reader or
            # the parser lost would otherwise vanish from both sides of the check.
            report.rows_read = received
            report.rows_rejected = rejected.count()
            report.rows_written = good.count()
            reconcile(batch, received=received, written=report.rows_written, rejected=report.rows_rejected,
                      unit="lines", rejected_to="the quarantine")
            meta = commit_metadata(JOB, args.run_date, batch_id=batch, interval=interval.label,
                                   files=[f.name for f in landed], rows_written=report.rows_written,
                                   rows_rejected=report.rows_rejected)
            where = f"_source = '{SOURCE}' AND _batch_id = '{batch}'"
            # Quarantine first: the bronze commit is what marks the batch as done.
            replace_rows(rejected, QUARANTINE, cfg, replace_where=where, metadata=meta, rows=report.rows_rejected)
            replace_rows(good, TABLE, cfg, replace_where=where, metadata=meta, rows=report.rows_written)
            if report.rows_rejected:
                log.warning("%d lines quarantined in %s", report.rows_rejected, QUARANTINE.name)
        finally:
            stop(spark)
    return JobResult(rows_in=report.rows_read, rows_out=report.rows_written,
                     details={"batch_id": batch, "quarantined": report.rows_rejected,
                              "files": report.extra.get("files", 0)})


if __name__ == "__main__":
    run_job(JOB, main, interval_arg_parser(__doc__.splitlines()[0]))
