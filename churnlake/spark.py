"""The one SparkSession factory.

Under ``spark-submit.sh`` the master, the Delta package and the defaults come from the
command line and ``conf/spark-defaults.conf``; the factory only names the app and adds what
every churnlake session needs (Delta extension and catalog, the Hive metastore location).
In tests and notebooks, :func:`local_spark` also sets the master and applies
``conf/spark-defaults.conf``, which names the Delta package.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from churnlake.config import Config
from churnlake.versioning.retention import session_defaults



def ivy_dir() -> str:
    """Where Ivy caches the Delta jars: ``$CHURNLAKE_IVY_DIR`` or ``~/.cache/churnlake/ivy``.

    One cache per user, shared by every checkout, so a fresh clone starts offline.
    """
    return os.environ.get("CHURNLAKE_IVY_DIR") or str(Path.home() / ".cache" / "churnlake" / "ivy")


def spark_defaults(cfg: Config) -> dict[str, str]:
    """Settings of ``conf/spark-defaults.conf`` (the same file spark-submit.sh passes)."""
    path = cfg.root_dir / "conf" / "spark-defaults.conf"
    conf: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    return conf


def _metastore_conf(cfg: Config) -> dict[str, str]:
    conf = {
        "spark.sql.warehouse.dir": cfg.warehouse_uri,
        "spark.sql.catalogImplementation": "hive",
        # Keep a Delta table's schema in the metastore when it is registered (Delta stores an
        # empty one otherwise), so JDBC clients that list columns through the metastore
        # (getColumns: beeline !columns, DBeaver, BI tools) see them (delta-io/delta #695).
        "spark.databricks.delta.catalog.update.enabled": "true",
    }
    if (cfg.raw.get("metastore") or {}).get("url"):
        # Opt-in: a Derby network server shared by several JVMs (jobs + Thrift server).
        from churnlake.serving.derby import client_conf

        conf.update(client_conf(cfg))
        return conf
    cfg.metastore_dir.mkdir(parents=True, exist_ok=True)
    conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = (
        f"jdbc:derby:;databaseName={cfg.metastore_dir / 'metastore_db'};create=true"
    )
    return conf


def base_conf(cfg: Config, *, catalog: bool) -> dict[str, str]:
    """Settings every churnlake session carries (Delta; metastore when ``catalog``)."""
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        # The retention policy of conf/pipeline.yaml `versioning` as every new table's properties.
        **session_defaults(cfg),
    }
    if catalog:
        conf.update(_metastore_conf(cfg))
    return conf


def get_spark(app_name: str, cfg: Config, *, catalog: bool = False) -> SparkSession:
    """Session for a job started by spark-submit (master and jars come from the command)."""
    builder = SparkSession.builder.appName(app_name)
    for key, value in base_conf(cfg, catalog=catalog).items():
        builder = builder.config(key, value)
    if catalog:
        builder = builder.enableHiveSupport()
    return builder.getOrCreate()


def local_spark(app_name: str, cfg: Config, *, catalog: bool = False,
                extra: dict[str, str] | None = None) -> SparkSession:
    """Session for tests and notebooks: local master, small shuffles, UI off, Delta jars."""
    ivy = ivy_dir()
    conf = {
        **spark_defaults(cfg),
        "spark.master": cfg.spark_local_master,
        "spark.jars.ivy": ivy,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": str(cfg.spark_shuffle_partitions),
        "spark.default.parallelism": str(cfg.spark_shuffle_partitions),
        **base_conf(cfg, catalog=catalog),
        **(extra or {}),
    }
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if catalog:
        builder = builder.enableHiveSupport()
    return builder.getOrCreate()
