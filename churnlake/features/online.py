"""Online feature store for inference: the latest features per customer in a SQL database.

SQLite through SQLAlchemy by default (``<state_dir>/online_store.db``); any SQLAlchemy URL
works (PostgreSQL: ``postgresql+psycopg://…``) via ``feature_store.online_url``. One table
per feature group (``features_<group>``, primary key the join key) is replaced atomically
by :func:`materialize`; ``online_materializations`` records what each load came from.

    python -m churnlake.features.online get 7590-VHVEG 5575-GNVDE     # JSON, one object per customer
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import sqlalchemy as sa

from churnlake.config import Config, load_config
from churnlake.features.registry import FeatureGroup, load_registry

SQL_TYPES = {"string": sa.Text, "int": sa.Integer, "bigint": sa.BigInteger, "double": sa.Float,
             "boolean": sa.Boolean, "date": sa.Date, "timestamp": sa.DateTime}


def online_url(cfg: Config) -> str:
    """The configured online-store URL (default: SQLite in the state dir)."""
    url = (cfg.raw.get("feature_store") or {}).get("online_url")
    return url or f"sqlite:///{cfg.state_dir / 'online_store.db'}"


def engine_for(url: str) -> sa.Engine:
    """An engine for the store; a SQLite file's folder is created when missing."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


def table_name(group: FeatureGroup) -> str:
    return f"features_{group.name}"


def _table(meta: sa.MetaData, name: str, group: FeatureGroup) -> sa.Table:
    return sa.Table(name, meta, sa.Column(group.join_key, sa.String(64), primary_key=True),
                    sa.Column(group.timestamp, sa.Date, nullable=False),
                    *[sa.Column(f.name, SQL_TYPES[f.dtype]()) for f in group.features])


def _log_table(meta: sa.MetaData) -> sa.Table:
    return sa.Table("online_materializations", meta,
                    sa.Column("id", sa.String(36), primary_key=True),
                    sa.Column("feature_group", sa.String(100), nullable=False),
                    sa.Column("as_of_date", sa.Date, nullable=False),
                    sa.Column("delta_version", sa.Integer, nullable=False),
                    sa.Column("registry_version", sa.Text, nullable=False),
                    sa.Column("rows", sa.Integer, nullable=False),
                    sa.Column("materialized_at", sa.DateTime, nullable=False))


def materialize(engine: sa.Engine, group: FeatureGroup, rows: Iterable[dict], *, as_of_date: dt.date,
                delta_version: int, batch_size: int = 5000) -> int:
    """Replace the group's online table with ``rows`` (dicts keyed by column name) in one swap.

    Rows are loaded into a new table, then old and new are swapped inside one transaction,
    so readers see either the previous load or the complete new one.
    """
    final = table_name(group)
    staging = f"{final}__{uuid.uuid4().hex[:8]}"
    meta = sa.MetaData()
    new = _table(meta, staging, group)
    log = _log_table(meta)
    meta.create_all(engine, tables=[new, log])
    count, batch = 0, []
    with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                conn.execute(new.insert(), batch)
                count, batch = count + len(batch), []
        if batch:
            conn.execute(new.insert(), batch)
            count += len(batch)
    with engine.begin() as conn:
        if sa.inspect(conn).has_table(final):
            conn.execute(sa.text(f'DROP TABLE "{final}"'))
        conn.execute(sa.text(f'ALTER TABLE "{staging}" RENAME TO "{final}"'))
        conn.execute(log.insert().values(id=str(uuid.uuid4()), feature_group=group.name, as_of_date=as_of_date,
                                         delta_version=delta_version, registry_version=group.registry_version,
                                         rows=count, materialized_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
    return count


class OnlineStore:
    """Low-latency lookups of the latest materialised features (one open connection)."""

    def __init__(self, url: str, group: str = "customer_churn") -> None:
        self.group = load_registry()[group]
        self.engine = engine_for(url)
        self.conn = self.engine.connect()
        self.table = _table(sa.MetaData(), table_name(self.group), self.group)
        key = self.table.c[self.group.join_key]
        self._one = sa.select(self.table).where(key == sa.bindparam("k"))

    def get(self, customer_id: str) -> dict | None:
        """The features of one customer, or None when the store does not know it."""
        row = self.conn.execute(self._one, {"k": customer_id}).mappings().first()
        return None if row is None else dict(row)

    def get_many(self, customer_ids: Sequence[str]) -> dict[str, dict | None]:
        """The features of many customers (None for unknown ones), in one query."""
        key = self.table.c[self.group.join_key]
        rows = self.conn.execute(sa.select(self.table).where(key.in_(list(customer_ids)))).mappings().all()
        found = {r[self.group.join_key]: dict(r) for r in rows}
        return {c: found.get(c) for c in customer_ids}

    def last_materialization(self) -> dict | None:
        log = _log_table(sa.MetaData())
        row = self.conn.execute(sa.select(log).where(log.c.feature_group == self.group.name)
                                .order_by(log.c.materialized_at.desc()).limit(1)).mappings().first()
        return None if row is None else dict(row)

    def materialized(self, as_of_date: dt.date) -> bool:
        """True when a load of ``as_of_date``'s snapshot is recorded."""
        log = _log_table(sa.MetaData())
        try:
            row = self.conn.execute(sa.select(log.c.id).where(
                (log.c.feature_group == self.group.name) & (log.c.as_of_date == as_of_date)).limit(1)).first()
        except sa.exc.OperationalError:  # nothing materialised yet: no log table
            return False
        return row is not None

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """``get ID [ID ...]``: print the features of customers as JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] != "get":
        print("usage: python -m churnlake.features.online get CUSTOMER_ID [CUSTOMER_ID ...]", file=sys.stderr)
        return 2
    store = OnlineStore(online_url(load_config()))
    try:
        found = store.get_many(argv[1:])
    except sa.exc.OperationalError as exc:
        print(f"the online store has no features yet (run jobs/features/materialize_online.py): {exc.orig}",
              file=sys.stderr)
        return 1
    finally:
        store.close()
    print(json.dumps(found, default=str, indent=2))
    return 0 if all(v is not None for v in found.values()) else 3


if __name__ == "__main__":
    sys.exit(main())
