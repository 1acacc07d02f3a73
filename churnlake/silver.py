"""What every silver job does: validated bronze rows → typed, cleaned, deduplicated → Delta.

Each silver table holds the current state of its entity. A run merges only the bronze batches
validated since the table's last build into it (one Delta ``MERGE`` commit); when that is not
safe — no earlier build recorded, a bronze batch silver already holds was rewritten, validation
withdrew a batch or changed its quarantine, the table's schema or rule changed, ``--full-refresh``
— it rebuilds the table whole (one overwrite commit) and logs why. Every commit is stamped with
the job and run date and records what the build consumed: the bronze, validation-runs and
quarantine Delta versions read, the date its validated rows reach, and the batches merged
(docs/silver.md#incremental-runs). Delta keeps every earlier state.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import (ensure_commit, history, history_since, latest_version, merge_into, overwrite_table,
                             read_table, record_commit, replace_rows, table_exists)
from churnlake.ingestion.batch import Interval
from churnlake.jobrun import JobResult, commit_interval, commit_metadata
from churnlake.spark import cached
from churnlake.tables import QUALITY_RUNS, SILVER_REJECTS, Table, quarantine_table
from churnlake.transforms.silver import history_versions, latest_per_key, split_missing_key
from churnlake.validation.store import PASSING, validated_rows

log = logging.getLogger(__name__)

FULL, INCREMENTAL = "full", "incremental"
#: Delta operations that change no row: a table whose commits since a build are only these (and
#: appends of new batches) holds the rows the build read.
NO_DATA_CHANGE = frozenset({"SET TBLPROPERTIES", "UNSET TBLPROPERTIES", "OPTIMIZE", "VACUUM START",
                            "VACUUM END", "UPGRADE PROTOCOL", "ADD CONSTRAINT", "DROP CONSTRAINT"})
#: How far back :func:`last_build` looks for the table's last build among its commits.
HISTORY_DEPTH = 50
#: Metadata a commit must carry to be the base of an incremental run.
CONSUMED_KEYS = ("bronze_version", "runs_version", "quarantine_version", "through_date", "rule")


@dataclass(frozen=True)
class Rule:
    """How a silver table keeps its rows, and so how new rows are merged into it.

    ``latest``: one row per ``key``, the first by ``order_by`` descending (latest wins);
    ``versions``: every distinct version of a ``key`` by ``ts`` with validity (SCD type 2);
    ``events``: one row per distinct ``columns`` (the first seen by ``order_by`` ascending);
    ``none``: no merge rule (always rebuilt whole)."""

    kind: str
    key: str | None = None
    order_by: tuple[str, ...] = ()
    ts: str | None = None
    columns: tuple[str, ...] = ()

    def describe(self) -> str:
        """A stable one-line description, recorded with every build (a change forces a full build)."""
        if self.kind == "latest":
            return f"latest {self.key} by {','.join(self.order_by)}"
        if self.kind == "versions":
            return f"versions {self.key} by {self.ts}"
        if self.kind == "events":
            return f"events on {','.join(self.columns)} first by {','.join(self.order_by)}"
        return "none"


def rule_for(key: str | None, order_by: tuple[str, ...], versions: tuple[str, str] | None,
             distinct_on: tuple[str, ...] | None) -> Rule:
    """The :class:`Rule` of :func:`build_silver`'s arguments."""
    if sum(x is not None for x in (key, versions, distinct_on)) > 1:
        raise ValueError("give at most one of key, versions and distinct_on")
    if key:
        return Rule("latest", key=key, order_by=tuple(order_by))
    if versions:
        return Rule("versions", key=versions[0], ts=versions[1])
    if distinct_on:
        return Rule("events", columns=tuple(distinct_on), order_by=tuple(order_by))
    return Rule("none")


@dataclass
class Plan:
    """What a silver run will do, decided from Delta's history before anything is written."""

    mode: str
    reason: str
    through: dt.date  # validated rows up to this run date are in the table after the run
    bronze_version: int
    runs_version: int
    quarantine_version: int
    new_batches: tuple[str, ...] = ()
    previous: dict | None = None
    consumed: frozenset[str] = field(default_factory=frozenset)

    def full(self, reason: str) -> "Plan":
        self.mode, self.reason = FULL, reason
        return self


def add_silver_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``--full-refresh`` flag and ``--run-hour`` of every silver job that uses :func:`build_silver`."""
    from churnlake.jobrun import add_run_hour_arg

    parser.add_argument("--full-refresh", action="store_true",
                        help="rebuild the silver table whole instead of merging the new batches")
    return add_run_hour_arg(parser, "an hourly build (its own commit and Luigi target); omit for the daily build")


def build_interval(run_date: dt.date, run_hour: int | None) -> dict[str, str]:
    """How a build's commit names its interval: ``interval`` (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``),
    and for an hourly build also ``batch_id`` (the same label: its own commit record, so the
    daily build of the date is not mistaken for done)."""
    label = Interval(run_date, run_hour).label
    return {"interval": label} if run_hour is None else {"interval": label, "batch_id": label}


def build_silver(spark: SparkSession, cfg: Config, *, job: str, run_date: dt.date, bronze: Table,
                 silver: Table, prepare: Callable[[DataFrame], DataFrame], key: str | None,
                 order_by: tuple[str, ...] = ("_ingested_at", "_batch_id"),
                 versions: tuple[str, str] | None = None, distinct_on: tuple[str, ...] | None = None,
                 full_refresh: bool = False, run_hour: int | None = None) -> JobResult:
    """Bring ``silver`` up to date with the validated ``bronze`` rows up to ``run_date``.

    The rule (one of): ``key`` — keep the latest row per key by ``order_by``; ``versions=(key,
    ts)`` — ``prepare`` types the rows and every distinct version is kept with validity
    (:func:`~churnlake.transforms.silver.history_versions`); ``distinct_on`` — ``prepare``
    already removed duplicates over these columns (keeping the first seen by ``order_by``);
    none of them — ``prepare`` deduplicates by its own rule and the table is always rebuilt.
    With ``run_hour`` the build is an hourly one: the same merge, its commit stamped with the
    hour (:func:`build_interval`).

    Incremental runs merge the rows of the batches validated since the last build (see the
    module doc and :func:`plan_build`); full runs rewrite the table. With a key, rows whose key
    is missing after typing go to ``quality.silver_rejects`` with the reason (they would
    otherwise vanish). The details name each count: ``rows_in`` (rows read: the new batches'
    in an incremental run, all validated rows in a full one), ``rejected_no_key``,
    ``duplicates_removed``, with ``rows_in = rows_out + rejected_no_key + duplicates_removed``
    (``rows_out``: the rows the rule keeps of them), and ``mode``, ``rows_inserted``,
    ``rows_updated`` (from the MERGE commit; a full build inserts all ``rows_out``),
    ``batches`` (new batches merged), ``table_rows``.
    """
    rule = rule_for(key, tuple(order_by), versions, distinct_on)
    plan = plan_build(spark, cfg, job=job, run_date=run_date, bronze=bronze, silver=silver, rule=rule,
                      full_refresh=full_refresh)
    if plan.mode == INCREMENTAL and not plan.new_batches:
        return _nothing_new(spark, cfg, job=job, run_date=run_date, run_hour=run_hour, bronze=bronze,
                            silver=silver, rule=rule, plan=plan)
    rows = validated_rows(spark, bronze, cfg, plan.through)
    if plan.mode == INCREMENTAL:
        ids = spark.createDataFrame([(b,) for b in plan.new_batches], "_batch_id string")
        rows = rows.join(F.broadcast(ids), "_batch_id", "left_semi").select(*rows.columns)
        mismatch = _schema_mismatch(_kept(prepare(rows), rule), read_table(spark, silver, cfg))
        if mismatch:
            plan.full(mismatch)
            rows = validated_rows(spark, bronze, cfg, plan.through)
    if plan.mode == FULL:
        log.info("%s: full rebuild (%s)", silver.name, plan.reason)
    else:
        log.info("%s: incremental merge of %d new batch(es) since its build of %s (%s)", silver.name,
                 len(plan.new_batches), plan.previous.get("run_date"), ", ".join(plan.new_batches))
    typed = prepare(rows)
    rejected_count = 0
    if rule.kind == "latest":
        typed, rejected_count = _set_aside_rejects(typed, rule.key, cfg, job=job, run_date=run_date, bronze=bronze,
                                                   silver=silver, batches=plan.new_batches if plan.mode == INCREMENTAL
                                                   else None)
    kept = cached(_kept(typed, rule))
    rows_in, rows_out = rows.count(), kept.count()
    counts = silver_counts(rows_in, rows_out, rejected_count)
    meta = build_metadata(job, run_date, plan, rule, bronze, run_hour)
    if plan.mode == FULL:
        overwrite_table(kept, silver, cfg, metadata=meta)
        inserted, updated = rows_out, 0
    else:
        metrics = _merge(spark, cfg, kept, silver, rule, meta)
        inserted, updated = metrics.get("numTargetRowsInserted", 0), metrics.get("numTargetRowsUpdated", 0)
    kept.unpersist()
    table_rows = read_table(spark, silver, cfg).count()
    log.info("%s: %s build: %d row(s) read, %d inserted, %d updated; %d row(s) in the table", silver.name,
             plan.mode, rows_in, inserted, updated, table_rows)
    return JobResult(rows_in=rows_in, rows_out=rows_out, details={
        **counts, "mode": plan.mode, "rows_inserted": inserted, "rows_updated": updated,
        "batches": len(plan.new_batches) if plan.mode == INCREMENTAL else None,
        "table_rows": table_rows, **({"full_reason": plan.reason} if plan.mode == FULL else {})})


def build_metadata(job: str, run_date: dt.date, plan: Plan, rule: Rule, bronze: Table,
                   run_hour: int | None = None) -> str:
    """The commit metadata of a silver build: the job, run date and interval, and what it consumed."""
    extra = {**build_interval(run_date, run_hour), "mode": plan.mode, "bronze_table": bronze.name,
             "bronze_version": plan.bronze_version,
             "runs_version": plan.runs_version, "quarantine_version": plan.quarantine_version,
             "through_date": plan.through.isoformat(), "rule": rule.describe()}
    if plan.mode == INCREMENTAL:
        extra.update(batches=list(plan.new_batches), since_version=plan.previous.get("_version"))
    else:
        extra.update(full_reason=plan.reason)
    return commit_metadata(job, run_date, **extra)


def _kept(typed: DataFrame, rule: Rule) -> DataFrame:
    """The rows the rule keeps of ``typed`` (as a full build would write them)."""
    if rule.kind == "latest":
        return latest_per_key(typed, rule.key, list(rule.order_by))
    if rule.kind == "versions":
        return history_versions(typed, rule.key, rule.ts)
    return typed


def _set_aside_rejects(typed: DataFrame, key: str, cfg: Config, *, job: str, run_date: dt.date, bronze: Table,
                       silver: Table, batches: tuple[str, ...] | None) -> tuple[DataFrame, int]:
    """Rows without ``key`` → ``quality.silver_rejects`` under the run date; returns the rest.

    A full build replaces the run date's rejects of the table; an incremental one only those
    of the batches it merges (``batches``), so earlier runs' rejects stay where they are."""
    typed, rejected = split_missing_key(typed, key)
    rejected = cached(rejected.select(F.lit(silver.name).alias("silver_table"),
                                      F.lit(run_date).cast("date").alias("run_date"), "*"))
    count = rejected.count()
    where = f"silver_table = '{silver.name}' AND run_date = '{run_date.isoformat()}'"
    if batches is not None:
        where += " AND _batch_id IN (" + ", ".join(_sql_string(b) for b in batches) + ")"
    replace_rows(rejected, SILVER_REJECTS, cfg, replace_where=where, rows=count,
                 metadata=commit_metadata(job, run_date, rejected=count))
    if count:
        log.warning("%d row(s) of %s have no %s after typing: kept in %s with the reason",
                    count, bronze.name, key, SILVER_REJECTS.name)
    return typed, count


def _nothing_new(spark: SparkSession, cfg: Config, *, job: str, run_date: dt.date, run_hour: int | None,
                 bronze: Table, silver: Table, rule: Rule, plan: Plan) -> JobResult:
    """No batch validated since the last build: the table is left as it is. A rerun of an
    interval (run date, or hour of it) the job already committed commits nothing; another
    interval gets an empty commit (its Luigi target) that carries the versions read, so the
    next run starts from them."""
    previous = plan.previous or {}
    interval = build_interval(run_date, run_hour)["interval"]
    done = [int(c["version"]) for c in history(spark, silver.uri(cfg), HISTORY_DEPTH).collect()
            if (m := _json(c["userMetadata"])).get("job") == job and m.get("run_date") == run_date.isoformat()
            and commit_interval(m) == interval]
    if done:
        log.info("%s: nothing new since its build of %s, and %s is already committed (version %d): nothing to do",
                 silver.name, previous.get("run_date"), interval, done[0])
    else:
        meta = build_metadata(job, run_date, plan, rule, bronze, run_hour)
        ensure_commit(spark, silver, cfg, metadata=meta, after_version=latest_version(spark, silver, cfg))
        record_commit(silver, cfg, meta)
        log.info("%s: nothing validated since its build of %s: recorded %s with an empty commit",
                 silver.name, previous.get("run_date"), interval)
    return JobResult(rows_in=0, rows_out=0, details={**silver_counts(0, 0, 0), "mode": INCREMENTAL,
                                                     "rows_inserted": 0, "rows_updated": 0, "batches": 0})


# --- deciding: incremental or full ---------------------------------------------------------

def plan_build(spark: SparkSession, cfg: Config, *, job: str, run_date: dt.date, bronze: Table, silver: Table,
               rule: Rule, full_refresh: bool = False) -> Plan:
    """Decide from Delta's history whether the run can merge only the new batches.

    Incremental when the table's last build recorded what it consumed and since then: every
    bronze commit only added batches (or rewrote batches silver does not hold yet), every batch
    it consumed is still validated, the quarantine of those batches is unchanged, and the rule
    is the same. The new batches are those validated (up to the later of the run date and the
    build's ``through_date``) that the build had not consumed. Otherwise full, with the reason."""
    if not table_exists(spark, QUALITY_RUNS, cfg):
        raise RuntimeError(f"no validation run recorded for {bronze.name}: "
                           "run jobs/validation/validate_bronze.py first")
    quarantine = quarantine_table(bronze)
    plan = Plan(mode=INCREMENTAL, reason="", through=run_date,
                bronze_version=latest_version(spark, bronze, cfg),
                runs_version=latest_version(spark, QUALITY_RUNS, cfg),
                quarantine_version=latest_version(spark, quarantine, cfg) if table_exists(spark, quarantine, cfg)
                else -1)
    if not table_exists(spark, silver, cfg):
        return plan.full("--full-refresh" if full_refresh else f"{silver.name} does not exist yet")
    previous, why = last_build(spark, silver, cfg, job)
    if previous is not None:
        # The table never goes back to an earlier date's state (a missed day run late).
        plan.previous = previous
        plan.through = max(run_date, dt.date.fromisoformat(previous["through_date"]))
    if full_refresh:
        return plan.full("--full-refresh")
    if rule.kind == "none":
        return plan.full(f"{silver.name} has no incremental merge rule")
    if previous is None:
        return plan.full(why)
    if previous.get("rule") != rule.describe():
        return plan.full(f"the merge rule changed ({previous.get('rule')!r} → {rule.describe()!r})")
    if previous.get("bronze_table") != bronze.name:
        return plan.full(f"the last build read {previous.get('bronze_table')}, not {bronze.name}")
    try:
        consumed = passing_batches(spark, bronze, cfg, int(previous["runs_version"]),
                                   dt.date.fromisoformat(previous["through_date"]))
    except Exception as exc:  # noqa: BLE001 - time travel refused (vacuumed, log cleaned): rebuild
        return plan.full(f"{QUALITY_RUNS.name} version {previous['runs_version']} is no longer readable "
                         f"({type(exc).__name__})")
    plan.consumed = frozenset(consumed)
    now = passing_batches(spark, bronze, cfg, plan.runs_version, plan.through)
    withdrawn = sorted(consumed - now)
    if withdrawn:
        return plan.full(f"{len(withdrawn)} batch(es) in silver are no longer validated ({_few(withdrawn)})")
    changed = bronze_rewrites(spark, bronze, cfg, int(previous["bronze_version"]), plan.bronze_version, consumed)
    if changed:
        return plan.full(changed)
    changed = quarantine_changes(spark, bronze, cfg, int(previous["quarantine_version"]), plan.quarantine_version,
                                 consumed)
    if changed:
        return plan.full(changed)
    plan.new_batches = tuple(sorted(now - consumed))
    return plan


def last_build(spark: SparkSession, silver: Table, cfg: Config, job: str) -> tuple[dict | None, str]:
    """The metadata of ``job``'s last build of ``silver`` (with ``_version``, its Delta version)
    when it is the table's last change, else ``(None, why)``. Commits that change no row
    (table properties, OPTIMIZE, VACUUM) are looked past."""
    for commit in history(spark, silver.uri(cfg), HISTORY_DEPTH).collect():
        version, operation = int(commit["version"]), commit["operation"]
        meta = _json(commit["userMetadata"])
        if meta.get("job") == job and all(k in meta for k in CONSUMED_KEYS):
            return {**meta, "_version": version}, ""
        if operation in NO_DATA_CHANGE and meta.get("job") != job:
            continue
        if meta.get("job") == job:
            return None, f"its last build (version {version}) records no consumed versions"
        return None, f"its last change (version {version}, {operation}) was not a build by {job}"
    return None, f"no build by {job} in its last {HISTORY_DEPTH} commits"


def passing_batches(spark: SparkSession, bronze: Table, cfg: Config, runs_version: int,
                    through: dt.date) -> set[str]:
    """The batches of ``bronze`` that silver may use up to ``through``, as the validation runs
    stood at Delta version ``runs_version`` (the same runs :func:`validated_rows` accepts)."""
    runs = read_table(spark, QUALITY_RUNS, cfg, version=runs_version).where(
        (F.col("table_name") == bronze.name) & F.col("status").isin(*PASSING) & (F.col("run_date") <= F.lit(through)))
    return {r[0] for r in runs.select(F.explode("batch_ids")).distinct().collect()}


#: ``_source = 'x'`` / ``_batch_id = 'y'``: the clauses of a bronze batch's replaceWhere.
_CLAUSE = re.compile(r"^\(*\s*(_source|_batch_id)\s*=\s*'([^']*)'\s*\)*$")


def rewritten_batch(predicate: str) -> str | None:
    """The batch id a bronze ``replaceWhere`` predicate selects (``_source = 'a' AND _batch_id = 'b'``),
    or None when the predicate is anything else."""
    batches = []
    for clause in re.split(r"\s+AND\s+", predicate.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(clause.strip())
        if not match:
            return None
        if match.group(1) == "_batch_id":
            batches.append(match.group(2))
    return batches[0] if len(batches) == 1 else None


def bronze_rewrites(spark: SparkSession, bronze: Table, cfg: Config, since: int, until: int,
                    consumed: set[str] | frozenset[str]) -> str | None:
    """Why the bronze commits after version ``since`` (up to ``until``) are not only appends of
    new batches, or None when they are. A batch rewritten in place (``replaceWhere`` that
    removed rows) is fine while silver does not hold it yet (not in ``consumed``)."""
    if until < since:
        return f"{bronze.name} is at version {until}, before the version {since} silver read (recreated?)"
    commits = history_since(spark, bronze.uri(cfg), since, until)
    if until > since and (not commits or commits[0]["version"] != since + 1):
        return f"{bronze.name}'s log after version {since} is no longer complete"
    for c in commits:
        version, operation = c["version"], c["operation"]
        if operation in NO_DATA_CHANGE:
            continue
        if operation != "WRITE":
            return f"{bronze.name} version {version} is a {operation}, not an append of new batches"
        params, metrics = c["operationParameters"], c["operationMetrics"]
        removed = int(metrics.get("numRemovedFiles") or 0) + int(metrics.get("numDeletedRows") or 0)
        if params.get("mode") == "Append" or removed == 0:
            continue
        batch = rewritten_batch(params.get("predicate") or "")
        if batch is None:
            return (f"{bronze.name} version {version} overwrote rows "
                    f"({params.get('predicate') or 'the whole table'})")
        if batch in consumed:
            return f"{bronze.name} version {version} rewrote batch {batch}, which silver already holds"
    return None


def quarantine_changes(spark: SparkSession, bronze: Table, cfg: Config, since: int, until: int,
                       consumed: set[str] | frozenset[str]) -> str | None:
    """Why the quarantine of the ``consumed`` batches differs between quarantine versions
    ``since`` and ``until`` (-1: no table), or None when it does not (or nothing was written)."""
    quarantine = quarantine_table(bronze)
    if until < 0:
        return None if since < 0 else f"{quarantine.name} no longer exists"
    if until < since:
        return f"{quarantine.name} is at version {until}, before the version {since} silver read"
    commits = history_since(spark, quarantine.uri(cfg), since, until)
    if all(c["operation"] in NO_DATA_CHANGE for c in commits) or not consumed:
        return None
    ids = F.broadcast(spark.createDataFrame([(b,) for b in sorted(consumed)], "_batch_id string"))

    def hashes(version: int) -> DataFrame:
        return read_table(spark, quarantine, cfg, version=version).join(ids, "_batch_id", "left_semi") \
            .select("_batch_id", "_row_hash")

    now = hashes(until)
    try:
        then = hashes(since) if since >= 0 else now.limit(0)
        differ = now.subtract(then).union(then.subtract(now)).select("_batch_id").distinct().limit(5).collect()
    except Exception as exc:  # noqa: BLE001 - time travel refused: rebuild
        return f"{quarantine.name} version {since} is no longer readable ({type(exc).__name__})"
    if differ:
        return (f"the quarantine of batch(es) silver already holds changed "
                f"({_few(sorted(r[0] for r in differ))})")
    return None


# --- merging -------------------------------------------------------------------------------

def precedes(a: str, b: str, columns: tuple[str, ...], *, descending: bool) -> str:
    """SQL: row ``a`` sorts before row ``b`` by ``columns`` (descending or ascending, nulls
    last): with ``descending`` it means "``a`` is later" (the row ``latest_per_key`` keeps).
    Never null: a tie is FALSE."""
    op = ">" if descending else "<"
    expr = "FALSE"
    for c in reversed(columns):
        first = f"(COALESCE({a}.`{c}` {op} {b}.`{c}`, FALSE) OR ({a}.`{c}` IS NOT NULL AND {b}.`{c}` IS NULL))"
        expr = f"({first} OR ({a}.`{c}` <=> {b}.`{c}` AND {expr}))"
    return expr


def _merge(spark: SparkSession, cfg: Config, kept: DataFrame, silver: Table, rule: Rule, meta: str) -> dict[str, int]:
    """MERGE the rows the rule keeps of the new batches (``kept``) into ``silver``."""
    if rule.kind == "latest":
        # The latest row per key wins: update a key when the new row is later, insert new keys.
        return merge_into(kept, silver, cfg, on=f"t.`{rule.key}` = s.`{rule.key}`",
                          clauses=f"WHEN MATCHED AND {precedes('s', 't', rule.order_by, descending=True)} "
                                  "THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *", metadata=meta)
    if rule.kind == "events":
        # Insert events not present yet (scoped to the partitions the new events fall in); an
        # event already present keeps the first-seen row's lineage, as a full build would.
        on = " AND ".join([f"t.`{c}` <=> s.`{c}`" for c in rule.columns] + _partition_scope(kept, silver))
        return merge_into(kept, silver, cfg, on=on,
                          clauses=f"WHEN MATCHED AND {precedes('s', 't', rule.order_by, descending=False)} "
                                  "THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *", metadata=meta)
    # versions: recompute every version of the keys the new rows touch from (their versions in
    # silver ∪ the new rows), so valid_to / is_current of earlier versions are closed, and merge
    # the versions that differ from silver's by (key, valid_from). Every version silver held for
    # those keys is in the recomputed set, so no row has to be deleted.
    k = rule.key
    existing = read_table(spark, silver, cfg)
    columns = existing.columns
    touched = kept.select(F.col(k).alias("_touched")).distinct()
    existing = existing.join(touched, existing[k].eqNullSafe(touched["_touched"]), "left_semi")
    lineage = [c for c in columns if c not in ("valid_from", "valid_to", "is_current")]
    recomputed = history_versions(existing.select(*lineage).unionByName(kept.select(*lineage)), k, rule.ts)
    changed = cached(recomputed.select(*columns).subtract(existing.select(*columns)))
    changed.count()
    try:
        return merge_into(changed, silver, cfg, on=f"t.`{k}` <=> s.`{k}` AND t.valid_from <=> s.valid_from",
                          clauses="WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *", metadata=meta)
    finally:
        changed.unpersist()


def _partition_scope(kept: DataFrame, silver: Table, limit: int = 1000) -> list[str]:
    """``t.<partition column> IN (...)`` for the values the new rows have, so the MERGE reads
    only those partitions of the table (none when there are too many values)."""
    scope = []
    for col in silver.partition_by:
        if col not in kept.columns:
            continue
        values = [r[0] for r in kept.select(col).distinct().limit(limit + 1).collect()]
        if len(values) > limit:
            continue
        literals = [_sql_literal(v) for v in values if v is not None]
        if any(lit is None for lit in literals):
            continue
        parts = [f"t.`{col}` IN ({', '.join(literals)})"] if literals else []
        if any(v is None for v in values):
            parts.append(f"t.`{col}` IS NULL")
        scope.append("(" + " OR ".join(parts) + ")" if parts else "FALSE")
    return scope


def _sql_literal(value) -> str | None:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return _sql_string(value)
    return None


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _schema_mismatch(incoming: DataFrame, table: DataFrame) -> str | None:
    def shape(df: DataFrame) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]

    if shape(incoming) != shape(table):
        new, old = dict(shape(incoming)), dict(shape(table))
        diff = sorted({c for c in new.keys() | old.keys() if new.get(c) != old.get(c)}) or ["column order"]
        return f"the table's schema changed ({_few(diff)})"
    return None


def _json(text: str | None) -> dict:
    try:
        meta = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def silver_counts(rows_in: int, rows_out: int, rejected_no_key: int) -> dict[str, int]:
    """The named counts of a silver build (see :func:`build_silver`)."""
    if rows_out + rejected_no_key > rows_in:
        raise ValueError(f"silver wrote {rows_out} rows and rejected {rejected_no_key} from {rows_in} input rows: "
                         "more out than in")
    return {"rows_in": rows_in, "rejected_no_key": rejected_no_key,
            "duplicates_removed": rows_in - rows_out - rejected_no_key}


def pseudonym_key(cfg: Config) -> str:
    """The key of IP pseudonyms: from the configured env variable, else a key file in the state dir."""
    import os
    import secrets

    env_name = (cfg.raw.get("privacy") or {}).get("pseudonym_key_env") or "CHURNLAKE_PSEUDONYM_KEY"
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = cfg.state_dir / "pseudonym.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()
