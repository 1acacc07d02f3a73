"""The feature registry agrees with the gold table's DDL, and the catalog page with the registry."""

import pytest
import yaml

from churnlake.config import PROJECT_ROOT
from churnlake.features.registry import catalog_markdown, load_group, load_registry, registry_dir, schema_problems
from churnlake.schemas import struct


def test_registry_matches_the_gold_ddl(cfg, spark):
    group = load_registry()["customer_churn"]
    assert group.table == "gold.customer_features"
    assert schema_problems(group, struct(cfg, "gold", "customer_features")) == []


def test_an_undeclared_a_missing_or_a_retyped_feature_is_reported(cfg, spark, tmp_path):
    raw = yaml.safe_load((registry_dir() / "customer_churn.yaml").read_text())
    dropped = raw["features"].pop(0)["name"]  # declared in the table, not in the registry
    raw["features"][0]["dtype"] = "double"    # a type the table does not have
    raw["features"].append({**raw["features"][1], "name": "ghost_feature"})
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(raw))
    problems = schema_problems(load_group(path), struct(cfg, "gold", "customer_features"))
    assert any(dropped in p and "not declared" in p for p in problems)
    assert any("ghost_feature" in p and "missing" in p for p in problems)
    assert any("registry says double" in p for p in problems)


def test_registry_files_are_checked(tmp_path):
    raw = yaml.safe_load((registry_dir() / "customer_churn.yaml").read_text())
    raw["features"][0]["sources"] = ["silver.nowhere"]
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="unknown table 'silver.nowhere'"):
        load_group(path)
    raw = yaml.safe_load((registry_dir() / "customer_churn.yaml").read_text())
    del raw["features"][0]["owner"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="lacks owner"):
        load_group(path)


def test_the_feature_catalog_page_is_generated_from_the_registry():
    page = (PROJECT_ROOT / "docs" / "feature_catalog.md").read_text()
    assert page == catalog_markdown(load_registry()), \
        "docs/feature_catalog.md is stale: python -m churnlake.features.registry catalog > docs/feature_catalog.md"
    group = load_registry()["customer_churn"]
    assert group.registry_version.startswith("customer_churn:v1:gender@1,")
