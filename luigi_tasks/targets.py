"""Luigi targets that are true only when the work for a run date really landed."""

from __future__ import annotations

import luigi

from churnlake.config import Config, load_config
from churnlake.storage import delta_commits, filestore_for
from churnlake.tables import Table


class DeltaCommitTarget(luigi.Target):
    """Exists when ``table``'s Delta log holds a commit by ``job`` for ``run_date``.

    Jobs stamp every commit with JSON ``userMetadata`` (job, run_date, ...); a folder or an
    unrelated commit does not count.
    """

    def __init__(self, table: Table, job: str, run_date: str, cfg: Config | None = None) -> None:
        self.table, self.job, self.run_date = table, job, run_date
        self._cfg = cfg

    @property
    def cfg(self) -> Config:
        if self._cfg is None:
            self._cfg = load_config()
        return self._cfg

    def exists(self) -> bool:
        uri = self.table.uri(self.cfg)
        for info in delta_commits(uri, filestore_for(uri, self.cfg)):
            meta = info.get("userMetadata")
            if isinstance(meta, dict) and meta.get("job") == self.job and meta.get("run_date") == self.run_date:
                return True
        return False

    def __repr__(self) -> str:
        return f"DeltaCommitTarget({self.table.name}, job={self.job}, run_date={self.run_date})"


class MlflowRunTarget(luigi.Target):
    """Exists when MLflow holds a finished run of ``job`` tagged with ``run_date``."""

    def __init__(self, job: str, run_date: str, cfg: Config | None = None) -> None:
        self.job, self.run_date = job, run_date
        self._cfg = cfg

    def exists(self) -> bool:
        from churnlake.ml.tracking import finished_runs_for  # mlflow import is slow; defer

        return bool(finished_runs_for(self._cfg or load_config(), self.job, self.run_date))
