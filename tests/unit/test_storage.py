"""Local file store and landing-zone behaviour."""

import pytest

from churnlake.ingest import land_file
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


def test_landing_is_idempotent_and_immutable(cfg, tmp_path):
    src = tmp_path / "export.csv"
    src.write_bytes(b"a,b\n1,2\n")
    first = land_file(cfg, src, source="crm", entity="customers", ingest_date="2026-11-27", ingest_hour=3)
    again = land_file(cfg, src, source="crm", entity="customers", ingest_date="2026-11-27", ingest_hour=3)
    assert first == again
    assert "source=crm/type=customers/ingest_date=2026-11-27/ingest_hour=03/export.csv" in first.uri
    src.write_bytes(b"a,b\n9,9\n")
    with pytest.raises(ValueError, match="immutable"):
        land_file(cfg, src, source="crm", entity="customers", ingest_date="2026-11-27", ingest_hour=3)
