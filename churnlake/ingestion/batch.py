"""What every bronze ingestion shares: intervals, batch ids, commit checks, landing, run log.

A *batch* is one run of one source entity for one interval (a day, or an hour of a day).
Its id, ``<source>-<entity>-<interval>``, is stamped on every bronze row (``_batch_id``)
and on the Delta commit (``userMetadata``). A batch is committed at most once: a rerun of a
committed batch changes nothing, and a run interrupted before its commit left no table
state, so it simply runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from churnlake.config import Config
from churnlake.spark import cached
from churnlake.storage import (commit_record_uri, commit_records_root, delta_commits, filestore_for,
                               read_commit_record)
from churnlake.tables import Table, landing_uri

log = logging.getLogger(__name__)
INGESTION_LOG = "ingestion.log"


@dataclass(frozen=True)
class Interval:
    """A scheduling interval: a whole day (``hour`` None) or one hour of it."""

    day: dt.date
    hour: int | None = None

    def __post_init__(self) -> None:
        if self.hour is not None and not 0 <= self.hour <= 23:
            raise ValueError(f"hour must be 0..23, got {self.hour}")

    @property
    def label(self) -> str:
        """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``."""
        return self.day.isoformat() if self.hour is None else f"{self.day.isoformat()}T{self.hour:02d}"

    @property
    def landing_hour(self) -> int:
        """The ``ingest_hour`` folder of the landing zone (00 for a daily batch)."""
        return 0 if self.hour is None else self.hour


def batch_id(source: str, entity: str, interval: Interval) -> str:
    """The id of a batch: ``<source>-<entity>-<interval label>``."""
    if not source.isidentifier() or not entity.isidentifier():
        raise ValueError(f"source and entity must be identifiers, got {source!r}, {entity!r}")
    return f"{source}-{entity}-{interval.label}"


def batch_interval(batch: str) -> Interval:
    """The interval of a batch id (``<source>-<entity>-<YYYY-MM-DD>[THH]``, :func:`batch_id`)."""
    try:
        source, entity, label = batch.split("-", 2)
        day, _, hour = label.partition("T")
        interval = Interval(dt.date.fromisoformat(day), int(hour) if hour else None)
        if batch_id(source, entity, interval) == batch:
            return interval
    except ValueError:
        pass
    raise ValueError(f"not a batch id (<source>-<entity>-<YYYY-MM-DD>[THH]): {batch!r}")


@dataclass(frozen=True)
class BatchCommit:
    """Evidence that a batch is committed to a table: its commit record, or its JSON commit in
    the Delta log (``record`` None)."""

    batch_id: str
    job: str | None
    version: int | None  # the Delta version that committed it; None when the record alone knows it
    record: str | None = None  # URI of the commit record under <lakehouse>/_commits/


def recorded_commit(table: Table, cfg: Config, batch: str) -> BatchCommit | None:
    """The commit of ``batch`` to ``table`` as its commit record knows it, or None.

    Records live at ``<lakehouse>/_commits/<table>/<job>/<run date>/<batch>.json``
    (:func:`churnlake.delta.record_commit`; the run date of an ingestion batch is its interval's
    day) and outlive Delta's log cleanup. Read through the lakehouse's file store (local or
    WebHDFS): one listing of the table's job folders, one existence check per job. Records carry
    no Delta version."""
    run_date = batch_interval(batch).day.isoformat()
    root = commit_records_root(cfg.lakehouse_root, table.relpath)
    store = filestore_for(root, cfg)
    for job in store.list(root):
        try:
            uri = commit_record_uri(cfg.lakehouse_root, table.relpath, job, run_date, batch)
        except ValueError:
            continue  # not a job folder (a hidden or temporary entry)
        if not store.exists(uri):
            continue
        try:
            record = read_commit_record(store, uri)
        except ValueError as exc:  # not JSON, not UTF-8: a damaged record proves nothing
            log.warning("commit record %s is unreadable (%s); not counted", uri, exc)
            continue
        meta = record.get("metadata") if isinstance(record, dict) else None
        if isinstance(meta, dict) and meta.get("batch_id") == batch:
            return BatchCommit(batch, str(meta.get("job") or job), None, uri)
    return None


def logged_commit(table: Table, cfg: Config, batch: str) -> BatchCommit | None:
    """The commit of ``batch`` to ``table`` among the JSON commits still in its Delta log, or None
    (after log cleanup an old batch's commit is no longer there)."""
    uri = table.uri(cfg)
    for info in delta_commits(uri, filestore_for(uri, cfg)):
        meta = info.get("userMetadata")
        if isinstance(meta, dict) and meta.get("batch_id") == batch:
            return BatchCommit(batch, meta.get("job"), info["version"])
    return None


def batch_commit(table: Table, cfg: Config, batch: str) -> BatchCommit | None:
    """How ``batch`` is known to be committed to ``table``, or None when it is not.

    The commit records decide first: they survive Delta's log cleanup (checkpoint + expired
    JSON commits), which would otherwise make an old committed batch look new and ingest it
    again. The Delta log is read only when no record exists (tables written before the records,
    or a commit whose record could not be written)."""
    return recorded_commit(table, cfg, batch) or logged_commit(table, cfg, batch)


@dataclass(frozen=True)
class LandedFile:
    """A raw file in the landing zone."""

    name: str
    uri: str
    sha256: str
    size: int


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class FileHashes:
    """SHA-256 of the files in a source folder, remembered between runs by path, size and
    modification time (nanoseconds) in a JSON file under the state dir: a file that did not
    change is not read again to learn that it was ingested before. A file whose size or
    modification time changed is hashed again; a lost or unreadable memory file only costs
    the hashing. :meth:`save` keeps the entries of the files looked up in this run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: dict[str, list] = {}
        self.used: dict[str, list] = {}
        self._stats: dict[str, list] = {}
        self.hashed = 0
        try:
            loaded = json.loads(path.read_text())
            self.known = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            pass

    def lookup(self, file: Path) -> str | None:
        """The remembered hash of ``file`` when its size and modification time are unchanged, else None."""
        st = file.stat()
        key = str(file.resolve())
        entry = self.known.get(key)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [st.st_size, st.st_mtime_ns]:
            self.used[key] = entry
            return str(entry[2])
        self._stats[key] = [st.st_size, st.st_mtime_ns]  # as before reading: a later change is seen next run
        return None

    def remember(self, file: Path, digest: str) -> None:
        """Record the hash of a file :meth:`lookup` did not know."""
        key = str(file.resolve())
        self.used[key] = [*self._stats.pop(key), digest]
        self.hashed += 1

    def save(self) -> None:
        """Write the entries of this run's files (atomically: a crash leaves the old file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.used, sort_keys=True))
        os.replace(tmp, self.path)


def skip_if_committed(table: Table, cfg: Config, report: "BatchReport") -> dict | None:
    """If the report's batch is already in ``table``, mark the report skipped and say so.

    Returns the job details to report (batch id and committing version), else None.
    """
    commit = batch_commit(table, cfg, report.batch_id)
    if commit is None:
        return None
    version = commit.version
    if version is None:  # decided by the record; the version, for the report, only while the log has it
        version = getattr(logged_commit(table, cfg, report.batch_id), "version", None)
    if version is None:
        log.info("batch %s already committed (commit record %s; Delta's log cleanup removed the commit, so "
                 "its version is unknown); nothing to do", report.batch_id, commit.record)
    else:
        log.info("batch %s already committed at version %d; nothing to do", report.batch_id, version)
    report.status = "skipped"
    return {"batch_id": report.batch_id, "committed_version": version}


def reconcile(batch: str, *, received: int, written: int, rejected: int, unit: str = "records",
              rejected_to: str = "the rejected files") -> None:
    """Every record counted in a batch's landed bytes (``received``, by
    :func:`churnlake.ingestion.readers.count_records`) must be in bronze (``written``) or among
    the batch's rejected records (``rejected``, kept in ``rejected_to``); otherwise the batch
    fails before its commit.

    ``unit`` names what was counted (``records``, ``lines``) in the error."""
    if received != written + rejected:
        raise RuntimeError(f"reconciliation failed for {batch}: the landed files hold {received} {unit}, "
                           f"bronze got {written} and {rejected_to} {rejected} "
                           f"({received - written - rejected:+d} unaccounted); nothing was committed")


def land_bytes(cfg: Config, data: bytes, *, source: str, entity: str, interval: Interval,
               name: str, committed: bool) -> LandedFile:
    """Write one raw file of a batch into the landing zone (atomically; same bytes: no-op).

    The landing zone is immutable once a batch is committed: different bytes under the
    same name raise ``ValueError``. With ``committed=False`` (the batch never reached
    bronze) a file left by an interrupted attempt is replaced, and logged.
    """
    uri = _landing_file_uri(cfg, source, entity, interval, name)
    store = filestore_for(uri, cfg)
    digest = sha256_bytes(data)
    if _keep_landed(store, uri, digest, committed):
        store.write_bytes(uri, data)
        log.debug("landed %s (%d bytes, sha256 %s)", uri, len(data), digest[:12])
    return LandedFile(name, uri, digest, len(data))


def land_file(cfg: Config, path: Path, *, sha256: str, source: str, entity: str, interval: Interval,
              name: str, committed: bool) -> LandedFile:
    """:func:`land_bytes` for a local file already written (and hashed) by the caller: moved or
    uploaded into place as a stream, so its size is bounded by disk, not memory. The file is
    consumed (also when the landing zone already holds the same bytes)."""
    uri = _landing_file_uri(cfg, source, entity, interval, name)
    store = filestore_for(uri, cfg)
    size = path.stat().st_size
    try:
        if _keep_landed(store, uri, sha256, committed):
            store.write_file(uri, path)
            log.debug("landed %s (%d bytes, sha256 %s)", uri, size, sha256[:12])
    finally:
        path.unlink(missing_ok=True)
    return LandedFile(name, uri, sha256, size)


def _landing_file_uri(cfg: Config, source: str, entity: str, interval: Interval, name: str) -> str:
    return f"{landing_uri(cfg, source, entity, interval.day.isoformat(), interval.landing_hour)}/{name}"


def _keep_landed(store, uri: str, digest: str, committed: bool) -> bool:
    """Whether ``uri`` must be (re)written with the bytes of ``digest``: False when it already
    holds them; raises when it holds others and belongs to a committed batch."""
    if not store.exists(uri):
        return True
    if store.sha256(uri) == digest:
        return False
    if committed:
        raise ValueError(f"landing zone is immutable: {uri} belongs to a committed batch")
    log.warning("replacing %s left by an interrupted attempt of this batch", uri)
    return True


class HashingWriter:
    """A binary sink that hashes and counts what passes through it into ``fh``."""

    def __init__(self, fh) -> None:
        self._fh, self._digest, self.bytes = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.bytes += len(data)
        return self._fh.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def landed_files(cfg: Config, *, source: str, entity: str, interval: Interval) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of every raw file the landing zone holds for one batch's interval."""
    folder = landing_uri(cfg, source, entity, interval.day.isoformat(), interval.landing_hour)
    store = filestore_for(folder, cfg)
    return [(name, store.read_bytes(f"{folder}/{name}")) for name in sorted(store.list(folder))]


class EmptyingRefused(RuntimeError):
    """A rerun would replace a committed batch's rows with none."""


def refuse_emptying(table: Table, batch: str, committed_rows: int, new_rows: int, *, allowed: bool) -> None:
    """Stop a rerun that would replace ``committed_rows`` > 0 rows of ``batch`` with none, unless
    an operator asked for it (``--replace-with-empty``)."""
    if committed_rows > 0 and new_rows == 0 and not allowed:
        raise EmptyingRefused(
            f"batch {batch} of {table.name} holds {committed_rows} committed rows and this rerun found none "
            f"to replace them with (its landed files are gone?); nothing was written. Rerun with "
            f"--replace-with-empty to empty the batch on purpose")


@dataclass
class BatchReport:
    """One structured line of ``logs/ingestion.log`` per source entity per batch."""

    source: str
    entity: str
    interval: str
    batch_id: str
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    bytes: int = 0
    attempts: int = 1
    status: str = "running"
    error: str | None = None
    extra: dict = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def for_batch(cls, source: str, entity: str, interval: Interval) -> "BatchReport":
        """A fresh report for the batch of ``source``/``entity`` in ``interval``."""
        return cls(source, entity, interval.label, batch_id(source, entity, interval))

    def write(self, logs_dir: Path) -> None:
        """Append this report as one JSON line to ``<logs_dir>/ingestion.log``."""
        record = {
            "ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": self.source, "entity": self.entity, "interval": self.interval,
            "batch_id": self.batch_id, "rows_read": self.rows_read,
            "rows_written": self.rows_written, "rows_rejected": self.rows_rejected,
            "bytes": self.bytes, "attempts": self.attempts,
            "duration_s": round(time.monotonic() - self.started, 2), "status": self.status,
            **({"error": self.error} if self.error else {}), **self.extra,
        }
        logs_dir.mkdir(parents=True, exist_ok=True)
        with (logs_dir / INGESTION_LOG).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=False, default=str) + "\n")
        log.info("ingestion %s", json.dumps(record, default=str))


class reporting:  # noqa: N801 - used as a context manager, reads like a statement
    """Context manager: mark the report ok or failed (with its cause) and write it."""

    def __init__(self, report: BatchReport, cfg: Config) -> None:
        self.report, self.cfg = report, cfg

    def __enter__(self) -> BatchReport:
        return self.report

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            self.report.status = "failed"
            text = str(exc).strip().splitlines()
            self.report.error = f"{exc_type.__name__}: {text[0] if text else ''}"
        elif self.report.status == "running":
            self.report.status = "ok"
        self.report.write(self.cfg.logs_dir)
        return False


def interval_arg_parser(description: str):
    """Job arguments of an ingestion job: ``--run-date``, ``--run-hour`` (optional), ``--config``."""
    from churnlake.jobrun import add_run_hour_arg, job_arg_parser

    parser = add_run_hour_arg(job_arg_parser(description), "hour of an hourly batch; omit for a daily batch")
    parser.add_argument("--replace-with-empty", action="store_true",
                        help="allow a rerun to replace a committed batch's rows with none (operator decision)")
    return parser


def ingested_file_hashes(spark, tables: list[Table], cfg: Config, *, except_batch: str) -> set[str]:
    """Content hashes of source files that other batches already put in ``tables``."""
    from pyspark.sql import functions as F

    from churnlake.delta import table_exists

    seen: set[str] = set()
    for table in tables:
        if table_exists(spark, table, cfg):
            df = spark.read.format("delta").load(table.uri(cfg))
            seen |= {r[0] for r in df.where(F.col("_batch_id") != except_batch)
                     .select("_source_file_sha256").distinct().collect() if r[0]}
    return seen


def bronze_high_watermark(spark, table: Table, cfg: Config, ts_col: str, key_col: str):
    """The ``(ts_col, key_col)`` values, as received, of the newest row already in bronze.

    "Newest" orders by the parsed timestamp, then the key; None when the table is empty or
    missing. This is the low watermark of the next incremental read: bronze itself is the
    state, so a batch that never committed never moves it.
    """
    from pyspark.sql import functions as F

    from churnlake.delta import table_exists

    if not table_exists(spark, table, cfg):
        return None
    df = spark.read.format("delta").load(table.uri(cfg))
    order = F.struct(F.try_to_timestamp(F.col(ts_col)).alias("ts"), F.col(key_col).alias("k"))
    row = df.agg(F.max_by(F.struct(ts_col, key_col), order).alias("wm")).first()
    return None if row is None or row["wm"] is None else (row["wm"][0], row["wm"][1])


def incremental_batch(spark, cfg: Config, *, table: Table, job: str, interval: Interval, batch: str,
                      report: BatchReport, fetch, schema_name: str, extra_meta: dict | None = None) -> None:
    """Run one incremental batch: fetch new records, land them, append them to bronze.

    ``fetch(out)`` writes JSON Lines of everything newer than the bronze watermark into the
    binary sink ``out`` and returns ``(rows_read, details)``; it raises when the source fails,
    and then nothing is landed or committed. The lines go to a staging file beside the
    landing zone (in the local temp folder when the lakehouse is on HDFS), are hashed as they
    are written and land by a rename or a streamed upload: an extract never has to fit in
    memory. An empty fetch still commits (an empty batch) so the interval is done.
    """
    import tempfile

    from pyspark.sql import functions as F

    from churnlake.delta import replace_rows
    from churnlake.ingestion.readers import CORRUPT_COLUMN, read_json_lines
    from churnlake.jobrun import commit_metadata
    from churnlake.schemas import struct
    from churnlake.transforms.bronze import add_lineage

    source, entity = batch.split("-")[0], batch.split("-")[1]
    name = f"{batch}.jsonl"
    uri = _landing_file_uri(cfg, source, entity, interval, name)
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=filestore_for(uri, cfg).staging_dir(uri)) as tmp:
        staged = Path(tmp) / name
        with open(staged, "wb") as fh:
            sink = HashingWriter(fh)
            rows_read, details = fetch(sink)
        report.rows_read, report.bytes = rows_read, sink.bytes
        report.extra.update(details)
        landed = land_file(cfg, staged, sha256=sink.hexdigest(), source=source, entity=entity, interval=interval,
                           name=name, committed=False) if rows_read else None
    schema = struct(cfg, "bronze", schema_name)
    ingested_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    if landed is not None:
        raw = read_json_lines(spark, [landed.uri], schema)
        sha = {landed.name: landed.sha256}
    else:
        raw = spark.createDataFrame([], schema.add(CORRUPT_COLUMN, "string").add("_file", "string"))
        sha = {}
    bronze = cached(add_lineage(raw, source=source, batch_id=batch, ingested_at=ingested_at,
                                ingest_date=interval.day, file_col=F.col("_file"), sha_by_file=sha,
                                rescued_col=F.col(CORRUPT_COLUMN)).drop("_file", CORRUPT_COLUMN))
    counts = bronze.agg(F.count(F.lit(1)).alias("rows"), F.count("_rescued_data").alias("rejected")).first()
    report.rows_written, report.rows_rejected = int(counts["rows"]), int(counts["rejected"])  # one pass
    if report.rows_written != rows_read:
        raise RuntimeError(f"reconciliation failed for {batch}: fetched {rows_read} records, "
                           f"bronze would get {report.rows_written}")
    replace_rows(bronze, table, cfg, replace_where=f"_source = '{source}' AND _batch_id = '{batch}'",
                 rows=report.rows_written,
                 metadata=commit_metadata(job, interval.day, batch_id=batch, interval=interval.label,
                                          rows_written=report.rows_written, rows_rejected=report.rows_rejected,
                                          **(extra_meta or {})))
