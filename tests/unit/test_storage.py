"""Local file store and landing-zone behaviour."""

import datetime as dt
import errno
import hashlib
import os
from pathlib import Path

import pytest

from churnlake.ingestion.batch import Interval, batch_id, land_bytes, land_file
from churnlake.storage import LocalStore, filestore_for


def test_local_store_writes_atomically_and_lists(tmp_path):
    store = LocalStore()
    uri = (tmp_path / "a" / "b.txt").as_uri()
    store.write_bytes(uri, b"one")
    store.write_bytes(uri, b"two")
    assert store.read_bytes(uri) == b"two"
    assert store.list((tmp_path / "a").as_uri()) == ["b.txt"]  # no temp files left behind
    assert store.list((tmp_path / "missing").as_uri()) == []


def test_filestore_for_hdfs_needs_webhdfs_url(cfg):
    with pytest.raises(ValueError, match="webhdfs_url"):
        filestore_for("hdfs://nn:8020/lake/x", cfg)
    with pytest.raises(ValueError, match="unsupported storage scheme"):
        filestore_for("s3://bucket/x", cfg)


def test_landing_is_idempotent_and_immutable_once_committed(cfg):
    hour = Interval(dt.date(2026, 11, 27), 3)
    kw = dict(source="crm", entity="customers", interval=hour, name="export.csv")
    first = land_bytes(cfg, b"a,b\n1,2\n", committed=True, **kw)
    again = land_bytes(cfg, b"a,b\n1,2\n", committed=True, **kw)
    assert first == again
    assert first.uri.endswith("source=crm/type=customers/ingest_date=2026-11-27/ingest_hour=03/export.csv")
    with pytest.raises(ValueError, match="immutable"):
        land_bytes(cfg, b"a,b\n9,9\n", committed=True, **kw)
    # An uncommitted batch's leftover is replaced by the next attempt.
    replaced = land_bytes(cfg, b"a,b\n9,9\n", committed=False, **kw)
    assert replaced.sha256 != first.sha256
    assert LocalStore().read_bytes(replaced.uri) == b"a,b\n9,9\n"


def test_interval_labels_and_batch_ids():
    assert Interval(dt.date(2026, 11, 27)).label == "2026-11-27"
    assert Interval(dt.date(2026, 11, 27), 5).label == "2026-11-27T05"
    assert batch_id("billing", "invoices", Interval(dt.date(2026, 11, 27), 5)) == "billing-invoices-2026-11-27T05"
    with pytest.raises(ValueError):
        Interval(dt.date(2026, 11, 27), 24)
    with pytest.raises(ValueError):
        batch_id("bad-source", "x", Interval(dt.date(2026, 11, 27)))


def test_local_store_moves_files_into_place_and_hashes_them_in_chunks(tmp_path, monkeypatch):
    import churnlake.storage as storage

    store = LocalStore()
    target = tmp_path / "lake" / "new" / "deep" / "x.jsonl"
    assert store.staging_dir(target.as_uri()) == tmp_path  # the nearest existing folder: none created
    assert not (tmp_path / "lake").exists()
    staged = tmp_path / "staged.jsonl"
    staged.write_bytes(b'{"a": 1}\n' * 1000)
    store.write_file(target.as_uri(), staged)  # same file system: a rename
    assert not staged.exists() and target.read_bytes() == b'{"a": 1}\n' * 1000
    monkeypatch.setattr(storage, "CHUNK", 7)  # the digest is read in chunks, whatever their size
    assert store.sha256(target.as_uri()) == hashlib.sha256(target.read_bytes()).hexdigest()

    real_replace = os.replace

    def across_devices(src, dst):
        if Path(src) == staged:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    staged.write_bytes(b"other\n")
    monkeypatch.setattr(storage.os, "replace", across_devices)
    store.write_file(target.as_uri(), staged)  # another file system: copied beside the target, renamed
    assert not staged.exists() and target.read_bytes() == b"other\n"
    assert store.list(target.parent.as_uri()) == ["x.jsonl"]

    (target.parent / ".x.jsonl.partial").write_bytes(b"half")  # a write under way is not listed
    assert store.list(target.parent.as_uri()) == ["x.jsonl"]


def test_a_landed_file_is_consumed_and_obeys_the_same_rules_as_landed_bytes(cfg, tmp_path):
    hour = Interval(dt.date(2026, 11, 27), 4)
    kw = dict(source="billing", entity="invoices", interval=hour, name="b.jsonl")

    def staged(data: bytes):
        path = tmp_path / "staged"
        path.write_bytes(data)
        return path, hashlib.sha256(data).hexdigest()

    path, digest = staged(b"1\n")
    first = land_file(cfg, path, sha256=digest, committed=False, **kw)
    assert not path.exists() and LocalStore().read_bytes(first.uri) == b"1\n" and first.size == 2
    path, digest = staged(b"1\n")
    assert land_file(cfg, path, sha256=digest, committed=True, **kw) == first  # same bytes: no-op
    assert not path.exists()
    path, digest = staged(b"2\n")
    with pytest.raises(ValueError, match="immutable"):
        land_file(cfg, path, sha256=digest, committed=True, **kw)
    assert not path.exists() and LocalStore().read_bytes(first.uri) == b"1\n"
    path, digest = staged(b"2\n")
    assert land_file(cfg, path, sha256=digest, committed=False, **kw).sha256 == digest  # an attempt's leftover
    assert LocalStore().read_bytes(first.uri) == b"2\n"
    assert land_bytes(cfg, b"2\n", committed=True, **kw).uri == first.uri  # and the bytes path agrees
