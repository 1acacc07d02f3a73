"""Shared fixtures: a temporary lakehouse config and one local SparkSession with Delta."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from churnlake.config import PROJECT_ROOT, Config, load_config

# Service fixtures (PostgreSQL, HDFS) live in their own plugin module.
pytest_plugins = ["tests.service_fixtures"] if (Path(__file__).parent / "service_fixtures.py").exists() else []

TELCO_CSV = PROJECT_ROOT / "data" / "telco_customer_churn.csv"


def lakehouse_env(base: Path) -> dict[str, str]:
    """Environment overrides that point every location of the pipeline under ``base``."""
    return {
        "CHURNLAKE__LAKEHOUSE__ROOT": str(base / "lakehouse"),
        "CHURNLAKE__STATE_DIR": str(base / "state"),
        "CHURNLAKE__LOGS_DIR": str(base / "logs"),
        "CHURNLAKE__REPORTS_DIR": str(base / "reports"),
        "CHURNLAKE__SOURCES__CRM__INBOX": str(base / "inbox" / "crm"),
    }


@pytest.fixture
def tmp_lakehouse_env(tmp_path, monkeypatch) -> Path:
    """This test's process environment points every pipeline location under ``tmp_path``
    (:func:`lakehouse_env`); returns ``tmp_path``."""
    for key, value in lakehouse_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    return tmp_path


# Before xdist's own hook, which turns the xdist_group marks into the node ids it schedules by.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
    """With ``pytest -n 2 --dist loadgroup`` (``make test``) every integration test runs on one
    worker (one engine, one set of services), the unit modules on the other until it is done.
    A unit module stays on one worker, so its module fixtures are set up once. (Two integration
    groups, each with its own engine, were slower on two cores: docs/benchmarks.md.)"""
    for item in items:
        integration = item.get_closest_marker("integration") is not None
        item.add_marker(pytest.mark.xdist_group("integration" if integration else item.module.__name__))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """With ``--dist loadgroup``: stop when xdist did not group the tests a worker collected.

    xdist groups by appending ``@<group>`` to the node ids; under pytest 9.2 that no longer takes
    effect (pytest-xdist issue #1386) and the tests are spread one by one instead, every worker
    then starting its own engine and services. constraints.txt pins a pytest that works."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    ungrouped = [nodeid for nodeid in ids if "@" not in nodeid]
    if ungrouped:
        pytest.exit(f"pytest-xdist's --dist loadgroup did not group {len(ungrouped)} tests (e.g. {ungrouped[0]}) "
                    f"under pytest {pytest.__version__}: install the versions of constraints.txt (make setup) "
                    "or run one process (make test TEST_WORKERS=0)", returncode=4)


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary folder for session-wide state (metastore, lakehouse of the Spark fixture)."""
    return tmp_path_factory.mktemp("churnlake-session")


@pytest.fixture(scope="session")
def cfg(session_dir: Path) -> Config:
    """Config whose lakehouse, state and logs live in a temporary folder."""
    return load_config(environ={k: v for k, v in {**os.environ, **lakehouse_env(session_dir)}.items()})


# Python workers of the in-process session (mapInPandas scoring) run this interpreter (the
# venv's pandas and scikit-learn), as spark-submit.sh and the engine arrange with PYSPARK_PYTHON.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark(cfg: Config):
    """One local SparkSession with Delta for the whole test session (UI off, 2 shuffles)."""
    from churnlake.spark import local_spark

    session = local_spark("churnlake-tests", cfg, extra={
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.master": "local[2]",
        # The default JIT: this JVM runs minutes of small Delta commits and merges, and C2 pays
        # for itself after the first (docs/benchmarks.md, "The test suite").
        "spark.driver.extraJavaOptions": os.environ.get("CHURNLAKE_TEST_JVM_OPTS", "-XX:+UseParallelGC"),
    })
    yield session
    session.stop()


def assert_same_rows(actual, expected) -> None:
    """Compare two DataFrames as multisets of rows, showing both on a mismatch."""
    missing = expected.exceptAll(actual)
    extra = actual.exceptAll(expected)
    if missing.count() or extra.count():
        raise AssertionError(
            "DataFrames differ.\nexpected:\n" + expected._jdf.showString(20, 0, False)
            + "\nactual:\n" + actual._jdf.showString(20, 0, False)
        )
