"""Expectation suites: the YAML files in ``conf/expectations/`` and what they turn into.

A suite file lists checks; each is a Great Expectations 1.x expectation with a severity and
the resolution the pipeline applies when it fails. This module loads and checks the files,
builds the GE expectations, and turns row-level checks whose resolution is ``quarantine``
into Spark predicates that select the failing rows (GE reports counts and samples; the
predicates route the rows, and the two counts are cross-checked at run time).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import Column
from pyspark.sql import functions as F

SEVERITIES = ("critical", "warning", "info")
# The resolutions each severity may use.
RESOLUTIONS = {
    "critical": ("stop",),
    "warning": ("quarantine", "deduplicate", "impute", "flag"),
    "info": ("impute", "flag"),
}
# Expectations whose failing rows can be selected by a Spark predicate (quarantine).
ROW_LEVEL = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
             "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
             "expect_column_values_to_be_between", "expect_column_values_to_match_regex",
             "expect_column_values_to_not_match_regex")
# What the report says was done about a failed check, by resolution.
RESOLUTION_APPLIED = {
    "stop": "run stopped",
    "quarantine": "quarantined",
    "deduplicate": "deduplicated in silver (latest record wins)",
    "impute": "imputed in silver",
    "flag": "flagged (kept)",
}


@dataclass(frozen=True)
class Check:
    """One expectation of a suite, with its severity and resolution."""

    id: str
    expect: str
    kwargs: dict[str, Any]
    severity: str
    resolution: str
    description: str = ""

    @property
    def column(self) -> str:
        """The column(s) checked, for reports (table-level checks have none)."""
        if "column" in self.kwargs:
            return str(self.kwargs["column"])
        return ",".join(self.kwargs.get("column_list", []))

    @property
    def row_level(self) -> bool:
        """True when failing rows are quarantined (rather than the batch judged)."""
        return self.resolution == "quarantine"


@dataclass(frozen=True)
class Reference:
    """A column that must hold a key of another table (checked as ``_ref_<column>``)."""

    column: str
    table: str
    key: str

    @property
    def flag_column(self) -> str:
        return f"_ref_{self.column}"


@dataclass(frozen=True)
class AnomalySpec:
    """Batch-level anomaly checks against recent runs and the batch's own distribution."""

    row_count: dict[str, float] = field(default_factory=dict)
    null_share: dict[str, Any] = field(default_factory=dict)
    outliers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """A validated suite file."""

    table: str
    key: tuple[str, ...]
    derived: dict[str, str]
    references: tuple[Reference, ...]
    checks: tuple[Check, ...]
    anomaly: AnomalySpec
    path: str = ""
    max_quarantine_share: float = 0.5

    @property
    def short_name(self) -> str:
        return self.table.split(".", 1)[1]


def suite_path(conf_dir: Path, table: str) -> Path:
    """``conf/expectations/<table without layer>.yaml``."""
    return conf_dir / "expectations" / f"{table.split('.', 1)[-1]}.yaml"


def load_suite(path: Path) -> Suite:
    """Read and check a suite file; every mistake is reported with the file and check id."""
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite at {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return parse_suite(raw, str(path))


def parse_suite(raw: dict[str, Any], where: str = "<suite>") -> Suite:
    """Build a :class:`Suite` from the parsed YAML mapping."""
    for key in ("table", "checks"):
        if key not in raw:
            raise ValueError(f"{where}: missing '{key}'")
    derived = {str(k): str(v) for k, v in (raw.get("derived") or {}).items()}
    for name in derived:
        if not name.startswith("_chk_"):
            raise ValueError(f"{where}: derived column {name!r} must start with _chk_")
    refs = tuple(Reference(**r) for r in raw.get("references") or [])
    checks, seen = [], set()
    for i, c in enumerate(raw["checks"]):
        cid = c.get("id") or f"check_{i}"
        if cid in seen:
            raise ValueError(f"{where}: duplicate check id {cid!r}")
        seen.add(cid)
        severity, resolution = c.get("severity"), c.get("resolution")
        if severity not in SEVERITIES:
            raise ValueError(f"{where}: check {cid}: severity must be one of {SEVERITIES}, got {severity!r}")
        if resolution not in RESOLUTIONS[severity]:
            raise ValueError(f"{where}: check {cid}: a {severity} check resolves by one of "
                             f"{RESOLUTIONS[severity]}, got {resolution!r}")
        expect = c.get("expect", "")
        if not str(expect).startswith("expect_"):
            raise ValueError(f"{where}: check {cid}: 'expect' must name a GE expectation, got {expect!r}")
        check = Check(id=cid, expect=expect, kwargs=dict(c.get("kwargs") or {}), severity=severity,
                      resolution=resolution, description=str(c.get("description", "")).strip())
        if check.row_level and (expect not in ROW_LEVEL or "mostly" in check.kwargs):
            raise ValueError(f"{where}: check {cid}: quarantine needs a row-level expectation "
                             f"without 'mostly' (one of {', '.join(ROW_LEVEL)})")
        checks.append(check)
    anomaly = AnomalySpec(**(raw.get("anomaly") or {}))
    share = float(raw.get("max_quarantine_share", 0.5))
    if not 0 <= share <= 1:
        raise ValueError(f"{where}: max_quarantine_share must be in [0, 1], got {share}")
    return Suite(table=raw["table"], key=tuple(raw.get("key") or ()), derived=derived,
                 references=refs, checks=tuple(checks), anomaly=anomaly, path=where,
                 max_quarantine_share=share)


def _camel(expect: str) -> str:
    return "".join(part.capitalize() for part in expect.split("_"))


def to_expectation(check: Check):
    """The GE 1.x expectation object for a check (severity and resolution in its meta)."""
    import great_expectations as gx

    cls = getattr(gx.expectations, _camel(check.expect), None)
    if cls is None:
        raise ValueError(f"check {check.id}: Great Expectations has no expectation {check.expect!r}")
    return cls(**check.kwargs, severity=check.severity,
               meta={"check_id": check.id, "resolution": check.resolution,
                     "description": check.description})


def has_predicate(check: Check) -> bool:
    """True when :func:`failing_rows` can select the check's unexpected rows (``mostly`` aside)."""
    return check.expect in ROW_LEVEL and "column" in check.kwargs


def failing_rows(check: Check) -> Column:
    """A predicate that is true exactly for the rows the row-level ``check`` finds unexpected.

    GE ignores nulls in value checks (they count as missing, not unexpected); so does this.
    """
    kw = check.kwargs
    col = F.col(kw["column"])
    kind = check.expect
    if kind == "expect_column_values_to_not_be_null":
        return col.isNull()
    if kind == "expect_column_values_to_be_null":
        return col.isNotNull()
    if kind == "expect_column_values_to_be_in_set":
        cond = ~col.isin(list(kw["value_set"]))
    elif kind == "expect_column_values_to_not_be_in_set":
        cond = col.isin(list(kw["value_set"]))
    elif kind == "expect_column_values_to_match_regex":
        cond = ~col.rlike(kw["regex"])
    elif kind == "expect_column_values_to_not_match_regex":
        cond = col.rlike(kw["regex"])
    elif kind == "expect_column_values_to_be_between":
        parts = []
        if kw.get("min_value") is not None:
            parts.append(col <= F.lit(kw["min_value"]) if kw.get("strict_min") else col < F.lit(kw["min_value"]))
        if kw.get("max_value") is not None:
            parts.append(col >= F.lit(kw["max_value"]) if kw.get("strict_max") else col > F.lit(kw["max_value"]))
        if not parts:
            raise ValueError(f"check {check.id}: between needs min_value or max_value")
        cond = parts[0] if len(parts) == 1 else parts[0] | parts[1]
    else:
        raise ValueError(f"check {check.id}: {kind} cannot select rows")
    return col.isNotNull() & F.coalesce(cond, F.lit(False))


# --- anomaly checks built from history ------------------------------------------------------

def row_count_check(spec: dict[str, float], history: list[int]) -> Check | None:
    """Row count within ``median(history) x (1 ± tolerance)``; None without enough history."""
    if not spec:
        return None
    recent = history[-int(spec.get("history", 7)):]
    if len(recent) < int(spec.get("min_history", 3)):
        return None
    median = statistics.median(recent)
    tol = float(spec.get("tolerance", 0.5))
    return Check(id="anomaly_row_count", expect="expect_table_row_count_to_be_between",
                 kwargs={"min_value": int(median * max(0.0, 1 - tol)), "max_value": int(median * (1 + tol)) + 1},
                 severity="warning", resolution="flag",
                 description=f"Row count within ±{tol:.0%} of the median of the last {len(recent)} runs "
                             f"({median:g}).")


def null_share_checks(spec: dict[str, Any], history: list[dict[str, float]]) -> list[Check]:
    """Null share of each column at most the recent mean + tolerance (needs one earlier run)."""
    checks = []
    tol = float(spec.get("tolerance", 0.05)) if spec else 0.0
    for column in (spec or {}).get("columns", []):
        shares = [h[column] for h in history if h.get(column) is not None]
        if not shares:
            continue
        allowed = min(1.0, statistics.fmean(shares) + tol)
        checks.append(Check(
            id=f"anomaly_null_share_{column}", expect="expect_column_values_to_not_be_null",
            kwargs={"column": column, "mostly": round(max(0.0, 1 - allowed), 6)},
            severity="warning", resolution="flag",
            description=f"Null share of {column} at most {allowed:.1%} (recent mean {statistics.fmean(shares):.1%} "
                        f"+ {tol:.0%})."))
    return checks


def outlier_check(column: str, q1: float, q3: float, k: float) -> Check:
    """Values outside the batch's Tukey fences ``[Q1 - k·IQR, Q3 + k·IQR]`` are flagged."""
    iqr = q3 - q1
    low, high = q1 - k * iqr, q3 + k * iqr
    return Check(id=f"outliers_{column}", expect="expect_column_values_to_be_between",
                 kwargs={"column": column, "min_value": low, "max_value": high},
                 severity="warning", resolution="flag",
                 description=f"{column} within [Q1 - {k:g}·IQR, Q3 + {k:g}·IQR] = [{low:g}, {high:g}].")
