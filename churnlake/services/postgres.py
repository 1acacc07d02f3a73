"""A throw-away PostgreSQL server on 127.0.0.1, built from the Debian ``postgresql`` binaries.

Usage::

    from churnlake.services.postgres import LocalPostgres

    with LocalPostgres("/tmp/pg") as pg:
        engine = sqlalchemy.create_engine(pg.url)   # postgresql+psycopg://churnlake@127.0.0.1:PORT/churnlake

Layout of ``data_dir``::

    data_dir/pgdata/         the cluster (initdb), reused on the next start
    data_dir/socket/         the unix-socket directory (a short /tmp dir if this path is too long)
    data_dir/postgres.log    server log (pg_ctl -l)

The server listens on 127.0.0.1 only, with ``trust`` authentication for local socket and
127.0.0.1 TCP connections and nothing else in ``pg_hba.conf``.  PostgreSQL refuses to run
as root, so when this process is root the server runs as the ``postgres`` system user
(created by the Debian package) through ``runuser``; ``data_dir`` is then chowned to that
user and, if a parent folder cannot be entered by it (e.g. pytest's 0700
``/tmp/pytest-of-root``), that folder gets the search bit for others (``o+x``, no read).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from churnlake.services.process import free_port, pid_alive, tail, wait_pid_exit

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install with: apt-get install postgresql  "
    "(or run scripts/ensure-postgres.sh, which does that only when needed)"
)

# Unix domain socket paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 107


class PostgresNotInstalledError(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl, postgres) could not be found."""


class PostgresStartError(RuntimeError):
    """initdb or the server failed; the message carries the tail of the log."""


def find_pg_bindir() -> Path:
    """Return the folder holding ``initdb``/``pg_ctl``.

    Order: ``$CHURNLAKE_PG_BINDIR``, the newest ``/usr/lib/postgresql/<major>/bin``
    (Debian/Ubuntu layout), then ``initdb`` on ``PATH``.
    """
    env = os.environ.get("CHURNLAKE_PG_BINDIR")
    if env:
        p = Path(env)
        if (p / "initdb").is_file() and (p / "pg_ctl").is_file():
            return p
        raise PostgresNotInstalledError(
            f"CHURNLAKE_PG_BINDIR={env} has no initdb/pg_ctl; {INSTALL_HINT}"
        )

    def major(path: str) -> tuple:
        m = re.search(r"/postgresql/([0-9.]+)/bin/", path)
        return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=major)
    for initdb in reversed(found):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").is_file() and (bindir / "postgres").is_file():
            return bindir
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    raise PostgresNotInstalledError(
        "PostgreSQL server binaries not found (looked for /usr/lib/postgresql/*/bin/initdb "
        f"and initdb on PATH); {INSTALL_HINT}"
    )


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LocalPostgres:
    """A PostgreSQL server for tests and the demo.

    :param data_dir: folder for the cluster, the socket and the log; an existing cluster
        there is reused (warm start), otherwise ``initdb`` creates one.
    :param port: TCP port on 127.0.0.1; ``None`` picks a free one at each start.
    :param user: superuser role created by ``initdb`` and used in :attr:`url`.
    :param dbname: database created at the first start and used in :attr:`url`.
    :param fast: turn off fsync/synchronous_commit/full_page_writes (test data only).
    :param run_as: OS user that runs the server when this process is root
        (default ``postgres``); ignored when not root.
    :param start_timeout: seconds to wait for the server to accept connections.
    """

    def __init__(
        self,
        data_dir,
        port: Optional[int] = None,
        *,
        user: str = "churnlake",
        dbname: str = "churnlake",
        fast: bool = True,
        run_as: Optional[str] = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.requested_port = port
        self.port: Optional[int] = None
        self.host = "127.0.0.1"
        self.user = user
        self.dbname = dbname
        self.fast = fast
        self.start_timeout = start_timeout
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self.socket_dir = self.data_dir / "socket"
        self._short_socket_dir: Optional[Path] = None
        self._run_as = run_as
        self._run_user: Optional[pwd.struct_passwd] = None
        self._bindir: Optional[Path] = None
        self._running = False
        self.start_seconds: Optional[float] = None

    # ------------------------------------------------------------------ public API
    @property
    def url(self) -> str:
        """SQLAlchemy URL: ``postgresql+psycopg://user@127.0.0.1:port/dbname``."""
        self._require_running()
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def dsn(self) -> str:
        """libpq/psycopg connection string for the same database."""
        self._require_running()
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def jdbc_url(self) -> str:
        """JDBC URL (for Spark's JDBC source, with ``user`` passed separately)."""
        self._require_running()
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.dbname}"

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> "LocalPostgres":
        """initdb (first time only), start the server, create :attr:`dbname`; idempotent."""
        if self._running:
            return self
        t0 = time.monotonic()
        self._bindir = find_pg_bindir()
        self._prepare_user()
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").is_file():
            self._initdb()
        self._stop_stale_server()

        attempts = 1 if self.requested_port else 3
        last_error: Optional[Exception] = None
        for _ in range(attempts):
            self.port = self.requested_port or free_port()
            self._write_conf()
            try:
                self._pg_ctl_start()
                break
            except PostgresStartError as exc:  # port taken between pick and bind: retry
                last_error = exc
                if "already in use" not in str(exc) and "could not bind" not in str(exc):
                    raise
        else:
            raise last_error  # type: ignore[misc]
        self._running = True
        atexit.register(self._atexit_stop)
        try:
            self._ensure_database()
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        log.info("PostgreSQL up on 127.0.0.1:%s in %.1fs (%s)", self.port, self.start_seconds, self.data_dir)
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown); the data stays in ``data_dir``. Idempotent."""
        if not self._running:
            return
        try:
            pid = self._postmaster_pid()
            if self._run_user is not None:
                # Another pytest session may have reset its temp root to 0700 meanwhile.
                self._grant_traverse(self.data_dir.parent, self._run_user)
            proc = self._run(
                [str(self._bindir / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60"],
                as_server_user=True,
                check=False,
            )
            if pid is not None and pid_alive(pid):
                # pg_ctl could not do it (e.g. data dir no longer reachable): SIGINT is what
                # "fast" shutdown sends; SIGQUIT (immediate) if that does not end it.
                log.warning("pg_ctl stop failed (%s); signalling postmaster %s", proc.stdout.strip(), pid)
                for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                    if wait_pid_exit(pid, wait):
                        break
        finally:
            self._running = False
            atexit.unregister(self._atexit_stop)
            if self._short_socket_dir is not None:
                shutil.rmtree(self._short_socket_dir, ignore_errors=True)
                self._short_socket_dir = None

    def _postmaster_pid(self) -> Optional[int]:
        try:
            first = (self.pgdata / "postmaster.pid").read_text().splitlines()[0]
            return int(first.strip())
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"127.0.0.1:{self.port}" if self._running else "stopped"
        return f"LocalPostgres({str(self.data_dir)!r}, {state})"

    # ------------------------------------------------------------------ internals
    def _require_running(self) -> None:
        if not self._running:
            raise RuntimeError("LocalPostgres is not running; call start() first")

    def _atexit_stop(self) -> None:
        try:
            self.stop()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            self._run_user = None
            return
        name = self._run_as or "postgres"
        try:
            self._run_user = pwd.getpwnam(name)
        except KeyError:
            raise PostgresStartError(
                f"running as root, and PostgreSQL refuses to run as root; the system user "
                f"{name!r} that should own the server does not exist ({INSTALL_HINT}; the "
                "Debian package creates the 'postgres' user), or pass run_as=<user>"
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresStartError("running as root but 'runuser' (util-linux) is missing")

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        sock_dir = self.socket_dir
        if len(str(sock_dir)) + len("/.s.PGSQL.65535") > _MAX_SOCKET_PATH:
            self._short_socket_dir = Path(tempfile.mkdtemp(prefix="clpg-"))
            sock_dir = self._short_socket_dir
        self._effective_socket_dir = sock_dir
        self.log_path.touch(exist_ok=True)
        if self._run_user is not None:
            uid, gid = self._run_user.pw_uid, self._run_user.pw_gid
            for p in (self.data_dir, self.socket_dir, self.log_path, sock_dir):
                os.chown(p, uid, gid)
            if self.pgdata.stat().st_uid != uid:
                for root, _dirs, files in os.walk(self.pgdata):
                    os.chown(root, uid, gid)
                    for f in files:
                        os.chown(os.path.join(root, f), uid, gid)
            self._grant_traverse(self.data_dir.parent, self._run_user)
            self._grant_traverse(sock_dir.parent, self._run_user)
        os.chmod(self.pgdata, 0o700)

    @staticmethod
    def _grant_traverse(directory: Path, user: pwd.struct_passwd) -> None:
        """Make sure ``user`` can enter every folder from / down to ``directory``."""
        import grp

        groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
        for d in reversed([directory, *directory.parents]):
            st = d.stat()
            if st.st_uid == user.pw_uid:
                ok = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid in groups:
                ok = bool(st.st_mode & stat.S_IXGRP)
            else:
                ok = bool(st.st_mode & stat.S_IXOTH)
            if not ok:
                log.warning("granting search permission (o+x) on %s so %s can reach the data dir", d, user.pw_name)
                os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    def _run(self, cmd: Sequence[str], *, as_server_user: bool, check: bool = True, timeout: float = 120):
        if as_server_user and self._run_user is not None:
            cmd = ["runuser", "-u", self._run_user.pw_name, "--", *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.setdefault("LC_ALL", "C.UTF-8")
        proc = subprocess.run(
            list(cmd),
            cwd=str(self.data_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise PostgresStartError(
                f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout.strip()}\n"
                f"--- tail of {self.log_path} ---\n{tail(self.log_path)}"
            )
        return proc

    def _initdb(self) -> None:
        self._run(
            [
                str(self._bindir / "initdb"),
                "-D", str(self.pgdata),
                "-U", self.user,
                "-E", "UTF8",
                "--no-locale",
                "--auth-local=trust",
                "--auth-host=trust",
                "--no-instructions",
            ],
            as_server_user=True,
        )
        # Only the socket and 127.0.0.1 -- nothing else may connect.
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(
            "# written by churnlake.services.postgres\n"
            "local   all   all                  trust\n"
            "host    all   all   127.0.0.1/32   trust\n"
        )
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write("\ninclude_if_exists = 'churnlake.conf'\n")
        if self._run_user is not None:
            os.chown(hba, self._run_user.pw_uid, self._run_user.pw_gid)

    def _write_conf(self) -> None:
        lines = [
            "# rewritten at every start by churnlake.services.postgres",
            "listen_addresses = '127.0.0.1'",
            f"port = {int(self.port)}",
            f"unix_socket_directories = {_conf_quote(str(self._effective_socket_dir))}",
            "max_connections = 50",
            "logging_collector = off",
        ]
        if self.fast:
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = self.pgdata / "churnlake.conf"
        conf.write_text("\n".join(lines) + "\n")
        if self._run_user is not None:
            os.chown(conf, self._run_user.pw_uid, self._run_user.pw_gid)

    def _stop_stale_server(self) -> None:
        """A server left running on this data dir (crashed test run) is stopped first."""
        if not (self.pgdata / "postmaster.pid").exists():
            return
        st = self._run([str(self._bindir / "pg_ctl"), "status", "-D", str(self.pgdata)], as_server_user=True, check=False)
        if st.returncode == 0:
            log.warning("stopping a PostgreSQL server left running on %s", self.pgdata)
            self._run(
                [str(self._bindir / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
                as_server_user=True, check=False,
            )

    def _pg_ctl_start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        proc = self._run(
            [
                str(self._bindir / "pg_ctl"), "start",
                "-D", str(self.pgdata),
                "-l", str(self.log_path),
                "-w", "-t", str(int(self.start_timeout)),
            ],
            as_server_user=True,
            check=False,
            timeout=self.start_timeout + 30,
        )
        if proc.returncode != 0:
            with open(self.log_path, errors="replace") as f:
                f.seek(offset)
                new_log = f.read()[-4000:]
            raise PostgresStartError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port} (pg_ctl exit {proc.returncode}): "
                f"{proc.stdout.strip()}\n--- server log ({self.log_path}) ---\n{new_log}"
            )

    def _ensure_database(self) -> None:
        psql = [
            str(self._bindir / "psql"), "-X", "-q", "-h", self.host, "-p", str(self.port),
            "-U", self.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tA",
        ]
        out = self._run(
            psql + ["-c", f"SELECT 1 FROM pg_database WHERE datname = '{self.dbname.replace(chr(39), chr(39) * 2)}'"],
            as_server_user=False,
        ).stdout.strip()
        if out != "1":
            ident = '"' + self.dbname.replace('"', '""') + '"'
            self._run(psql + ["-c", f"CREATE DATABASE {ident}"], as_server_user=False)
