"""Failure notifications: every failed task is logged to ``logs/alerts.log`` (one JSON line)
and, when configured, POSTed as JSON to a webhook (Slack/Teams/Mattermost-style incoming
hooks, or any HTTP endpoint).

Configuration (``conf/pipeline.yaml``, section ``notifications``): ``webhook_url_env`` names
the environment variable holding the URL (secrets never live in the repo); ``timeout_s``.
A notification that cannot be delivered is logged and never fails the pipeline.

Every failed attempt is reported; ``attempt``/``max_attempts``/``will_retry`` tell a failure
the scheduler retries (``[scheduler] retry_count`` in conf/luigi.cfg) from the last one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.request

import luigi

from churnlake.config import load_config
from luigi_tasks import runlog

log = logging.getLogger("luigi-interface")


def failure_message(task: luigi.Task, exception: BaseException) -> dict:
    """What a notification says: which task, with which parameters, failed how, which attempt."""
    attempt, limit = runlog.attempt_of(task), runlog.max_attempts(task)
    return {
        "event": "task_failed",
        "task": task.task_family,
        "task_id": task.task_id,
        "params": {k: str(v) for k, v in task.param_kwargs.items()},
        "error_type": type(exception).__name__,
        # A churnlake job's own one-line reason when the output carries it, else the start of the error.
        "error": runlog.error_summary(exception),
        "attempt": attempt,
        "max_attempts": limit,
        "will_retry": attempt is not None and attempt < limit,
        "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": os.uname().nodename,
    }


def notify(message: dict) -> None:
    """Append ``message`` to logs/alerts.log and POST it to the configured webhook, if any."""
    cfg = load_config()
    settings = cfg.raw.get("notifications") or {}
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.logs_dir / "alerts.log", "a", encoding="utf-8") as out:
        out.write(json.dumps(message, sort_keys=True) + "\n")
    url = os.environ.get(settings.get("webhook_url_env") or "CHURNLAKE_ALERT_WEBHOOK")
    if not url:
        return
    retry = (f" (attempt {message['attempt']} of {message['max_attempts']}, will be retried)"
             if message.get("will_retry") else "")
    body = json.dumps({"text": f"churnlake: {message['task']} failed{retry}: {message['error']}",
                       **message}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=float(settings.get("timeout_s", 10))) as resp:
            resp.read()
    except OSError as exc:
        log.warning("could not deliver the failure notification to the webhook: %s", exc)


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _on_failure(task: luigi.Task, exception: BaseException) -> None:
    try:
        notify(failure_message(task, exception))
    except Exception as exc:  # noqa: BLE001 - a notification must never break the worker
        log.warning("failure notification failed: %s", exc)
