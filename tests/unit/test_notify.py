"""Failure notifications: a failed Luigi task is logged and POSTed to the configured webhook."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import luigi

from luigi_tasks.notify import failure_message, notify  # importing luigi_tasks registers the handler


class Broken(luigi.Task):
    day = luigi.Parameter()
    retry_count = 1  # one attempt: conf/luigi.cfg retries failed tasks (tests/integration/test_retries.py)

    def output(self):
        return luigi.LocalTarget("/nonexistent/never")

    def run(self):
        raise RuntimeError("Program failed\n2026-11-27 INFO x [job] FAILED after 3.2s: ValueError: bad input")


def start_hook(received: list) -> HTTPServer:
    """A webhook on 127.0.0.1 that keeps the JSON bodies it receives."""

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_failed_task_is_logged_and_posted(tmp_lakehouse_env, monkeypatch):
    received = []
    server = start_hook(received)
    monkeypatch.setenv("CHURNLAKE_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    try:
        assert not luigi.build([Broken(day="2026-11-27")], local_scheduler=True)
    finally:
        server.shutdown()
    alerts = [json.loads(line) for line in (tmp_lakehouse_env / "logs" / "alerts.log").read_text().splitlines()]
    assert len(alerts) == 1 and alerts[0]["task"] == "Broken" and alerts[0]["params"] == {"day": "2026-11-27"}
    assert alerts[0]["error"] == "FAILED after 3.2s: ValueError: bad input"
    assert (alerts[0]["attempt"], alerts[0]["max_attempts"], alerts[0]["will_retry"]) == (1, 1, False)
    assert len(received) == 1
    assert received[0]["text"] == "churnlake: Broken failed: FAILED after 3.2s: ValueError: bad input"


def test_an_unreachable_webhook_does_not_break_the_run(tmp_lakehouse_env, monkeypatch):
    monkeypatch.setenv("CHURNLAKE_ALERT_WEBHOOK", "http://127.0.0.1:9/unreachable")
    assert not luigi.build([Broken(day="x")], local_scheduler=True)
    assert (tmp_lakehouse_env / "logs" / "alerts.log").read_text().count("task_failed") == 1


def test_the_message_falls_back_to_the_start_of_the_error():
    msg = failure_message(Broken(day="d"), RuntimeError("x" * 900))
    assert msg["error"] == "x" * 500 and msg["error_type"] == "RuntimeError" and msg["task_id"].startswith("Broken")


def test_a_failure_that_will_be_retried_says_so(tmp_lakehouse_env, monkeypatch):
    received = []
    server = start_hook(received)
    monkeypatch.setenv("CHURNLAKE_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    message = {**failure_message(Broken(day="d"), RuntimeError("boom")), "attempt": 1, "max_attempts": 2,
               "will_retry": True}
    try:
        notify(message)
    finally:
        server.shutdown()
    assert received[0]["text"] == "churnlake: Broken failed (attempt 1 of 2, will be retried): boom"
