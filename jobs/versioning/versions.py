"""Data versions: tag a release, list tags and versions, diff two versions, read as of a tag.

    ./spark-submit.sh jobs/versioning/versions.py tag release-2026-11-27 --layer gold --description "..."
    ./spark-submit.sh jobs/versioning/versions.py tags [--table gold.customer_features]
    ./spark-submit.sh jobs/versioning/versions.py history gold.customer_features [--limit 10]
    ./spark-submit.sh jobs/versioning/versions.py diff gold.customer_features release-2026-11-27 latest
    ./spark-submit.sh jobs/versioning/versions.py show gold.customer_features release-2026-11-27 --limit 5
    ./spark-submit.sh jobs/versioning/versions.py untag release-2026-11-27
    ./spark-submit.sh jobs/versioning/versions.py retention [--apply] [--vacuum] [--dry-run]

A reference (``FROM``/``TO``/``REF``) is a Delta version (``3`` or ``v3``), ``latest``, or a
tag name. See docs/versioning.md for the strategy and example output.
"""

from __future__ import annotations

import argparse
import sys
import time

from churnlake.config import Config, load_config
from churnlake.delta import table_exists
from churnlake.jobrun import log_failure, setup_logging
from churnlake.spark import get_spark, stop
from churnlake.tables import ALL_TABLES, META_DATA_TAGS, get_table
from churnlake.versioning import retention, tags
from churnlake.versioning.changes import changed_rows, compare, history
from churnlake.versioning.filters import checked_filter

JOB = "versions"


def _table(rows: list[dict], columns: list[str]) -> str:
    """Plain-text table of ``rows`` (what the commands print)."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *[line(r) for r in cells]])


def cmd_tag(spark, cfg: Config, args) -> int:
    chosen = tags.tables_for(args.table, args.layer)
    if args.layer:  # a layer means its existing tables; named tables must exist
        chosen = [t for t in chosen if t.name in (args.table or []) or table_exists(spark, t, cfg)]
    versions = {}
    for item in args.version or []:
        name, _, number = item.partition("=")
        if not number.isdigit():
            raise ValueError(f"--version must be TABLE=N, got {item!r}")
        versions[name] = int(number)
    rows = tags.create_tag(spark, cfg, args.name, chosen, description=args.description or "",
                           source=args.source, versions=versions)
    print(f"tagged {len(rows)} table(s) as {args.name}")
    print(_table(rows, ["table_name", "delta_version", "row_count", "rows_added", "rows_removed",
                        "schema_changes", "compared_to"]))
    return 0


def cmd_tags(spark, cfg: Config, args) -> int:
    rows = tags.list_tags(spark, cfg, args.table)
    if not rows:
        print("no tags")
        return 0
    print(_table(rows, ["tag", "table_name", "delta_version", "version_timestamp", "row_count", "rows_added",
                        "rows_removed", "tagged_at", "source", "description"]))
    return 0


def cmd_history(spark, cfg: Config, args) -> int:
    table = get_table(args.table)
    if not table_exists(spark, table, cfg):
        raise ValueError(f"{table.name} does not exist yet at {table.uri(cfg)}")
    tagged: dict[int, list[str]] = {}
    for r in tags.list_tags(spark, cfg, table.name):
        tagged.setdefault(r["delta_version"], []).append(r["tag"])
    rows = [{**h, "tags": ",".join(tagged.get(h["version"], []))} for h in history(spark, table.uri(cfg), args.limit)]
    print(f"{table.name} ({table.uri(cfg)})")
    print(_table(rows, ["version", "timestamp", "operation", "job", "run_date", "rows_written", "tags"]))
    return 0


def cmd_diff(spark, cfg: Config, args) -> int:
    table = get_table(args.table)
    old, old_label = tags.read_ref(spark, cfg, table, args.from_ref)
    new, new_label = tags.read_ref(spark, cfg, table, args.to_ref)
    changes = compare(old, new)
    print(f"{table.name}: {old_label} -> {new_label}")
    print(f"rows: {changes.rows_old} -> {changes.rows_new}  (+{changes.rows_added} added, "
          f"-{changes.rows_removed} removed, {changes.rows_unchanged} unchanged)")
    print(f"schema: {changes.schema.summary()}")
    if args.show and (changes.rows_added or changes.rows_removed):
        added, removed = changed_rows(old, new, args.show)
        for title, df in (("added", added), ("removed", removed)):
            print(f"\nexample rows {title}:")
            df.show(args.show, truncate=40)
    return 0


def cmd_show(spark, cfg: Config, args) -> int:
    table = get_table(args.table)
    df, label = tags.read_ref(spark, cfg, table, args.ref)
    if args.where:
        df = df.where(checked_filter(args.where))
    print(f"{table.name} as of {label}: {df.count()} rows")
    df.show(args.limit, truncate=40)
    return 0


def cmd_untag(spark, cfg: Config, args) -> int:
    n = tags.delete_tag(spark, cfg, args.name)
    print(f"removed tag {args.name} ({n} table(s)) and its copies")
    return 0


def cmd_retention(spark, cfg: Config, args) -> int:
    pol = retention.policy(cfg)
    managed = [t for t in ALL_TABLES if t is not META_DATA_TAGS] + [META_DATA_TAGS]
    print(f"policy: time travel kept {pol.deleted_file_retention_days} days "
          f"(deletedFileRetentionDuration), commits kept {pol.log_retention_days} days (logRetentionDuration)")
    if args.apply:
        changed = retention.apply_policy(spark, cfg, managed)
        print(f"policy set on {len(changed)} table(s): {', '.join(changed) or '-'}")
    rows = []
    for t in managed:
        if table_exists(spark, t, cfg):
            props = retention.table_properties(spark, t, cfg)
            rows.append({"table": t.name, "deletedFileRetentionDuration": props.get("delta.deletedFileRetentionDuration", "(default 7 days)"),
                         "logRetentionDuration": props.get("delta.logRetentionDuration", "(default 30 days)")})
    print(_table(rows, ["table", "deletedFileRetentionDuration", "logRetentionDuration"]))
    if args.vacuum or args.dry_run:
        counts = retention.vacuum(spark, cfg, managed, dry_run=args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        print(_table([{"table": k, f"files {verb}": v} for k, v in counts.items()], ["table", f"files {verb}"]))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="versions.py", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="pipeline YAML (default conf/pipeline.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tag", help="name the latest (or given) versions of tables")
    t.add_argument("name")
    t.add_argument("--table", action="append", help="table to tag (repeatable), e.g. gold.customer_features")
    t.add_argument("--layer", action="append", help="tag every existing table of a layer (repeatable)")
    t.add_argument("--version", action="append", help="TABLE=N: tag version N instead of the latest")
    t.add_argument("--description", default="")
    t.add_argument("--source", default=None, help="who/what tags (default user@host)")
    s = sub.add_parser("tags", help="list tags")
    s.add_argument("--table")
    h = sub.add_parser("history", help="a table's Delta versions with their jobs and tags")
    h.add_argument("table")
    h.add_argument("--limit", type=int, default=20)
    d = sub.add_parser("diff", help="rows added/removed and schema diff between two references")
    d.add_argument("table")
    d.add_argument("from_ref")
    d.add_argument("to_ref")
    d.add_argument("--show", type=int, default=0, help="print up to N example rows added/removed")
    r = sub.add_parser("show", help="read a table as of a version or tag")
    r.add_argument("table")
    r.add_argument("ref")
    r.add_argument("--limit", type=int, default=10)
    r.add_argument("--where", default=None, help="one filter expression on the table's columns, "
                   "e.g. \"customer_id = '7590-VHVEG'\" (no statements, comments or subqueries)")
    u = sub.add_parser("untag", help="delete a tag and its copies")
    u.add_argument("name")
    k = sub.add_parser("retention", help="show/apply the retention policy; VACUUM with it")
    k.add_argument("--apply", action="store_true", help="set the policy's properties on every table")
    k.add_argument("--vacuum", action="store_true", help="VACUUM every table with the policy")
    k.add_argument("--dry-run", action="store_true", help="only count what VACUUM would delete")
    return p


COMMANDS = {"tag": cmd_tag, "tags": cmd_tags, "history": cmd_history, "diff": cmd_diff, "show": cmd_show,
            "untag": cmd_untag, "retention": cmd_retention}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ValueError as exc:
        print(f"FAILED {JOB}: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(JOB, cfg.logs_dir)
    started = time.monotonic()
    spark = get_spark(f"churnlake-{JOB}-{args.command}", cfg)
    try:
        return COMMANDS[args.command](spark, cfg, args)
    except Exception as exc:  # noqa: BLE001 - the command boundary: one readable line, exit 1
        log_failure(exc, time.monotonic() - started)
        return 1
    finally:
        stop(spark)


if __name__ == "__main__":
    sys.exit(main())
