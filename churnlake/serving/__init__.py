"""Serving the gold tables to SQL users: the Spark Thrift server and the shared metastore.

- :mod:`churnlake.serving.thrift`: :class:`~churnlake.serving.thrift.ThriftServer`, the
  HiveThriftServer2 process behind ``./thrift-server.sh``.
- :mod:`churnlake.serving.derby`: :class:`~churnlake.serving.derby.DerbyServer`, the Derby
  network server that lets jobs and the Thrift server share the metastore (opt-in,
  ``metastore.url``).
- :mod:`churnlake.serving.jars`: the jars both need, resolved by Ivy from Maven Central.

See docs/serving_sql.md.
"""
