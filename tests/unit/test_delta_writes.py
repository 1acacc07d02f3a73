"""churnlake.delta.replace_rows: every batch leaves a commit its Luigi target can find."""

from __future__ import annotations

from churnlake.delta import history, read_table, replace_rows
from churnlake.jobrun import commit_metadata
from churnlake.tables import Table
from luigi_tasks.targets import DeltaCommitTarget

TABLE = Table("bronze.test_batches", "bronze/test_batches", partition_by=("_batch_id",))
SCHEMA = "id int, _batch_id string"


def meta(run_date: str, batch: str) -> str:
    import datetime as dt

    return commit_metadata("test_job", dt.date.fromisoformat(run_date), batch_id=batch)


def test_an_empty_batch_is_committed_so_its_target_is_done(spark, cfg):
    first = spark.createDataFrame([(1, "b1"), (2, "b1")], SCHEMA)
    replace_rows(first, TABLE, cfg, replace_where="_batch_id = 'b1'", metadata=meta("2026-11-27", "b1"))
    versions = history(spark, TABLE.uri(cfg)).count()
    # Nothing new the next day: Delta alone would skip this commit (no file added or removed).
    empty = spark.createDataFrame([], SCHEMA)
    replace_rows(empty, TABLE, cfg, replace_where="_batch_id = 'b2'", metadata=meta("2026-11-28", "b2"))
    assert history(spark, TABLE.uri(cfg)).count() == versions + 1
    target = DeltaCommitTarget(TABLE, "test_job", "2026-11-28", cfg, batch_id="b2")
    assert target.exists()
    assert read_table(spark, TABLE, cfg).count() == 2  # the data is untouched
    # A rerun of a batch that does write gets no extra marker commit.
    replace_rows(first, TABLE, cfg, replace_where="_batch_id = 'b1'", metadata=meta("2026-11-27", "b1"))
    assert history(spark, TABLE.uri(cfg)).count() == versions + 2


def test_history_since_reads_past_its_window_only_when_it_must(spark, cfg, monkeypatch):
    import churnlake.delta as delta

    table = Table("bronze.test_history", "bronze/test_history")
    for i in range(7):
        spark.createDataFrame([(i, f"b{i}")], SCHEMA).write.format("delta").mode("append").save(table.uri(cfg))
    assert delta.version_or_none(spark, table, cfg) == 6
    assert delta.version_or_none(spark, Table("bronze.test_none", "bronze/test_none"), cfg) is None
    full = {r["version"]: r["operation"] for r in history(spark, table.uri(cfg)).collect()}
    monkeypatch.setattr(delta, "HISTORY_WINDOW", 3)
    queries = []
    real = delta.history
    monkeypatch.setattr(delta, "history", lambda *a, **k: queries.append(a[2:] or (None,)) or real(*a, **k))
    for since, until in [(-1, None), (0, None), (2, 5), (3, None), (4, None), (5, 5), (6, None)]:
        queries.clear()
        got = delta.history_since(spark, table.uri(cfg), since, until)
        want = sorted(v for v in full if v > since and (until is None or v <= until))
        assert [c["version"] for c in got] == want, (since, until)
        assert all(c["operation"] == full[c["version"]] for c in got)
        # The window (versions 4-6) covers every version after 3: one query of 3 commits.
        assert queries == ([(3,)] if since >= 3 else [(3,), (None,)]), (since, queries)


def test_a_write_of_counted_rows_commits_without_the_history_queries(spark, cfg, monkeypatch):
    import churnlake.delta as delta

    table = Table("bronze.test_counted", "bronze/test_counted", partition_by=("_batch_id",))
    rows = spark.createDataFrame([(1, "c1"), (2, "c1"), (3, "c1")], SCHEMA)
    replace_rows(rows, table, cfg, replace_where="_batch_id = 'c1'", metadata=meta("2026-11-27", "c1"))
    versions = history(spark, table.uri(cfg)).count()

    def no_history(*args, **kwargs):
        raise AssertionError("a write of counted rows must not read the history")

    monkeypatch.setattr(delta, "version_or_none", no_history)
    monkeypatch.setattr(delta, "history_since", no_history)
    replace_rows(rows, table, cfg, replace_where="_batch_id = 'c1'", metadata=meta("2026-11-28", "c1"), rows=3)
    assert DeltaCommitTarget(table, "test_job", "2026-11-28", cfg, batch_id="c1").exists()
    assert history(spark, table.uri(cfg)).count() == versions + 1
    assert read_table(spark, table, cfg).count() == 3
    # A count of zero still gets its commit checked (and the history is needed for it).
    monkeypatch.undo()
    empty = spark.createDataFrame([], SCHEMA)
    replace_rows(empty, table, cfg, replace_where="_batch_id = 'c2'", metadata=meta("2026-11-28", "c2"), rows=0)
    assert DeltaCommitTarget(table, "test_job", "2026-11-28", cfg, batch_id="c2").exists()
    assert read_table(spark, table, cfg).count() == 3
