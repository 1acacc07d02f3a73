"""The job launcher (churnlake/services/launcher.py): a job run as a fork of it behaves like a
process of its own — arguments, directory, environment, streams, exit code, signals."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from churnlake.services import launcher
from churnlake.services.process import Daemon

LAUNCHER = Path(launcher.__file__).resolve()
JOB = """
import os, sys, time
from churnlake.services.launcher import launched_by
print("argv", sys.argv[1:], "cwd", os.getcwd(), "env", os.environ.get("JOB_VALUE"), "name", __name__)
print("launched by", launched_by())
print("on stderr", file=sys.stderr)
if "sleep" in sys.argv:
    open(sys.argv[-1], "w").write(str(os.getpid()))
    time.sleep(60)
if "boom" in sys.argv:
    raise RuntimeError("boom in the job")
sys.exit(int(os.environ.get("JOB_EXIT", "0")))
"""


@pytest.fixture()
def server(tmp_path):
    sock = launcher.socket_path(tmp_path / "state")
    daemon = Daemon("job launcher", tmp_path / "launcher.pid", tmp_path / "launcher.log", "127.0.0.1", 0,
                    marker=f"launcher.py serve {sock}", ready=lambda: launcher.answers(sock), where=sock)
    daemon.start([sys.executable, str(LAUNCHER), "serve", sock, "--no-preload"], dict(os.environ), tmp_path, 60)
    yield sock, daemon
    daemon.stop()


def client(sock: str, job: Path, *args: str, cwd: Path, env: dict | None = None, **kw):
    return subprocess.Popen([sys.executable, "-S", str(LAUNCHER), "run", sock, str(job), *args], cwd=cwd,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def test_a_job_gets_the_callers_arguments_directory_environment_streams_and_exit_code(server, tmp_path):
    sock, daemon = server
    job = tmp_path / "job.py"
    job.write_text(JOB)
    work = tmp_path / "work"
    work.mkdir()
    proc = client(sock, job, "a", "b c", cwd=work, env={"JOB_VALUE": "x1", "JOB_EXIT": "3"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert out.strip().splitlines() == [f"argv ['a', 'b c'] cwd {work} env x1 name __main__",
                                        f"launched by {daemon.pid()}"]
    assert err.strip() == "on stderr"
    # A failing job: its traceback on the caller's stderr, exit code 1.
    proc = client(sock, job, "boom", cwd=work)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "RuntimeError: boom in the job" in err
    # Only its owner may connect.
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600


def test_without_a_launcher_the_job_runs_as_a_process_of_its_own(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(JOB)
    # The launcher's variable inherited from a grandparent (a job's own child) is no fork of it.
    proc = client(str(tmp_path / "nothing.sock"), job, "a", cwd=tmp_path,
                  env={"JOB_EXIT": "4", launcher.LAUNCHER_PID_ENV: str(os.getppid())})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 4 and out.startswith("argv ['a']")
    assert out.strip().splitlines()[-1] == "launched by None"


def _wait_file(path: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise TimeoutError(path)


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_stopping_the_client_stops_the_job(server, tmp_path):
    sock, _ = server
    job = tmp_path / "job.py"
    job.write_text(JOB)
    # SIGTERM to the client (Luigi stopping a task) is forwarded to the job.
    proc = client(sock, job, "sleep", str(tmp_path / "pid1"), cwd=tmp_path)
    pid = _wait_file(tmp_path / "pid1")
    assert pid != proc.pid
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert _gone(pid)
    # A client killed outright: the launcher sees its connection close and ends the job.
    proc = client(sock, job, "sleep", str(tmp_path / "pid2"), cwd=tmp_path)
    pid = _wait_file(tmp_path / "pid2")
    proc.kill()
    proc.communicate(timeout=30)
    assert _gone(pid)


def test_a_long_state_dir_gets_a_private_short_socket(tmp_path):
    deep = tmp_path / ("x" * 120)
    path = launcher.socket_path(deep)
    assert len(path) <= launcher.MAX_SOCKET_PATH and path.startswith(f"/tmp/churnlake-{os.getuid()}/")
    assert path == launcher.socket_path(deep)
    assert launcher.socket_path("/srv/churnlake/state") == "/srv/churnlake/state/engine/launcher.sock"


def test_jobs_use_the_configured_launcher_only_when_its_socket_is_there(tmp_path):
    from churnlake.config import load_config
    from churnlake.services.engine import resolve_launcher

    def cfg(**env):
        return load_config(environ={**os.environ, "CHURNLAKE__STATE_DIR": str(tmp_path / "state"), **env})

    assert resolve_launcher(cfg(CHURNLAKE__ENGINE__LAUNCHER="auto")) is None  # no engine started one
    own = Path(launcher.socket_path(tmp_path / "state"))
    own.parent.mkdir(parents=True)
    own.touch()
    assert resolve_launcher(cfg(CHURNLAKE__ENGINE__LAUNCHER="auto")) == str(own)
    assert resolve_launcher(cfg(CHURNLAKE__ENGINE__LAUNCHER="off")) is None
    other = tmp_path / "other.sock"
    assert resolve_launcher(cfg(CHURNLAKE__ENGINE__LAUNCHER=str(other))) is None
    other.touch()
    assert resolve_launcher(cfg(CHURNLAKE__ENGINE__LAUNCHER=str(other))) == str(other)
