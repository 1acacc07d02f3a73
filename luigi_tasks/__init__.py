"""Luigi tasks of the churnlake pipeline: one SparkSubmitTask per job, no Spark code here.

Importing this package makes Luigi read ``conf/luigi.cfg`` unless ``LUIGI_CONFIG_PATH``
points elsewhere.
"""

import os
from pathlib import Path

import luigi.configuration

_CFG = Path(__file__).resolve().parent.parent / "conf" / "luigi.cfg"
if "LUIGI_CONFIG_PATH" not in os.environ and _CFG.is_file():
    luigi.configuration.add_config_path(str(_CFG))

# Importing the modules registers the failure notifications (log + optional webhook) and the
# task-run records (logs/task_runs.jsonl, docs/monitoring.md).
from luigi_tasks import runlog  # noqa: E402,F401
from luigi_tasks.notify import notify as notify_failure  # noqa: E402

__all__ = ["notify_failure"]
