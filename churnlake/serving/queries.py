"""The sample queries of ``sql/queries/`` with their variables bound as parameters.

The files use Spark's ``'${name}'`` variable syntax so that an analyst can run them with
``beeline --hivevar name=value -f …`` (``./engine.sh sql``): that is *text substitution* by
the server, fine for a person typing their own values at a SQL prompt (they can type any SQL
there anyway), wrong for an application that passes on a value it received. Applications use
:func:`run_query`: each ``'${name}'`` becomes a bound parameter, escaped by the DB-API driver
(PyHive's ``pyformat``), so a value is always one string literal and never changes the query.

    from pyhive import hive
    from churnlake.serving.queries import run_query
    cursor = hive.connect(host="127.0.0.1", port=10000, username="app").cursor()
    run_query(cursor, "customer_features.sql", customer_id=request_args["id"])
    rows = cursor.fetchall()
"""

from __future__ import annotations

import re
from pathlib import Path

from churnlake.config import PROJECT_ROOT

QUERIES_DIR = PROJECT_ROOT / "sql" / "queries"
_VARIABLE = re.compile(r"'\$\{(\w+)\}'")
_ANY_VARIABLE = re.compile(r"\$\{(\w+)\}")


def bound_query(name: str, queries_dir: Path = QUERIES_DIR) -> tuple[str, list[str]]:
    """``(sql with %(var)s placeholders, variable names)`` of ``queries_dir/name``."""
    path = queries_dir / name
    if path.parent != queries_dir or not path.is_file():
        raise ValueError(f"no query {name!r} in {queries_dir}")
    text = path.read_text(encoding="utf-8")
    sql = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()
    sql = sql.replace("%", "%%")  # literal percent signs survive the driver's formatting
    names = _VARIABLE.findall(sql)
    unquoted = set(_ANY_VARIABLE.findall(_VARIABLE.sub("", sql)))
    if unquoted:
        raise ValueError(f"{name}: variables {sorted(unquoted)} are not inside quotes ('${{name}}'); "
                         "only string literals can be bound")
    return _VARIABLE.sub(lambda m: f"%({m.group(1)})s", sql).rstrip(";"), names


def run_query(cursor, name: str, **params: str):
    """Execute a sample query on a DB-API cursor with its variables bound from ``params``."""
    sql, names = bound_query(name)
    missing = sorted(set(names) - set(params))
    if missing:
        raise ValueError(f"{name} needs {', '.join(missing)}")
    cursor.execute(sql, {k: str(params[k]) for k in names})
    return cursor
