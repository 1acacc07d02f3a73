"""Running a suite on a Spark DataFrame: GE results, quarantine routing and the run outcome.

Great Expectations evaluates every check (counts, percentages, sample values); the
row-level checks whose resolution is ``quarantine`` are also evaluated as Spark predicates
that tag the failing rows with their reasons. Both counts must agree, which the job checks.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from churnlake.validation.suites import (RESOLUTION_APPLIED, Check, Suite, failing_rows, has_predicate,
                                         outlier_check)

log = logging.getLogger(__name__)
REASONS_COLUMN = "_quarantine_reasons"
MAX_SAMPLES = 5


@dataclass
class CheckResult:
    """The outcome of one check on one batch."""

    check: Check
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_values: list[str] = field(default_factory=list)
    observed_value: str | None = None
    error: str | None = None

    @property
    def resolution_applied(self) -> str:
        """What the pipeline did about this check: 'none' when it passed."""
        if self.error:
            return "run stopped (the check could not be evaluated)"
        if self.success and not self.unexpected_count:
            return "none"
        if self.success and self.check.severity == "critical":
            # Below the critical threshold: the rows are handled by the row-level checks.
            return "none (below the critical threshold)"
        return RESOLUTION_APPLIED[self.check.resolution]

    @property
    def failed(self) -> bool:
        """Failed in the report's sense: unexpected rows found, or the check failed."""
        return bool(self.error) or not self.success or bool(self.unexpected_count and self.check.row_level)


def prepare(df: DataFrame, suite: Suite, reference_keys: dict[str, DataFrame]) -> DataFrame:
    """Add the suite's derived ``_chk_`` columns and ``_ref_<column>`` reference flags.

    ``reference_keys`` maps a referenced table name to a one-column DataFrame of its keys.
    A reference flag is true when the value is a known key, false when it is not, and null
    when the value itself is null (so a missing id is reported once, by a not-null check).
    """
    out = df
    for name, expr in suite.derived.items():
        out = out.withColumn(name, F.expr(expr))
    for ref in suite.references:
        if ref.table not in reference_keys:
            raise ValueError(f"reference table {ref.table} was not provided")
        keys = reference_keys[ref.table]
        hit = f"__hit_{ref.column}"
        known = keys.select(F.col(keys.columns[0]).alias(f"__key_{ref.column}")).distinct() \
            .withColumn(hit, F.lit(True))
        out = (out.join(F.broadcast(known), out[ref.column] == known[f"__key_{ref.column}"], "left")
               .withColumn(ref.flag_column, F.when(F.col(ref.column).isNull(), F.lit(None).cast("boolean"))
                           .otherwise(F.coalesce(F.col(hit), F.lit(False))))
               .drop(hit, f"__key_{ref.column}"))
    return out


def outlier_checks(df: DataFrame, columns: list[str], k: float) -> list[Check]:
    """Tukey-fence checks from the batch's own quartiles (columns without values are skipped)."""
    numeric = [c for c in columns if c in df.columns]
    if not numeric:
        return []
    quantiles = df.approxQuantile(numeric, [0.25, 0.75], 0.001)
    return [outlier_check(c, q[0], q[1], k) for c, q in zip(numeric, quantiles) if len(q) == 2]


def null_shares(df: DataFrame, columns: list[str], rows: int) -> dict[str, float]:
    """Share of nulls in each column (empty dict for an empty batch)."""
    present = [c for c in columns if c in df.columns]
    if not rows or not present:
        return {}
    counts = df.select(*[F.sum(F.col(c).isNull().cast("int")).alias(c) for c in present]).first()
    return {c: float(counts[c]) / rows for c in present}


def _sample(values: list) -> list[str]:
    out: list[str] = []
    for v in values or []:
        text = "null" if v is None else str(v)
        if text not in out:
            out.append(text[:200])
        if len(out) >= MAX_SAMPLES:
            break
    return out


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _exception_message(info) -> str | None:
    """The message of an exception GE caught (flat, or keyed by metric as in GE 1.x)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")
    return None


def _ge_results(df: DataFrame, checks: list[Check], name: str, samples: int) -> list:
    """Great Expectations' results of ``checks`` on ``df`` (``samples`` unexpected values each)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from churnlake.validation.suites import to_expectation

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_or_update_spark(f"churnlake_{name}")
    batch_def = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}_{uuid.uuid4().hex[:8]}"))
    for check in checks:
        suite.add_expectation(to_expectation(check))
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_def, suite=suite))
    outcome = definition.run(batch_parameters={"dataframe": df},
                             result_format={"result_format": "BASIC", "partial_unexpected_count": samples})
    return list(outcome.results)


def _result(check: Check, res) -> CheckResult:
    error = _exception_message(res.exception_info)
    r = res.result or {}
    observed = r.get("observed_value")
    return CheckResult(
        check=check, success=bool(res.success) and not error,
        element_count=r.get("element_count"),
        unexpected_count=r.get("unexpected_count"),
        unexpected_percent=_number(r.get("unexpected_percent")),
        sample_values=_sample(r.get("partial_unexpected_list")),
        observed_value=None if observed is None else str(observed)[:500],
        error=error)


def unexpected_samples(df: DataFrame, checks: list[Check], per_check: int = 4 * MAX_SAMPLES) -> dict[str, list]:
    """Up to ``per_check`` unexpected values of each check, in one Spark query (a union of one
    small limited scan per check); checks without a row predicate are left out."""
    parts = [df.where(failing_rows(c)).select(F.lit(c.id).alias("check"),
                                              F.col(c.kwargs["column"]).cast("string").alias("value"))
             .limit(per_check) for c in checks if has_predicate(c)]
    if not parts:
        return {}
    query = parts[0]
    for part in parts[1:]:
        query = query.unionByName(part)
    out: dict[str, list] = {}
    for row in query.collect():
        out.setdefault(row["check"], []).append(row["value"])
    return out


def run_checks(df: DataFrame, checks: list[Check], name: str = "batch") -> list[CheckResult]:
    """Evaluate ``checks`` with Great Expectations on a Spark DataFrame.

    Two passes keep the number of Spark jobs small: GE first evaluates every check without
    sample values (its aggregate metrics are computed together); then sample values are fetched
    only for the checks that found unexpected rows — in one query for those with a row
    predicate, by GE again for the few without one (e.g. compound uniqueness). Asking GE for
    samples of every check costs one scan of the batch per check, whether it failed or not.
    """
    by_id = {c.id: c for c in checks}
    results = {res.expectation_config.meta["check_id"]: _result(by_id[res.expectation_config.meta["check_id"]], res)
               for res in _ge_results(df, checks, name, samples=0)}
    failed = [by_id[i] for i, r in results.items() if r.unexpected_count and not r.error]
    samples = unexpected_samples(df, [c for c in failed if has_predicate(c)])
    for check_id, values in samples.items():
        results[check_id].sample_values = _sample(values)
    others = [c for c in failed if not has_predicate(c)]
    if others:
        for res in _ge_results(df, others, f"{name}_samples", samples=MAX_SAMPLES):
            check_id = res.expectation_config.meta["check_id"]
            results[check_id].sample_values = _result(by_id[check_id], res).sample_values
    return [results[c.id] for c in checks]


def quarantine_reasons(checks: list[Check]) -> Column:
    """An array of the ids of the quarantine checks a row fails (empty when it fails none)."""
    row_checks = [c for c in checks if c.row_level]
    if not row_checks:
        return F.array().cast("array<string>")
    tagged = F.array(*[F.when(failing_rows(c), F.lit(c.id)) for c in row_checks])
    return F.filter(tagged, lambda x: x.isNotNull())


def count_failing(df: DataFrame, checks: list[Check]) -> dict[str, int]:
    """Rows each quarantine check selects, in one pass (cross-checked against GE)."""
    row_checks = [c for c in checks if c.row_level]
    if not row_checks:
        return {}
    row = df.select(*[F.sum(failing_rows(c).cast("int")).alias(f"c{i}")
                      for i, c in enumerate(row_checks)]).first()
    return {c.id: int(row[f"c{i}"] or 0) for i, c in enumerate(row_checks)}


def status_of(results: list[CheckResult]) -> str:
    """``stopped`` (a critical check failed or any check errored), ``warned`` or ``passed``."""
    if any(r.error for r in results) or any(not r.success and r.check.severity == "critical" for r in results):
        return "stopped"
    if any(r.failed and r.check.severity == "warning" for r in results):
        return "warned"
    return "passed"


def stop_message(table: str, results: list[CheckResult]) -> str:
    """The one-line reason a run stopped, naming the table, the check and the count."""
    parts = []
    for r in results:
        if r.error:
            parts.append(f"check {r.check.id} ({r.check.expect}) could not be evaluated: {r.error}")
        elif not r.success and r.check.severity == "critical":
            count = "" if r.unexpected_count is None else (
                f": {r.unexpected_count} of {r.element_count} rows unexpected"
                f" ({(r.unexpected_percent or 0):.1f} %)")
            on = f" on {r.check.column}" if r.check.column else ""
            parts.append(f"critical check {r.check.id} ({r.check.expect}{on}) failed{count}")
    return f"validation of {table} stopped the run: " + "; ".join(parts)
