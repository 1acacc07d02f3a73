"""churnlake.ingestion.batch: whether a batch is committed (commit records first, the Delta log
for older tables), the one reconciliation of landed vs written vs rejected records, and the CRM
job's rejected lines counted like the reconciliation counts them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from churnlake.config import PROJECT_ROOT
from churnlake.ingestion.batch import (BatchReport, Interval, batch_commit, batch_id, batch_interval,
                                       logged_commit, reconcile, skip_if_committed)
from churnlake.ingestion.readers import count_records, record_lines
from churnlake.storage import commit_record_uri, write_commit_record
from churnlake.tables import Table

DAY = dt.date(2026, 11, 27)
JOB = "test_ingest"


def load_job(path: str, name: str):
    """A job module (jobs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- batch ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [Interval(DAY), Interval(DAY, 0), Interval(DAY, 23)])
def test_a_batch_id_gives_back_its_interval(interval):
    assert batch_interval(batch_id("web", "access_logs", interval)) == interval


@pytest.mark.parametrize("bad", ["b1", "crm-customers", "crm-customers-2026-13-01", "crm-customers-2026-11-27T24",
                                 "crm-customers-2026-11-27T3", "crm-cust-omers-2026-11-27"])
def test_a_malformed_batch_id_is_refused(bad):
    with pytest.raises(ValueError, match="not a batch id"):
        batch_interval(bad)


# -- committed batches --------------------------------------------------------------------------------


def test_a_committed_batch_stays_committed_after_delta_log_cleanup(spark, cfg):
    """Delta's log cleanup removes the JSON commits older than a checkpoint: the batch's commit
    record still says it is committed, so a direct rerun does not ingest it again."""
    from churnlake.delta import read_table, replace_rows
    from churnlake.jobrun import commit_metadata

    table = Table("bronze.test_cleaned_batches", "bronze/test_cleaned_batches", partition_by=("_batch_id",))
    uri = table.uri(cfg)
    spark.sql(f"CREATE TABLE delta.`{uri}` (id int, _batch_id string) USING DELTA PARTITIONED BY (_batch_id) "
              "TBLPROPERTIES ('delta.checkpointInterval' = '2')")  # version 0
    days = [DAY, DAY + dt.timedelta(days=1)]
    batches = [batch_id("crm", "customers", Interval(day)) for day in days]
    for day, batch in zip(days, batches):  # versions 1 and 2; a checkpoint at 2
        df = spark.createDataFrame([(1, batch)], "id int, _batch_id string")
        replace_rows(df, table, cfg, replace_where=f"_batch_id = '{batch}'",
                     metadata=commit_metadata(JOB, day, batch_id=batch))
    log_dir = Path(uri.removeprefix("file://")) / "_delta_log"
    assert (log_dir / f"{2:020d}.checkpoint.parquet").is_file()
    assert logged_commit(table, cfg, batches[0]).version == 1  # before the cleanup, the log knows it
    for version in (0, 1):  # what the cleanup does to the commits older than the checkpoint
        (log_dir / f"{version:020d}.json").unlink()
    assert read_table(spark, table, cfg).count() == 2  # the table itself is intact

    assert logged_commit(table, cfg, batches[0]) is None  # the Delta log alone (the old check) lost it
    commit = batch_commit(table, cfg, batches[0])
    assert commit is not None and commit.job == JOB and commit.version is None
    assert commit.record.endswith(f"/_commits/{table.relpath}/{JOB}/{DAY.isoformat()}/{batches[0]}.json")
    assert batch_commit(table, cfg, batches[1]) is not None
    assert batch_commit(table, cfg, batch_id("crm", "customers", Interval(DAY - dt.timedelta(days=1)))) is None

    report = BatchReport.for_batch("crm", "customers", Interval(DAY))
    assert skip_if_committed(table, cfg, report) == {"batch_id": batches[0], "committed_version": None}
    assert report.status == "skipped"


class MemoryStore:
    """A file store holding files in a dict, for lakehouse URIs that are not local paths."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def exists(self, uri: str) -> bool:
        return uri in self.files or any(f.startswith(uri.rstrip("/") + "/") for f in self.files)

    def list(self, uri: str) -> list[str]:
        prefix = uri.rstrip("/") + "/"
        return sorted({f[len(prefix):].split("/", 1)[0] for f in self.files if f.startswith(prefix)})

    def read_bytes(self, uri: str) -> bytes:
        return self.files[uri]

    def write_bytes(self, uri: str, data: bytes) -> None:
        self.files[uri] = data

    def write_file(self, uri: str, path) -> None:
        self.files[uri] = path.read_bytes()
        path.unlink()

    def sha256(self, uri: str) -> str:
        return hashlib.sha256(self.files[uri]).hexdigest()

    def staging_dir(self, uri: str) -> None:
        return None

    def delete_tree(self, uri: str) -> None:
        self.files = {f: d for f, d in self.files.items() if f != uri and not f.startswith(uri.rstrip("/") + "/")}


@pytest.fixture
def hdfs_lake(cfg, monkeypatch):
    """A config whose lakehouse is on HDFS, its files in a :class:`MemoryStore` (only the file
    store sees them: nothing may assume a local path)."""
    store = MemoryStore()
    hdfs = dataclasses.replace(cfg, lakehouse_root="hdfs://namenode:8020/lake", webhdfs_url="http://namenode:9870")

    def filestore_for(uri, _cfg):
        assert uri.startswith("hdfs://namenode:8020/lake/"), uri
        return store

    monkeypatch.setattr("churnlake.ingestion.batch.filestore_for", filestore_for)
    return hdfs, store


def test_commit_records_are_read_through_the_file_store_of_a_remote_lakehouse(hdfs_lake):
    cfg, store = hdfs_lake
    table = Table("bronze.web_access_logs", "bronze/web_access_logs")
    hourly = batch_id("web", "access_logs", Interval(DAY, 13))
    meta = {"job": JOB, "run_date": DAY.isoformat(), "batch_id": hourly}
    write_commit_record(store, commit_record_uri(cfg.lakehouse_root, table.relpath, JOB, DAY.isoformat(), hourly),
                        meta)
    store.write_bytes(f"{cfg.lakehouse_root}/_commits/{table.relpath}/{JOB}/{DAY.isoformat()}/.x.json.tmp", b"{")
    commit = batch_commit(table, cfg, hourly)
    assert commit is not None and commit.record.startswith("hdfs://namenode:8020/lake/_commits/")
    assert batch_commit(table, cfg, batch_id("web", "access_logs", Interval(DAY, 14))) is None  # another hour


def test_without_a_record_the_delta_log_decides(hdfs_lake):
    """Tables written before the commit records existed: their JSON commits still count."""
    cfg, store = hdfs_lake
    table = Table("bronze.crm_customers", "bronze/crm_customers")
    batch = batch_id("crm", "customers", Interval(DAY))
    meta = json.dumps({"job": JOB, "run_date": DAY.isoformat(), "batch_id": batch})
    store.write_bytes(f"{table.uri(cfg)}/_delta_log/{7:020d}.json",
                      json.dumps({"commitInfo": {"operation": "WRITE", "userMetadata": meta}}).encode() + b"\n")
    commit = batch_commit(table, cfg, batch)
    assert commit is not None and commit.version == 7 and commit.record is None
    report = BatchReport.for_batch("crm", "customers", Interval(DAY))
    assert skip_if_committed(table, cfg, report) == {"batch_id": batch, "committed_version": 7}
    assert batch_commit(table, cfg, batch_id("crm", "customers", Interval(DAY, 1))) is None


def test_a_damaged_record_is_not_taken_as_a_commit(hdfs_lake):
    cfg, store = hdfs_lake
    table = Table("bronze.crm_customers", "bronze/crm_customers")
    batch = batch_id("crm", "customers", Interval(DAY))
    store.write_bytes(commit_record_uri(cfg.lakehouse_root, table.relpath, JOB, DAY.isoformat(), batch), b"{not json")
    assert batch_commit(table, cfg, batch) is None


# -- reconciliation -----------------------------------------------------------------------------------


def test_reconciliation_accounts_for_every_received_record():
    reconcile("crm-customers-2026-11-27", received=10, written=7, rejected=3)
    reconcile("crm-customers-2026-11-27", received=0, written=0, rejected=0)
    with pytest.raises(RuntimeError, match=r"^reconciliation failed for crm-customers-2026-11-27: the landed files "
                                           r"hold 10 records, bronze got 6 and the rejected files 3 "
                                           r"\(\+1 unaccounted\); nothing was committed$"):
        reconcile("crm-customers-2026-11-27", received=10, written=6, rejected=3)


def test_reconciliation_names_what_it_counted_and_where_rejects_went():
    reconcile("web-access_logs-2026-11-27", received=5, written=4, rejected=1, unit="lines",
              rejected_to="the quarantine")
    with pytest.raises(RuntimeError, match=r"hold 5 lines, bronze got 4 and the quarantine 2 \(-1 unaccounted\)"):
        reconcile("web-access_logs-2026-11-27", received=5, written=4, rejected=2, unit="lines",
                  rejected_to="the quarantine")


def test_access_log_lines_are_counted_blank_ones_included():
    data = b"a\n\nb\r\nc\rd"
    assert count_records(data, header=False, blank=True) == 5  # the parser quarantines the blank one
    assert count_records(data, header=False) == 4


def test_the_jobs_use_the_shared_reconciliation():
    crm = load_job("jobs/bronze/ingest_crm.py", "ingest_crm")
    logs = load_job("jobs/bronze/ingest_access_logs.py", "ingest_logs")
    assert crm.reconcile is reconcile and logs.reconcile is reconcile
    assert not hasattr(logs, "reconcile_lines")


@pytest.mark.parametrize("odd", ["\x0c", "\x1c", "\x85", "\u2028"])
def test_a_rejected_file_gives_exactly_the_records_the_reconciliation_counted(odd):
    """str.splitlines also splits on form feeds, separators and U+2028: a rejected file whose
    values hold one would give more rejected lines than records received."""
    crm = load_job("jobs/bronze/ingest_crm.py", "ingest_crm")
    data = ("\ufeffcustomerID;gender\r\n" f"0001;Fe{odd}male\r\n" "\r\n" "0002;Male").encode()
    lines = crm.rejected_lines("file:///landing/x.csv", data, "wrong delimiter")
    assert len(lines) == count_records(data) == 2
    assert [line for line, _, _ in lines] == [f"0001;Fe{odd}male", "0002;Male"]
    assert {(reason, f) for _, reason, f in lines} == {("file rejected: wrong delimiter", "file:///landing/x.csv")}
    assert record_lines(data) == [f"0001;Fe{odd}male".encode(), b"0002;Male"]


def test_file_hashes_are_remembered_until_the_file_changes(tmp_path):
    import hashlib
    import os

    from churnlake.ingestion.batch import FileHashes

    memory = tmp_path / "state" / "hashes.json"
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"line 1\n")
    b.write_bytes(b"line 2\n")
    first = FileHashes(memory)
    assert first.lookup(a) is None and first.lookup(b) is None  # nothing known yet
    for f in (a, b):
        first.remember(f, hashlib.sha256(f.read_bytes()).hexdigest())
    first.save()
    again = FileHashes(memory)
    assert again.lookup(a) == hashlib.sha256(b"line 1\n").hexdigest() and again.hashed == 0
    b.write_bytes(b"line 2 changed\n")  # another size: hashed again
    assert again.lookup(b) is None
    a_stat = a.stat()
    a.write_bytes(b"line X\n")  # same size, other modification time: hashed again
    os.utime(a, ns=(a_stat.st_atime_ns, a_stat.st_mtime_ns + 1_000_000))
    assert FileHashes(memory).lookup(a) is None
    again.save()  # keeps only what this run looked up and knew (a); b was not remembered
    assert list(FileHashes(memory).known) == [str(a.resolve())]
    memory.write_text("not json")
    assert FileHashes(memory).lookup(a) is None  # a lost memory only costs the hashing


TICKET = {"ticket_id": 1, "customer_id": "C1", "created_at": "2026-11-01T00:00:00Z",
          "updated_at": "2026-11-01T00:00:00Z", "resolved_at": None, "category": "billing", "priority": "low",
          "status": "open", "channel": "email", "satisfaction": None}


def _batch_args(cfg, day: dt.date):
    import uuid

    interval = Interval(day)
    table = Table("bronze.batch_test_tickets", f"bronze/test/tickets_{uuid.uuid4().hex[:8]}",
                  partition_by=("_source", "_ingest_date"))
    report = BatchReport.for_batch("support", "tickets", interval)
    return dict(table=table, job="test_batch", interval=interval, batch=report.batch_id, report=report,
                schema_name="support_tickets"), report


def test_an_incremental_batch_streams_its_lines_into_the_landing_zone_and_counts_the_rescued(spark, cfg):
    from churnlake.ingestion.batch import incremental_batch
    from churnlake.storage import LocalStore, _local_path

    kw, report = _batch_args(cfg, dt.date(2031, 1, 5))
    lines = [json.dumps(TICKET).encode() + b"\n", b"not json at all\n", json.dumps({**TICKET, "ticket_id": 2}).encode()
             + b"\n"]

    def fetch(out):
        for line in lines:  # written piece by piece, as the extract does
            out.write(line)
        return len(lines), {"pages": 1}

    incremental_batch(spark, cfg, fetch=fetch, **kw)
    data = b"".join(lines)
    assert (report.rows_read, report.rows_written, report.rows_rejected, report.bytes) == (3, 3, 1, len(data))
    bronze = spark.read.format("delta").load(kw["table"].uri(cfg))
    assert bronze.count() == 3 and bronze.where("_rescued_data = 'not json at all'").count() == 1
    landed = bronze.select("_source_file", "_source_file_sha256").distinct().collect()
    assert len(landed) == 1 and landed[0]["_source_file_sha256"] == hashlib.sha256(data).hexdigest()
    folder = _local_path(landed[0]["_source_file"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["support-tickets-2031-01-05.jsonl"]  # no staging left
    assert LocalStore().read_bytes(landed[0]["_source_file"]) == data


def test_a_fetch_that_fails_midway_lands_nothing_and_leaves_no_folder(spark, cfg):
    from churnlake.ingestion.batch import incremental_batch
    from churnlake.storage import _local_path
    from churnlake.tables import landing_uri

    kw, report = _batch_args(cfg, dt.date(2031, 1, 6))
    folder = _local_path(landing_uri(cfg, "support", "tickets", "2031-01-06", kw["interval"].landing_hour))
    siblings = sorted(p.name for p in folder.parent.parent.iterdir()) if folder.parent.parent.is_dir() else None

    def fetch(out):
        out.write(json.dumps(TICKET).encode() + b"\n")
        raise ConnectionError("the API went away on page 2")

    with pytest.raises(ConnectionError, match="page 2"):
        incremental_batch(spark, cfg, fetch=fetch, **kw)
    assert not folder.exists() and not folder.parent.exists()
    after = sorted(p.name for p in folder.parent.parent.iterdir()) if folder.parent.parent.is_dir() else None
    assert after == siblings  # not even a hidden staging folder
    assert not _local_path(kw["table"].uri(cfg)).exists()  # and no table
