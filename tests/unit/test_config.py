"""Config loading, environment overrides and URI resolution."""

import shutil
from pathlib import Path

import pytest

from churnlake.config import PROJECT_ROOT, load_config, resolve_uri
from churnlake.tables import GOLD_CUSTOMER_FEATURES, get_table, landing_uri


def test_defaults_resolve_against_project_root(tmp_path):
    (tmp_path / "conf").mkdir()
    shutil.copy(PROJECT_ROOT / "conf" / "pipeline.yaml", tmp_path / "conf" / "pipeline.yaml")
    cfg = load_config(environ={"CHURNLAKE_HOME": str(tmp_path)})
    assert cfg.lakehouse_root == f"file://{tmp_path}/lakehouse"
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.mlflow_tracking_uri == f"sqlite:///{tmp_path}/state/mlflow.db"


def test_env_overrides_nested_keys_and_parse_scalars():
    cfg = load_config(environ={
        "CHURNLAKE__LAKEHOUSE__ROOT": "hdfs://127.0.0.1:9000/lake/",
        "CHURNLAKE__RUN__SEED": "7",
        "CHURNLAKE__MLFLOW__TRACKING_URI": "http://127.0.0.1:5000",
    })
    assert cfg.lakehouse_root == "hdfs://127.0.0.1:9000/lake"
    assert cfg.seed == 7
    assert cfg.mlflow_tracking_uri == "http://127.0.0.1:5000"


def test_table_locations_follow_the_root_uri():
    cfg = load_config(environ={"CHURNLAKE__LAKEHOUSE__ROOT": "hdfs://nn:8020/cl"})
    assert GOLD_CUSTOMER_FEATURES.uri(cfg) == "hdfs://nn:8020/cl/gold/customer_features"
    assert landing_uri(cfg, "crm", "customers", "2026-11-27", 5) == (
        "hdfs://nn:8020/cl/bronze/_landing/source=crm/type=customers/ingest_date=2026-11-27/ingest_hour=05")


def test_bad_values_fail_with_the_key_named():
    with pytest.raises(ValueError, match="run.test_size"):
        load_config(environ={"CHURNLAKE__RUN__TEST_SIZE": "1.5"})
    with pytest.raises(ValueError, match="numeric setting"):
        load_config(environ={"CHURNLAKE__RUN__SEED": "abc"})
    with pytest.raises(ValueError, match="does not exist"):
        load_config(environ={"CHURNLAKE_CONFIG": "/nonexistent.yaml"})
    with pytest.raises(ValueError, match="unknown table"):
        get_table("gold.nope")
    with pytest.raises(ValueError, match="local path"):
        load_config(environ={"CHURNLAKE__STATE_DIR": "hdfs://x/y"})


def test_resolve_uri_keeps_uris_and_absolutises_paths():
    assert resolve_uri("file:///a/b/", Path("/x")) == "file:///a/b"
    assert resolve_uri("/abs/lake", Path("/x")) == "file:///abs/lake"
    with pytest.raises(ValueError):
        resolve_uri("", Path("/x"))
