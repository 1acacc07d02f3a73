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


def conform(df, schema: StructType, what: str):
    """Select ``schema``'s columns from ``df`` in order, cast to its types, with its comments.

    A column missing from ``df`` or present but undeclared is an error naming ``what``: the
    DDL file and the job's output may not drift apart.
    """
    from pyspark.sql import functions as F

    declared = [f.name for f in schema.fields]
    missing = [c for c in declared if c not in df.columns]
    extra = [c for c in df.columns if c not in declared]
    if missing or extra:
        raise ValueError(f"{what} does not match its DDL: missing {missing or 'none'}, undeclared {extra or 'none'}")
    # Cast by type name, not DataType object: a Spark Connect client sends a StringType with an
    # explicit UTF8_BINARY collation, which the engine then writes into the Delta schema as
    # "string collate UTF8_BINARY" (and JDBC clients see that type). The DDL name is the
    # default type in both kinds of session.
    return df.select(*[F.col(f.name).cast(f.dataType.simpleString()).alias(f.name, metadata=f.metadata)
                       for f in schema.fields])
