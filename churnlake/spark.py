"""The one SparkSession factory.

A job's session is one of two kinds, chosen by ``./spark-submit.sh`` (docs/architecture.md):

- **engine** (``CHURNLAKE_ENGINE_REMOTE=sc://host:port`` set): a Spark Connect client of the
  long-running engine (:mod:`churnlake.services.engine`), which owns the Delta extension,
  the metastore and the cluster resources; the client sets only per-session SQL settings;
- **classic**: the job's own driver JVM started by spark-submit, where the master, the Delta
  package and the defaults come from the command line and ``conf/spark-defaults.conf``, and
  the factory adds what every churnlake session needs (Delta extension and catalog, the Hive
  metastore location).

In tests and notebooks, :func:`local_spark` also sets the master and applies
``conf/spark-defaults.conf``, which names the Delta package.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from pyspark.sql import SparkSession

from churnlake.config import Config, ivy_dir
from churnlake.versioning.retention import session_defaults



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


#: Set by spark-submit.sh when the job is a client of the engine.
ENV_REMOTE = "CHURNLAKE_ENGINE_REMOTE"
#: ``--conf`` settings given to spark-submit.sh in engine mode (JSON object), applied per session.
ENV_SESSION_CONF = "CHURNLAKE_SESSION_CONF"


class EngineUnavailable(RuntimeError):
    """The engine a job was sent to does not answer."""


def engine_remote() -> str | None:
    """The Spark Connect URL this process runs against, or None (classic)."""
    return os.environ.get(ENV_REMOTE) or None


def _host_port(remote: str) -> tuple[str, int]:
    hostport = remote.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, _, port = hostport.rpartition(":")
    return (host or hostport), int(port or 15002)


def engine_answers(remote: str, timeout: float = 2.0) -> bool:
    """True when something accepts TCP connections at the engine's Connect endpoint."""
    from churnlake.services.process import port_open

    host, port = _host_port(remote)
    try:
        return port_open(host, port, timeout=timeout)
    except OSError:  # a host name that does not resolve
        return False


def engine_down_message(remote: str) -> str:
    """What to tell a user whose job could not reach the engine."""
    return (f"the churnlake engine at {remote} does not answer (stopped, crashed or not started). "
            "Start it with `make engine-start` (or ./engine.sh start; see ./engine.sh logs for why it "
            "stopped), then rerun the same run date: every job replaces its own batch, so nothing is duplicated")


def session_conf(cfg: Config) -> dict[str, str]:
    """Per-session SQL settings an engine client sets (the engine holds the static ones)."""
    conf = {"spark.sql.session.timeZone": "UTC", **session_defaults(cfg)}
    extra = os.environ.get(ENV_SESSION_CONF)
    if extra:
        import json

        conf.update({str(k): str(v) for k, v in json.loads(extra).items()})
    return conf


def connect_spark(app_name: str, cfg: Config, remote: str) -> SparkSession:
    """A Spark Connect session on the engine at ``remote``, failing fast when it is down."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    if not engine_answers(remote):
        raise EngineUnavailable(engine_down_message(remote))
    spark = SparkSession.builder.remote(remote).appName(app_name).getOrCreate()
    # The client's default retries wait up to 10 minutes for a server that went away; a job
    # whose engine died should fail within seconds with a message saying so.
    spark.client.set_retry_policies([DefaultPolicy(max_retries=4, max_backoff=4000)])
    spark.conf._set_all(configs=session_conf(cfg), silent=False)
    keep_alive(spark)
    return spark


#: Seconds between two touches of a job's Connect session (the engine closes a session idle
#: for ``spark.connect.session.manager.defaultSessionTimeout``, 10 minutes: see
#: churnlake/services/engine.py).
KEEPALIVE_S = 60.0
_KEEPALIVE: dict[int, threading.Event] = {}


def keep_alive(spark: SparkSession, interval_s: float | None = None) -> threading.Event:
    """Touch the Connect session ``spark`` every ``interval_s`` until :func:`stop` (or the process
    ends), so that a job's long step without Spark — paging the ticket API, extracting a
    billing table — does not find its session closed as idle when it comes back (at 1 M
    customers the ticket pages alone take > 10 minutes). A dead client sends nothing, so the
    engine still releases its session. Returns the event that ends the touching."""
    if id(spark) in _KEEPALIVE:  # this session is kept alive already
        return _KEEPALIVE[id(spark)]
    done = _KEEPALIVE[id(spark)] = threading.Event()
    interval_s = KEEPALIVE_S if interval_s is None else interval_s

    def touch() -> None:
        while not done.wait(interval_s):
            try:
                # One cheap RPC that goes through the session (the engine then records its access
                # time; ``spark.version`` is answered without it and does not keep it open).
                spark.conf.get("spark.sql.session.timeZone")
            except Exception:  # noqa: BLE001 - a stopped session or a lost engine: the job reports it
                return

    threading.Thread(target=touch, name=f"connect-keepalive-{id(spark)}", daemon=True).start()
    return done


#: DataFrames this process cached through :func:`cached`, unpersisted by :func:`stop`.
_CACHED: list = []


def cached(df):
    """``df.cache()``, remembered so that :func:`stop` releases it.

    The engine's cache is shared by all its sessions and outlives them: a cached DataFrame a
    job does not unpersist stays in the engine's memory until the engine stops (measured: a
    new session still finds it cached). Every job caches through this function and ends with
    :func:`stop`, so a long-running engine's memory stays flat over repeated runs."""
    df = df.cache()
    _CACHED.append(df)
    return df


def release_cached() -> int:
    """Unpersist every DataFrame :func:`cached` remembered; returns how many."""
    n = 0
    while _CACHED:
        df = _CACHED.pop()
        try:
            df.unpersist()
            n += 1
        except Exception:  # noqa: BLE001 - releasing must never hide the job's own outcome
            pass
    return n


def in_thread(spark: SparkSession | None, fn: Callable) -> Callable:
    """``fn`` wrapped to run in another thread with this thread's Spark session: a Spark Connect
    session is per thread (another thread has none active, and MLlib model attributes such as
    ``coefficients`` then fail), a classic one needs its thread-local properties copied."""
    from pyspark.sql import is_remote
    from pyspark.util import inheritable_thread_target

    if spark is None:
        return fn
    return inheritable_thread_target(spark)(fn) if is_remote() else inheritable_thread_target(fn)


def map_in_threads(spark: SparkSession, fn: Callable, items, workers: int) -> list:
    """``[fn(item) for item in items]``, computed by up to ``workers`` threads with ``spark``
    active in each, results in the order of ``items``; the first error is raised. For many
    small queries (a Delta log read, a count from the log's statistics) that each wait more
    than they compute: the engine answers them side by side."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="spark") as pool:
        return list(pool.map(in_thread(spark, fn), items))


def stop(spark: SparkSession) -> None:
    """End a job's session: release what it cached, then stop (a Connect session is released
    on the engine; a classic one stops its driver)."""
    release_cached()
    done = _KEEPALIVE.pop(id(spark), None)
    if done is not None:
        done.set()
    spark.stop()


def get_spark(app_name: str, cfg: Config, *, catalog: bool = False) -> SparkSession:
    """Session for a job started by spark-submit.sh: a client of the engine when one is
    configured (``catalog`` is then the engine's own metastore), else the job's own driver
    (master and jars come from the command)."""
    remote = engine_remote()
    if remote:
        return connect_spark(app_name, cfg, remote)
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
