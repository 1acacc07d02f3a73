"""The base of every churnlake task: a SparkSubmitTask that runs ``./spark-submit.sh``."""

from __future__ import annotations

from pathlib import Path

import logging

import luigi
from luigi.contrib.spark import SparkSubmitTask

from luigi_tasks import runlog

PROJECT_ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("luigi-interface")


class ChurnlakeSparkTask(SparkSubmitTask):
    """Runs ``job_file`` through the project's spark-submit wrapper for one run date.

    Resource flags (master, driver-memory, conf) come from the ``[spark]`` section of
    ``conf/luigi.cfg``; the wrapper adds Delta, the defaults and the code archive.
    """

    run_date = luigi.DateParameter(description="logical date of the run (YYYY-MM-DD)")
    job_file: str = ""  # path relative to the project root, e.g. "jobs/silver/customers.py"

    @property
    def app(self) -> str:
        return str(PROJECT_ROOT / self.job_file)

    @property
    def spark_submit(self) -> str:
        configured = luigi.configuration.get_config().get("spark", "spark-submit", None)
        return configured or str(PROJECT_ROOT / "spark-submit.sh")

    @property
    def name(self) -> str:
        return f"churnlake-{self.task_family}-{self.run_date.isoformat()}"

    def app_options(self) -> list[str]:
        return ["--run-date", self.run_date.isoformat()]

    @property
    def stream_for_searching_tracking_url(self) -> str:
        """Where Luigi looks for the Spark UI's URL to show in its UI: the job's stderr when it
        runs classic (its own driver prints the URL), nowhere when it runs through the engine.
        A client of the engine prints no URL, and Luigi's reader of the stream would cost every
        task a second after the job ends (it waits 1 s for its reader process, which never sees
        the end of the pipe, and then terminates it)."""
        from churnlake.config import load_config
        from churnlake.services.engine import resolve_remote

        try:
            through_engine = resolve_remote(load_config()) is not None
        except ValueError:
            through_engine = False  # a malformed engine.remote: the wrapper reports it
        return "none" if through_engine else "stderr"

    def run(self):
        """Run the job, once per task even when two Luigi runs (two ``make demo`` for one date,
        each with its own local scheduler) reach the same task: a file lock per task id makes
        the second wait, and once it holds the lock it finds the task complete and does nothing."""
        from churnlake.config import load_config
        from churnlake.monitoring.records import locked

        path = load_config().state_dir / "locks" / "tasks" / f"{self.task_id}.lock"

        def waiting() -> None:
            logger.info("%s: another run is doing this task (lock %s); waiting for it", self.task_id, path)

        with locked(path, on_wait=waiting):
            if self.complete():
                logger.info("%s: done by another run meanwhile; nothing to do", self.task_id)
                return
            super().run()

    def program_environment(self) -> dict[str, str]:
        """The environment of spark-submit, plus the task attempt the job's run record names."""
        return {**super().program_environment(), **runlog.job_environment(self)}
