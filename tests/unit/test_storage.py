"""Local file store and landing-zone behaviour."""

import datetime as dt

import pytest

from churnlake.ingestion.batch import Interval, batch_id, land_bytes
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
