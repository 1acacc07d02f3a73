"""Pytest fixtures that start real local services (registered as a plugin by conftest.py).

- ``postgres_server``: a :class:`~churnlake.services.postgres.LocalPostgres`, started once
  per test session; ``postgres_server.url`` is a SQLAlchemy URL.
- ``hdfs_cluster``: a :class:`~churnlake.services.hdfs.LocalHdfs` (MiniDFSCluster, one
  NameNode with WebHDFS and one DataNode), started once per test session;
  ``hdfs_cluster.namenode_uri`` / ``.webhdfs_url`` / ``.client()``.

Both bind 127.0.0.1 on free ports and are stopped at the end of the session.  Nothing is
skipped: if PostgreSQL, Java or Maven is missing the fixture fails with the reason.

Set ``CHURNLAKE_SERVICES_DIR`` to keep the services' data and logs in a folder of your
choice (default: a temporary folder, PostgreSQL's removed at the end).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from churnlake.services.hdfs import LocalHdfs
from churnlake.services.postgres import LocalPostgres


def _services_dir(tmp_path_factory, name: str) -> Path:
    base = os.environ.get("CHURNLAKE_SERVICES_DIR")
    if base:
        path = Path(base) / name
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A running PostgreSQL server on 127.0.0.1 (trust auth), stopped after the session."""
    if os.environ.get("CHURNLAKE_SERVICES_DIR"):
        data_dir = _services_dir(tmp_path_factory, "postgres")
        cleanup = False
    else:
        # Not under pytest's private (0700) temp root: the server runs as the 'postgres'
        # user when the tests run as root, and it must be able to reach its data dir.
        data_dir = Path(tempfile.mkdtemp(prefix="churnlake-pg-"))
        cleanup = True
    server = LocalPostgres(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if cleanup:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def hdfs_cluster(tmp_path_factory):
    """A running single-node HDFS (NameNode RPC + WebHDFS + 1 DataNode on 127.0.0.1)."""
    cluster = LocalHdfs(_services_dir(tmp_path_factory, "hdfs"), fresh=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
