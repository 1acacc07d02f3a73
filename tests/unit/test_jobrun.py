"""The job boundary's engine watchdog (churnlake.jobrun)."""

import socket
import threading

from churnlake.jobrun import Sections, _watch_engine


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_the_watchdog_reports_an_engine_that_stops_answering_and_not_before():
    sock = _listener()
    lost = threading.Event()
    remote = f"sc://127.0.0.1:{sock.getsockname()[1]}"
    _watch_engine(remote, lost.set, interval_s=0.05, misses=3)
    assert not lost.wait(0.5), "reported an engine that still answers"
    sock.close()
    assert lost.wait(5), "did not report the engine that went away"


def test_one_missed_check_is_not_a_lost_engine():
    # an engine that answers again before the third miss in a row is not reported
    lost = threading.Event()
    sock = _listener()
    port = sock.getsockname()[1]
    _watch_engine(f"sc://127.0.0.1:{port}", lost.set, interval_s=0.2, misses=3)
    sock.close()
    threading.Event().wait(0.3)  # about one miss
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(8)
    try:
        assert not lost.wait(1.0)
    finally:
        sock.close()


JOB_STUCK_IN_A_CALL = """
import sys, time
from churnlake.jobrun import JobResult, job_arg_parser, run_job
def main(args, cfg):
    time.sleep(600)  # like a gRPC call to a killed server that never returns
    return JobResult()
run_job("stuck_job", main, job_arg_parser("stuck"), sys.argv[1:])
"""


def test_a_job_stuck_on_a_lost_engine_fails_with_the_engine_named(tmp_path):
    import os
    import subprocess
    import sys

    from churnlake.spark import ENV_REMOTE

    sock = _listener()
    remote = f"sc://127.0.0.1:{sock.getsockname()[1]}"
    env = os.environ | {ENV_REMOTE: remote, "CHURNLAKE_ENGINE_WATCHDOG_S": "0.2",
                        "CHURNLAKE__LOGS_DIR": str(tmp_path / "logs")}
    job = subprocess.Popen([sys.executable, "-c", JOB_STUCK_IN_A_CALL, "--run-date", "2026-11-27"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        threading.Event().wait(1.0)
        assert job.poll() is None, job.stderr.read()
        sock.close()
        _, err = job.communicate(timeout=30)
    finally:
        job.kill()
    assert job.returncode == 1
    failed = [line for line in err.splitlines() if "FAILED after" in line]
    assert failed and f"engine at {remote} does not answer" in failed[0] and "watchdog" in failed[0], err


def test_sections_add_up_repeated_steps_in_the_order_they_ran():
    step = Sections()
    with step("read"):
        pass
    with step("write"):
        pass
    try:
        with step("read"):
            raise ValueError("boom")
    except ValueError:
        pass  # a failing step is still timed
    assert list(step.seconds) == ["read", "write"]
    assert all(v >= 0 for v in step.seconds.values())
    assert step.summary().startswith("read ") and ", write " in step.summary()
    assert step.total() >= 0
