"""Feature registry: one YAML file per feature group in ``schemas/features/``.

Each file names the entity (join key), the gold table and its as-of timestamp column, and
for every feature its name, dtype, description, source tables, transformation, owner,
version and tags. :func:`schema_problems` compares a group with a table schema (tests run it
against the gold DDL and against the gold table the pipeline wrote); :func:`catalog_markdown`
renders ``docs/feature_catalog.md``:

    python -m churnlake.features.registry catalog > docs/feature_catalog.md
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from churnlake.config import project_root
DTYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
REQUIRED = ("name", "dtype", "description", "sources", "transformation", "owner", "version", "tags")


@dataclass(frozen=True)
class Feature:
    """One registered feature."""

    name: str
    dtype: str
    description: str
    sources: tuple[str, ...]
    transformation: str
    owner: str
    version: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class FeatureGroup:
    """A registry file: features of one entity, served from one gold table."""

    name: str
    entity: str
    join_key: str
    table: str
    timestamp: str
    description: str
    owner: str
    version: int
    features: tuple[Feature, ...]
    path: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def registry_version(self) -> str:
        """Group version plus every feature's version: changes whenever any feature changes."""
        return f"{self.name}:v{self.version}:" + ",".join(f"{f.name}@{f.version}" for f in self.features)


def load_group(path: Path) -> FeatureGroup:
    """Read and check one registry file (mistakes name the file and the feature)."""
    from churnlake.tables import get_table

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    where = str(path)
    for key in ("feature_group", "entity", "table", "timestamp", "features", "version"):
        if key not in raw:
            raise ValueError(f"{where}: missing '{key}'")
    get_table(raw["table"])
    features, seen = [], set()
    for i, f in enumerate(raw["features"]):
        missing = [k for k in REQUIRED if k not in f]
        if missing:
            raise ValueError(f"{where}: feature #{i} ({f.get('name', '?')}) lacks {', '.join(missing)}")
        if f["name"] in seen:
            raise ValueError(f"{where}: feature {f['name']} is declared twice")
        seen.add(f["name"])
        if f["dtype"] not in DTYPES:
            raise ValueError(f"{where}: feature {f['name']}: dtype must be one of {DTYPES}, got {f['dtype']!r}")
        if not isinstance(f["version"], int) or f["version"] < 1:
            raise ValueError(f"{where}: feature {f['name']}: version must be a positive integer")
        for source in f["sources"]:
            get_table(source)  # an unknown table is an error
        features.append(Feature(name=f["name"], dtype=f["dtype"], description=str(f["description"]).strip(),
                                sources=tuple(f["sources"]), transformation=f["transformation"],
                                owner=f["owner"], version=f["version"], tags=tuple(f["tags"])))
    entity = raw["entity"]
    return FeatureGroup(name=raw["feature_group"], entity=entity["name"], join_key=entity["join_key"],
                        table=raw["table"], timestamp=raw["timestamp"], description=raw.get("description", ""),
                        owner=raw.get("owner", ""), version=int(raw["version"]), features=tuple(features),
                        path=where)


def registry_dir() -> Path:
    """``schemas/features/`` of the checkout (``CHURNLAKE_HOME`` when jobs run from the code archive)."""
    return project_root() / "schemas" / "features"


def load_registry(folder: Path | None = None) -> dict[str, FeatureGroup]:
    """Every feature group in ``folder`` (default :func:`registry_dir`), by name."""
    folder = folder or registry_dir()
    groups = [load_group(p) for p in sorted(folder.glob("*.yaml"))]
    if not groups:
        raise FileNotFoundError(f"no feature registry files (*.yaml) in {folder}")
    return {g.name: g for g in groups}


def schema_problems(group: FeatureGroup, schema) -> list[str]:
    """How a table schema (a Spark StructType) and the group disagree; empty when they agree."""
    columns = {f.name: f.dataType.simpleString() for f in schema.fields}
    problems = []
    for key in (group.join_key, group.timestamp):
        if key not in columns:
            problems.append(f"{group.table} lacks the {'join key' if key == group.join_key else 'timestamp'} {key}")
    declared = {f.name: f for f in group.features}
    for name in columns:
        if name not in declared and name not in (group.join_key, group.timestamp):
            problems.append(f"{group.table}.{name} is not declared in {group.path}")
    for name, feature in declared.items():
        if name not in columns:
            problems.append(f"feature {name} of {group.path} is missing from {group.table}")
        elif columns[name] != feature.dtype:
            problems.append(f"feature {name}: registry says {feature.dtype}, {group.table} has {columns[name]}")
    return problems


def catalog_markdown(groups: dict[str, FeatureGroup]) -> str:
    """The feature catalog page (docs/feature_catalog.md), generated from the registry."""
    lines = ["# Feature catalog", "",
             "Generated from `schemas/features/*.yaml` by "
             "`python -m churnlake.features.registry catalog`; do not edit by hand "
             "(a test checks that this page matches the registry).", ""]
    for group in groups.values():
        lines += [f"## {group.name} (version {group.version})", "",
                  f"{group.description}", "",
                  f"- entity: **{group.entity}**, join key `{group.join_key}`",
                  f"- table: `{group.table}`, as-of column `{group.timestamp}`",
                  f"- owner: {group.owner}; {len(group.features)} features", "",
                  "| feature | type | description | sources | transformation | version | owner | tags |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for f in group.features:
            lines.append(f"| `{f.name}` | {f.dtype} | {f.description} | {', '.join(f.sources)} | "
                         f"`{f.transformation.rsplit('.', 1)[-1]}` | {f.version} | {f.owner} | {', '.join(f.tags)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``catalog``: print the catalog page."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["catalog"]:
        print("usage: python -m churnlake.features.registry catalog > docs/feature_catalog.md", file=sys.stderr)
        return 2
    sys.stdout.write(catalog_markdown(load_registry()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
