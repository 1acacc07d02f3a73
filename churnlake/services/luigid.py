"""The Luigi central scheduler (luigid) on 127.0.0.1, with task history in SQLite.

    python -m churnlake.services.luigid start [--port 8082]   # or: make luigid-start
    python -m churnlake.services.luigid status | stop

State (``<state_dir>/luigi/state.pickle``) survives restarts; task history goes to
``<state_dir>/luigi/task-history.db`` (the visualiser's History tab); logs to
``<logs_dir>/luigid/``. luigi 3.8.1's history schema upgrade runs raw SQL strings, which
SQLAlchemy 2 refuses (spotify/luigi #3227, open): the server is started through
:func:`serve`, which first replaces that one function with a ``sqlalchemy.text`` version.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from churnlake.config import Config, load_config
from churnlake.services.process import Daemon

log = logging.getLogger(__name__)
DEFAULT_PORT = 8082
MARKER = "churnlake.services.luigid"


def upgrade_schema(engine) -> None:
    """luigi's ``_upgrade_schema`` for SQLAlchemy 2: the same two upgrades, as ``text()``."""
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        if "task_id" not in [c["name"] for c in inspector.get_columns("tasks")]:
            log.warning("upgrading the task-history schema: adding tasks.task_id")
            conn.execute(sa.text("ALTER TABLE tasks ADD COLUMN task_id VARCHAR(200)"))
            conn.execute(sa.text("CREATE INDEX ix_task_id ON tasks (task_id)"))
        if engine.dialect.name == "postgresql":
            value = [c for c in inspector.get_columns("task_parameters") if c["name"] == "value"][0]
            if str(value["type"]) != "TEXT":
                conn.execute(sa.text("ALTER TABLE task_parameters ALTER COLUMN value TYPE TEXT"))


def paths(cfg: Config) -> dict[str, Path]:
    """Where luigid keeps its state, history, logs and pid file."""
    state = cfg.state_dir / "luigi"
    return {"state": state / "state.pickle", "history": state / "task-history.db",
            "logdir": cfg.logs_dir / "luigid", "pid": state / "luigid.pid", "log": cfg.logs_dir / "luigid.log"}


def serve(argv: list[str]) -> None:
    """Run luigid in this process (foreground) with task history on; ``argv`` as for luigid plus
    ``--history-db URL``."""
    import luigi.cmdline
    import luigi.configuration
    import luigi.db_task_history

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--history-db", required=True)
    known, rest = parser.parse_known_args(argv)
    config = luigi.configuration.get_config()
    config.set("scheduler", "record_task_history", "true")
    if not config.has_section("task_history"):
        config.add_section("task_history")
    config.set("task_history", "db_connection", known.history_db)
    luigi.db_task_history._upgrade_schema = upgrade_schema
    luigi.cmdline.luigid(rest)


def server(cfg: Config, port: int = DEFAULT_PORT) -> Daemon:
    """The luigid daemon handle for this checkout's state dir."""
    p = paths(cfg)
    return Daemon("luigid", p["pid"], p["log"], "127.0.0.1", port, MARKER)


def start(cfg: Config, port: int = DEFAULT_PORT, timeout: float = 60.0) -> float:
    """Start luigid in the background on 127.0.0.1:``port``; return the seconds it took."""
    p = paths(cfg)
    for folder in (p["state"].parent, p["logdir"]):
        folder.mkdir(parents=True, exist_ok=True)  # luigid's --logdir must exist beforehand
    cmd = [sys.executable, "-m", MARKER, "serve", "--history-db", f"sqlite:///{p['history']}",
           "--address", "127.0.0.1", "--port", str(port), "--logdir", str(p["logdir"]),
           "--state-path", str(p["state"])]
    conf = cfg.root_dir / "conf" / "luigi.cfg"
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(conf)}
    return server(cfg, port).start(cmd, env, cfg.root_dir, timeout)


def main(argv: list[str] | None = None) -> int:
    """``start`` / ``stop`` / ``status`` (and the internal ``serve``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description="The Luigi central scheduler for churnlake")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHURNLAKE_LUIGID_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    cfg = load_config()
    daemon = server(cfg, args.port)
    if args.command == "start":
        seconds = start(cfg, args.port)
        print(f"luigid listening on http://127.0.0.1:{args.port} after {seconds:.1f}s "
              f"(history {paths(cfg)['history']}, log {paths(cfg)['log']})")
    elif args.command == "stop":
        print("luigid stopped" if daemon.stop() else "luigid was not running")
    else:
        pid = daemon.pid()
        print(f"luigid running (pid {pid}) on http://127.0.0.1:{args.port}" if pid else "luigid not running")
        return 0 if pid else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
