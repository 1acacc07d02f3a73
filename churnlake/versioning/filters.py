"""The ``--where`` filter of ``versions.py show``: one boolean expression on the table's columns.

The filter is an operator's input (whoever runs versions.py can read every table anyway), but
it is still held to what it is for: one Spark SQL expression applied with
``DataFrame.where`` — no statement separator, no comment that could hide the rest of a line,
no subquery reaching into other tables. Anything else is refused before Spark sees it, naming
what was found.
"""

from __future__ import annotations

import re

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def checked_filter(text: str) -> str:
    """``text`` when it is a plain filter expression, else ``ValueError`` saying why not."""
    if not text or not text.strip():
        raise ValueError("--where is empty: give a filter such as \"customer_id = '7590-VHVEG'\"")
    bare = _STRING.sub("''", text)  # what is inside string literals is data, not syntax
    if ";" in bare:
        raise ValueError(f"--where must be one expression, not statements (found ';'): {text!r}")
    if "--" in bare or "/*" in bare:
        raise ValueError(f"--where must not contain a comment ('--' or '/*'): {text!r}")
    if re.search(r"\bselect\b", bare, re.I):
        raise ValueError(f"--where filters the table's own columns; subqueries (SELECT …) are not allowed: {text!r}")
    return text
