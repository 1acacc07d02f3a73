"""Explicit schemas, declared as DDL files under ``schemas/`` (no ``inferSchema`` in jobs)."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql.types import StructType

from churnlake.config import Config


def ddl(cfg: Config, layer: str, name: str) -> str:
    """Text of ``schemas/<layer>/<name>.ddl`` with newlines folded."""
    path = Path(cfg.root_dir) / "schemas" / layer / f"{name}.ddl"
    if not path.is_file():
        raise ValueError(f"schema file {path} does not exist")
    return " ".join(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and not line.strip().startswith("--"))


def struct(cfg: Config, layer: str, name: str) -> StructType:
    """The schema of ``schemas/<layer>/<name>.ddl`` as a StructType."""
    return StructType.fromDDL(ddl(cfg, layer, name))
