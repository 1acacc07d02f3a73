"""The job launcher: a warm Python process that runs engine-mode jobs as forks of itself.

A job that is a Spark Connect client of the engine spends seconds of CPU importing its
libraries before it sends a query: PySpark's Connect client and pandas ≈ 1 s, Great
Expectations ≈ 4 s (every validation job), MLflow and scikit-learn ≈ 3 s (training, scoring).
The launcher imports these third-party packages once, then forks a child per job, which
runs the job file as ``__main__`` with the caller's arguments, environment, working
directory and standard streams (passed over the socket), so the job's own log file, its run
record and its one-line ``FAILED …`` error are exactly those of a process of its own.
churnlake's own modules are never preloaded: every job imports the project's code as it is
on disk when the job starts.

- Server: ``python churnlake/services/launcher.py serve SOCKET`` (started and stopped with the
  engine, :class:`churnlake.services.engine.Engine`); a Unix socket, mode 0600, no TCP port.
- Client: ``python -S churnlake/services/launcher.py run SOCKET JOB.py ARGS…``
  (``./spark-submit.sh`` in engine mode). When no launcher answers, the client replaces
  itself with ``python JOB.py ARGS…``, the process of its own every job had before.
- Signals to the client (Luigi stopping a task, Ctrl-C) are forwarded to the job; a client
  that dies takes its job with it (the launcher terminates a job whose client is gone).

This file imports the standard library only: the client must start in milliseconds, and the
server's preloaded modules must not include churnlake's.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time

#: Imported by the server before it forks: the heavy third-party packages the jobs import.
PRELOAD = ("pyspark.sql.connect.session", "pyspark.sql.functions", "pyspark.ml", "pandas", "pyarrow",
           "great_expectations", "mlflow", "sklearn.ensemble", "sklearn.linear_model", "sklearn.pipeline")
_HEADER = struct.Struct("!I")
MAX_REQUEST = 8 * 1024 * 1024
#: Unix socket paths are limited to 107 bytes; longer ones move to a private folder in /tmp.
MAX_SOCKET_PATH = 100


#: Set in a job forked by the launcher to the launcher's pid: the job then logs where it runs.
LAUNCHER_PID_ENV = "CHURNLAKE_JOB_LAUNCHER_PID"


def launched_by() -> int | None:
    """The pid of the job launcher this process is a fork of, or None when it is a process of its
    own (the variable alone is not enough: a child of the job inherits it)."""
    parent = os.getppid()
    return parent if os.environ.get(LAUNCHER_PID_ENV) == str(parent) else None


def socket_path(state_dir) -> str:
    """Where the launcher of ``state_dir`` listens: ``<state_dir>/engine/launcher.sock``, or
    ``/tmp/churnlake-<uid>/<hash>.sock`` (folder mode 0700) when that path is too long."""
    path = os.path.join(os.fspath(state_dir), "engine", "launcher.sock")
    if len(path.encode()) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.path.abspath(os.fspath(state_dir)).encode()).hexdigest()[:20]
    return os.path.join(f"/tmp/churnlake-{os.getuid()}", f"{digest}.sock")


def answers(path: str, timeout: float = 1.0) -> bool:
    """True when a launcher accepts connections on ``path`` (a ``ping`` request)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            payload = json.dumps({"ping": True}).encode()
            sock.sendall(_HEADER.pack(len(payload)) + payload)
            return sock.recv(64).startswith(b"pong")
    except OSError:
        return False


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"{stamp} launcher[{os.getpid()}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- server
def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: a length-prefixed JSON object, the caller's fds 0-2 as ancillary data."""
    conn.settimeout(10.0)
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    fds = list(fds)
    try:
        while len(data) < _HEADER.size:
            more = conn.recv(1 << 16)
            if not more:
                raise ValueError("the request ended early")
            data += more
        (size,) = _HEADER.unpack_from(data)
        if size > MAX_REQUEST:
            raise ValueError(f"request of {size} bytes is larger than {MAX_REQUEST}")
        while len(data) < _HEADER.size + size:
            more = conn.recv(1 << 16)
            if not more:
                raise ValueError("the request ended early")
            data += more
        request = json.loads(data[_HEADER.size:_HEADER.size + size])
    except Exception:
        for fd in fds:
            os.close(fd)
        raise
    conn.settimeout(None)
    return request, fds


def _preload(names) -> None:
    t0 = time.monotonic()
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional package missing: the jobs import it themselves
            _log(f"not preloaded: {name} ({exc})")
    if threading.active_count() != 1:
        # Forking a process with threads can leave a lock held in the child.
        raise RuntimeError(f"preloading started threads ({threading.enumerate()}); refusing to fork")
    gc.collect()
    gc.freeze()  # the preloaded objects stay out of the children's collections (fewer copied pages)
    _log(f"preloaded {len(names)} packages in {time.monotonic() - t0:.1f}s")


def serve(path: str, preload=PRELOAD):
    """Listen on ``path`` and fork a child per job request. Returns in the child only: the
    job's request and its three file descriptors; the server itself loops until SIGTERM.
    Single-threaded on purpose (a fork copies only the calling thread)."""
    _preload(preload)
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.stat(folder)
    if info.st_uid != os.getuid() or (os.path.basename(folder).startswith("churnlake-") and info.st_mode & 0o077):
        raise RuntimeError(f"{folder} is not a private folder of this user: refusing to listen there")
    if os.path.exists(path):
        if answers(path):
            raise RuntimeError(f"a launcher already listens on {path}")
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(32)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    stopping: list[int] = []
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    jobs: dict[int, socket.socket] = {}  # child pid -> its client's connection
    _log(f"listening on {path}")

    def finish(pid: int, message: bytes) -> None:
        conn = jobs.pop(pid, None)
        if conn is None:
            return
        selector.unregister(conn)
        try:
            conn.sendall(message)
        except OSError:
            pass
        conn.close()

    while True:
        if stopping:
            for pid in list(jobs):
                _terminate(pid)
            break
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request, fds = _read_request(conn)
                except Exception as exc:  # noqa: BLE001 - a bad request must not stop the server
                    _log(f"refused a request: {exc}")
                    _reply(conn, f"error {exc}\n".encode())
                    continue
                if request.get("ping"):
                    _reply(conn, b"pong\n")
                    continue
                pid = os.fork()
                if pid == 0:  # the child: leave the server behind, become the job
                    selector.close()
                    listener.close()
                    signal.set_wakeup_fd(-1)
                    for fd in (wake_r, wake_w):
                        os.close(fd)
                    for other in jobs.values():
                        other.close()
                    conn.close()
                    for signum in (signal.SIGCHLD, signal.SIGTERM):
                        signal.signal(signum, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    return request, fds
                for fd in fds:
                    os.close(fd)
                jobs[pid] = conn
                selector.register(conn, selectors.EVENT_READ)
                try:
                    conn.sendall(f"pid {pid}\n".encode())
                except OSError:
                    pass
            elif key.fileobj == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:  # a client's connection: it sends nothing more, so this is its end
                pid = next((p for p, c in jobs.items() if c is key.fileobj), None)
                if pid is not None:
                    _log(f"the client of job {pid} is gone: terminating the job")
                    _terminate(pid)
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    del jobs[pid]
        while True:  # reap finished jobs, tell their clients
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            finish(pid, f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    deadline = time.monotonic() + 30
    while jobs and time.monotonic() < deadline:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            finish(pid, f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
        else:
            time.sleep(0.1)
    for pid in list(jobs):
        _kill(pid, signal.SIGKILL)
        finish(pid, b"exit -9\n")
    selector.close()
    listener.close()
    os.unlink(path)
    _log("stopped")
    return None


def _reply(conn: socket.socket, message: bytes) -> None:
    try:
        conn.sendall(message)
    except OSError:
        pass
    conn.close()


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _terminate(pid: int) -> None:
    _kill(pid, signal.SIGTERM)


def run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: take the caller's streams, directory, environment and arguments,
    and run the job file as ``__main__`` (its ``sys.exit`` ends this process)."""
    import runpy

    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[LAUNCHER_PID_ENV] = str(os.getppid())  # for the job's START line (churnlake.jobrun)
    os.umask(int(request.get("umask", 0o022)))
    script = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


# ---------------------------------------------------------------------------------- client
def run(path: str, argv: list[str]) -> int:
    """Run the job ``argv`` (``[JOB.py, ARGS…]``) through the launcher at ``path``; without
    one, become ``python JOB.py ARGS…`` (does not return then)."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
    except OSError:
        _exec_own(argv)
    umask = os.umask(0)
    os.umask(umask)
    payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}).encode()
    streams = [fd if _valid_fd(fd) else os.open(os.devnull, os.O_RDWR) for fd in (0, 1, 2)]
    try:
        socket.send_fds(sock, [_HEADER.pack(len(payload)) + payload], streams)
        reader = sock.makefile("rb")
        first = reader.readline().decode().split()
    except OSError:
        first = []
    if len(first) != 2 or first[0] != "pid":
        # Refused before it forked (or gone): nothing ran, so the job runs as its own process.
        sock.close()
        _exec_own(argv)
    pid = int(first[1])

    def forward(signum, _frame):
        _kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    while True:
        try:
            line = reader.readline().decode().split()
            break
        except InterruptedError:
            continue
    if len(line) == 2 and line[0] == "exit":
        code = int(line[1])
        return 128 - code if code < 0 else code
    print(f"launcher.py: the job launcher at {path} stopped while job {pid} ({argv[0]}) ran; "
          "its exit status is unknown (restart the engine: make engine-stop engine-start)", file=sys.stderr)
    return 1


def _valid_fd(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _exec_own(argv: list[str]) -> None:
    python = sys.executable
    os.execv(python, [python, *argv])


def main(args: list[str]) -> int:
    if len(args) in (2, 3) and args[0] == "serve" and args[2:] in ([], ["--no-preload"]):
        child = serve(args[1], () if args[2:] else PRELOAD)
        if child is None:
            return 0
        run_child(*child)
        return 0
    if len(args) >= 3 and args[0] == "run":
        return run(args[1], args[2:])
    if len(args) == 2 and args[0] == "ping":
        return 0 if answers(args[1]) else 1
    print("usage: launcher.py serve SOCKET [--no-preload] | run SOCKET JOB.py [ARGS…] | ping SOCKET",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
