"""Serving the gold tables to SQL users: the shared metastore and the jars of the servers.

The JDBC endpoint itself is the engine's (:mod:`churnlake.services.engine`, ``./engine.sh``),
which serves Spark Connect and Thrift JDBC from one driver over one metastore.

- :mod:`churnlake.serving.derby`: :class:`~churnlake.serving.derby.DerbyServer`, the Derby
  network server that lets several JVMs (classic jobs and the engine) share the metastore
  (opt-in, ``metastore.url``).
- :mod:`churnlake.serving.jars`: the jars the servers need, resolved by Ivy from Maven Central.

See docs/serving_sql.md.
"""
