"""Luigi targets that are true only when the work for a run date really landed."""

from __future__ import annotations

import luigi

from churnlake.config import Config, load_config
from churnlake.jobrun import commit_interval
from churnlake.storage import (commit_record_uri, commit_records_root, delta_commits, filestore_for,
                               read_commit_record, read_commit_records)
from churnlake.tables import Table


def log_metadata(table: Table, cfg: Config) -> list[dict]:
    """The parsed ``userMetadata`` of the JSON commits still in ``table``'s Delta log, oldest first."""
    uri = table.uri(cfg)
    commits = sorted((info for info in delta_commits(uri, filestore_for(uri, cfg))
                      if isinstance(info.get("userMetadata"), dict)), key=lambda info: info["version"])
    return [info["userMetadata"] for info in commits]


def commit_metadata_of(table: Table, cfg: Config) -> list[dict]:
    """The metadata of every job commit to ``table`` that is known: the JSON commits still in its
    Delta log (tables written before the records existed) and the commit records under
    ``<lakehouse>/_commits/`` (they outlive Delta's log cleanup)."""
    found = log_metadata(table, cfg)
    root = commit_records_root(cfg.lakehouse_root, table.relpath)
    store = filestore_for(root, cfg)
    for job in store.list(root):
        for day in store.list(f"{root}/{job}"):
            found += [r["metadata"] for r in read_commit_records(store, f"{root}/{job}/{day}")]
    return found


class DeltaCommitTarget(luigi.Target):
    """Exists when ``table``'s Delta log holds a commit by ``job`` for ``run_date``.

    Jobs stamp every commit with JSON ``userMetadata`` (job, run_date, batch_id, ...); a
    folder or an unrelated commit does not count. ``batch_id`` narrows the match to one
    batch (hourly ingestion); ``interval`` to the commits of one interval (``YYYY-MM-DD`` for
    the daily build of a job that also builds hourly, ``YYYY-MM-DDTHH`` for an hourly one; a
    commit that names no interval is its run date's daily one).
    """

    def __init__(self, table: Table, job: str, run_date: str, cfg: Config | None = None,
                 batch_id: str | None = None, interval: str | None = None) -> None:
        self.table, self.job, self.run_date, self.batch_id = table, job, run_date, batch_id
        self.interval = interval
        self._cfg = cfg

    @property
    def cfg(self) -> Config:
        if self._cfg is None:
            self._cfg = load_config()
        return self._cfg

    def matches(self, meta: dict) -> bool:
        """True when one commit's metadata is this target's commit."""
        return (meta.get("job") == self.job and meta.get("run_date") == self.run_date
                and (self.batch_id is None or meta.get("batch_id") == self.batch_id)
                and (self.interval is None or commit_interval(meta) == self.interval))

    def matching(self) -> list[dict]:
        """The metadata of this target's commits, oldest first: from the commit records under
        ``<lakehouse>/_commits/`` (they outlive Delta's log cleanup), else, for tables written
        before those existed, from the JSON commits still in the Delta log."""
        uri = commit_record_uri(self.cfg.lakehouse_root, self.table.relpath, self.job, self.run_date, self.batch_id)
        store = filestore_for(uri, self.cfg)
        if self.batch_id is not None:
            records = [read_commit_record(store, uri)] if store.exists(uri) else []
        else:
            records = read_commit_records(store, uri.rsplit("/", 1)[0])
        found = [r["metadata"] for r in records if self.matches(r.get("metadata") or {})]
        return found or [meta for meta in log_metadata(self.table, self.cfg) if self.matches(meta)]

    def exists(self) -> bool:
        return bool(self.matching())

    def __repr__(self) -> str:
        return (f"DeltaCommitTarget({self.table.name}, job={self.job}, run_date={self.run_date}"
                f"{', batch_id=' + self.batch_id if self.batch_id else ''}"
                f"{', interval=' + self.interval if self.interval else ''})")


class ValidationPassedTarget(DeltaCommitTarget):
    """Exists when the latest validation run of a table for the run date let its batches through.

    A stopped run commits too (its results and report matter), so the commit alone is not
    enough: the newest matching commit must carry status ``passed`` or ``warned``.
    """

    def exists(self) -> bool:
        matching = self.matching()
        return bool(matching) and matching[-1].get("status") in ("passed", "warned")


class OnlineFeaturesTarget(luigi.Target):
    """Exists when the online store recorded a load of the run date's feature snapshot."""

    def __init__(self, run_date, cfg: Config | None = None) -> None:
        self.run_date, self._cfg = run_date, cfg

    def exists(self) -> bool:
        from churnlake.features.online import OnlineStore, online_url

        store = OnlineStore(online_url(self._cfg or load_config()))
        try:
            return store.materialized(self.run_date)
        finally:
            store.close()


class MlflowRunTarget(luigi.Target):
    """Exists when MLflow holds a finished run of ``job`` tagged with ``run_date``."""

    def __init__(self, job: str, run_date: str, cfg: Config | None = None) -> None:
        self.job, self.run_date = job, run_date
        self._cfg = cfg

    def exists(self) -> bool:
        from churnlake.ml.tracking import finished_runs_for  # mlflow import is slow; defer

        return bool(finished_runs_for(self._cfg or load_config(), self.job, self.run_date))
