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


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """One churnlake engine (Spark Connect + Thrift JDBC, its own metastore) for the whole
    session on free 127.0.0.1 ports, started by the first integration test
    (tests/integration/conftest.py) of this worker.

    ``CHURNLAKE__ENGINE__REMOTE`` points every job the tests run through ./spark-submit.sh
    (and Luigi) at it; tests of the classic path set ``CHURNLAKE__ENGINE__REMOTE=classic``.
    A demo engine on the default ports never collides with it."""
    from churnlake.config import load_config
    from churnlake.services.engine import Engine
    from tests.integration.helpers import free_port

    base = _services_dir(tmp_path_factory, "engine")
    env = {**os.environ, "CHURNLAKE__STATE_DIR": str(base / "state"), "CHURNLAKE__LOGS_DIR": str(base / "logs"),
           "CHURNLAKE__LAKEHOUSE__ROOT": str(base / "lakehouse")}
    cfg = load_config(environ=env)
    server = Engine(cfg, connect_port=free_port(), thrift_port=free_port(), driver_memory="3g")
    server.start()
    # Jobs go to this engine, as forks of its job launcher (their own state dirs differ from
    # the engine's, so "auto" would not find it).
    overrides = {"CHURNLAKE__ENGINE__REMOTE": server.remote_url,
                 "CHURNLAKE__ENGINE__LAUNCHER": server.launcher_socket}
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield server
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
