"""Real local services for tests and the demo, bound to 127.0.0.1 and started on demand.

- :mod:`churnlake.services.postgres` -- :class:`LocalPostgres`, a throw-away PostgreSQL
  server built from the Debian ``postgresql`` binaries (``initdb`` / ``pg_ctl``).
- :mod:`churnlake.services.hdfs` -- :class:`LocalHdfs`, a single-node HDFS (Hadoop's
  ``MiniDFSCluster``: one NameNode with WebHDFS and one DataNode) run in a child JVM.

Each object is a context manager: ``with LocalPostgres(dir) as pg: ...`` starts the
server and stops it on exit.  See ``docs/services.md``.
"""
