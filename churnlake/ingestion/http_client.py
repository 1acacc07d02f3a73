"""Client for the support-ticket REST API (pure Python, ``requests``; no Spark).

:func:`fetch_tickets` reads every ticket changed after a composite watermark
``(updated_at, ticket_id)`` by following ``next_page`` until it is null. Each
HTTP request is retried on its own (connection errors, timeouts, 5xx, 429 and
200 answers whose body is not a valid page) with exponential backoff and full
jitter, honouring ``Retry-After``. The result is all or nothing: a request
whose retry budget is spent raises :class:`FetchError` and no records are
returned, so the caller only commits complete fetches. See
``docs/ingestion_http.md``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping

import requests

logger = logging.getLogger(__name__)

__all__ = ["FetchError", "FetchResult", "fetch_tickets", "token_from_env", "watermark_key",
           "DEFAULT_TOKEN_ENV", "TICKETS_PATH"]

DEFAULT_TOKEN_ENV = "CHURNLAKE_TICKETS_TOKEN"
TICKETS_PATH = "/api/v1/tickets"

#: Watermark: ``(updated_at as ISO-8601 UTC string, ticket_id)``.
Watermark = tuple[str, int | str]

_RETRYABLE_STATUS = frozenset({429}) | frozenset(range(500, 600))
_RETRY_AFTER_STATUS = frozenset({429, 503})
_RETRYABLE_EXC = (requests.ConnectionError, requests.Timeout,
                  requests.exceptions.ChunkedEncodingError,
                  requests.exceptions.ContentDecodingError)
_INT_RE = re.compile(r"[+-]?\d+")
_ERRNO_RE = re.compile(r"\[Errno -?\d+\][^'\")]*")


class FetchError(RuntimeError):
    """A ticket API request failed for good (retry budget spent or a non-retryable answer).

    Attributes: ``url`` (endpoint without query), ``page``, ``attempts`` (requests made
    for that page), ``cause`` (``"HTTP 503"``, ``"ReadTimeout ..."``, ...) and
    ``status`` (last HTTP status, or None when no answer arrived).
    """

    def __init__(self, message: str, *, url: str = "", page: int = 0, attempts: int = 0,
                 cause: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.page = page
        self.attempts = attempts
        self.cause = cause
        self.status = status


@dataclass
class FetchResult:
    """Outcome of one complete :func:`fetch_tickets` call.

    ``records`` are the API's ticket dicts (unchanged), newer than ``after``, one per
    ``ticket_id``, sorted by ``(updated_at, ticket_id)``. ``pages`` counts pages read,
    ``attempts`` every HTTP request sent (retries included), ``bytes`` the body bytes
    of every answer received, ``retries`` the requests that were repeated, and
    ``high_watermark`` is the largest ``(updated_at, ticket_id)`` among ``records``
    (``updated_at`` normalised to ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``) or None if empty.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    attempts: int = 0
    bytes: int = 0
    retries: int = 0
    high_watermark: Watermark | None = None


def token_from_env(var: str = DEFAULT_TOKEN_ENV) -> str:
    """Return the bearer token held in environment variable ``var``.

    Raises ``ValueError`` naming the variable when it is unset or empty (blank).
    """
    token = os.environ.get(var, "").strip()
    if not token:
        raise ValueError(f"environment variable {var} must hold the ticket API bearer token "
                         f"(it is unset or empty)")
    return token


# -- watermark helpers ------------------------------------------------------------------

def _parse_ts(value: Any) -> datetime:
    """ISO-8601 string (``Z``, offset or naive = UTC) -> naive UTC datetime; ValueError if not."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not an ISO-8601 timestamp string: {value!r}")
    v = value.strip()
    if v.endswith(("Z", "z")):
        v = v[:-1] + "+00:00"
    ts = datetime.fromisoformat(v)
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def _format_ts(ts: datetime) -> str:
    """Naive UTC datetime -> ``YYYY-MM-DDTHH:MM:SSZ`` (``.ffffff`` only when non-zero)."""
    if ts.microsecond:
        return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _id_key(ticket_id: Any) -> tuple[int, int | str]:
    """Total order on ticket ids: integers (and integer strings) numerically, then other strings."""
    if isinstance(ticket_id, bool):
        raise ValueError(f"ticket_id must be an int or a string, got {ticket_id!r}")
    if isinstance(ticket_id, int):
        return (0, ticket_id)
    if isinstance(ticket_id, str) and ticket_id.strip():
        s = ticket_id.strip()
        return (0, int(s)) if _INT_RE.fullmatch(s) else (1, s)
    raise ValueError(f"ticket_id must be an int or a non-empty string, got {ticket_id!r}")


def watermark_key(updated_at: str, ticket_id: int | str) -> tuple[datetime, tuple[int, int | str]]:
    """Comparable key of ``(updated_at, ticket_id)``: parsed UTC datetime, then typed id.

    ``updated_at`` is parsed (``Z``, ``+00:00`` and fractional seconds compare by
    instant, not as text); ``ticket_id`` compares numerically when it is an int or an
    integer string. Raises ``ValueError`` for an unparsable value.
    """
    return (_parse_ts(updated_at), _id_key(ticket_id))


# -- retry helpers ----------------------------------------------------------------------

def _retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` (delta seconds, int or float, or an HTTP date) -> seconds >= 0, or None."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    try:
        seconds = float(v)
    except ValueError:
        try:
            when = parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


def _backoff_delay(attempt: int, base: float, cap: float, rng: random.Random,
                   retry_after: float | None) -> float:
    """Full-jitter delay after failed attempt ``attempt`` (1-based), raised to ``retry_after``.

    ``uniform(0, min(cap, base * 2 ** (attempt - 1)))``; with a ``Retry-After`` the
    delay is at least that long; never more than ``cap``.
    """
    ceiling = min(cap, base * (2.0 ** (attempt - 1)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


def _describe_exception(exc: BaseException) -> str:
    """Short cause for logs and errors, e.g. ``ConnectionError: [Errno 111] Connection refused``."""
    name = type(exc).__name__
    text = str(exc)
    m = _ERRNO_RE.search(text)
    if m:
        text = m.group(0).strip()
    elif len(text) > 200:
        text = text[:200] + "..."
    return f"{name}: {text}" if text else name


def _server_message(resp: requests.Response) -> str:
    """The ``error`` field of a JSON error body, else a short prefix of the body."""
    try:
        body = json.loads(resp.content)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    except ValueError:
        pass
    return resp.text[:200].strip()


class _MalformedPage(ValueError):
    """A 200 answer that is not a valid page."""


def _check_page(body: Any, page: int) -> tuple[list[dict[str, Any]], int | None]:
    """Validate the page shape; returns ``(data, next_page)`` or raises ``_MalformedPage``."""
    if not isinstance(body, dict):
        raise _MalformedPage(f"body is a {type(body).__name__}, not an object")
    data = body.get("data")
    if not isinstance(data, list):
        raise _MalformedPage("'data' is missing or not a list")
    if "next_page" not in body:
        raise _MalformedPage("'next_page' is missing")
    nxt = body["next_page"]
    if nxt is not None and (isinstance(nxt, bool) or not isinstance(nxt, int) or nxt <= page):
        raise _MalformedPage(f"'next_page' must be null or an int > {page}, got {nxt!r}")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise _MalformedPage(f"data[{i}] is not an object")
        try:
            watermark_key(rec.get("updated_at"), rec.get("ticket_id"))
        except (ValueError, TypeError) as exc:
            raise _MalformedPage(f"data[{i}] has no valid updated_at/ticket_id: {exc}") from exc
    return data, nxt


# -- the client -------------------------------------------------------------------------

@dataclass
class _Counters:
    attempts: int = 0
    bytes: int = 0
    retries: int = 0


def _get_page(session: requests.Session, url: str, params: Mapping[str, Any], page: int,
              *, timeout: float, max_attempts: int, backoff_base: float, backoff_max: float,
              rng: random.Random, sleep: Callable[[float], Any],
              counters: _Counters) -> tuple[list[dict[str, Any]], int | None]:
    """One page with retries; returns ``(data, next_page)`` or raises :class:`FetchError`."""
    cause = ""
    status: int | None = None
    for attempt in range(1, max_attempts + 1):
        counters.attempts += 1
        retry_after: float | None = None
        status = None
        try:
            resp = session.get(url, params=params, timeout=(timeout, timeout))
            content = resp.content  # read the whole body inside the try (may time out)
        except _RETRYABLE_EXC as exc:
            cause = _describe_exception(exc)
        except requests.RequestException as exc:  # invalid URL, schema, ...: not retryable
            cause = _describe_exception(exc)
            raise FetchError(f"ticket API fetch failed: page {page} of {url} after {attempt} "
                             f"attempt{'s' if attempt != 1 else ''}: {cause} (not retried)",
                             url=url, page=page, attempts=attempt, cause=cause) from exc
        else:
            counters.bytes += len(content)
            status = resp.status_code
            if 200 <= status < 300:
                try:
                    return _check_page(json.loads(content), page)
                except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, _MalformedPage
                    cause = f"malformed page (HTTP {status}): {exc}"
            elif status in _RETRYABLE_STATUS:
                cause = f"HTTP {status}"
                if status in _RETRY_AFTER_STATUS:
                    retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
            else:
                cause = f"HTTP {status}"
                detail = _server_message(resp)
                hint = " (check the bearer token)" if status in (401, 403) else ""
                raise FetchError(f"ticket API fetch failed: page {page} of {url} after {attempt} "
                                 f"attempt{'s' if attempt != 1 else ''}: {cause} (not retried)"
                                 f"{': ' + detail if detail else ''}{hint}",
                                 url=url, page=page, attempts=attempt, cause=cause, status=status)
        if attempt == max_attempts:
            break
        delay = _backoff_delay(attempt, backoff_base, backoff_max, rng, retry_after)
        logger.warning("ticket API page %d of %s: attempt %d/%d failed (%s)%s; retrying in %.3f s",
                       page, url, attempt, max_attempts, cause,
                       f" Retry-After {retry_after:g} s" if retry_after is not None else "", delay)
        counters.retries += 1
        sleep(delay)
    raise FetchError(f"ticket API fetch failed: page {page} of {url} after {max_attempts} "
                     f"attempt{'s' if max_attempts != 1 else ''}: {cause}",
                     url=url, page=page, attempts=max_attempts, cause=cause, status=status)


def fetch_tickets(base_url: str, token: str, *, after: Watermark | None, page_size: int = 500,
                  timeout: float = 10.0, max_attempts: int = 6, backoff_base: float = 0.5,
                  backoff_max: float = 30.0, rng: random.Random | None = None,
                  sleep: Callable[[float], Any] = time.sleep) -> FetchResult:
    """Fetch every ticket changed after the watermark ``after`` from the ticket API.

    ``after`` is ``(updated_at, ticket_id)`` of the last record already ingested, or
    None for a full read. The API's ``updated_since`` is inclusive, so
    ``updated_since=after[0]`` is sent and records whose :func:`watermark_key` is
    ``<= watermark_key(*after)`` are dropped. Records are deduplicated by
    ``ticket_id`` (the greatest ``updated_at`` wins) and sorted by
    ``(updated_at, ticket_id)``.

    Each request is retried up to ``max_attempts`` times in total on connection
    errors, timeouts (``timeout`` seconds for connect and for each read), 5xx, 429
    and malformed 200 pages, sleeping ``uniform(0, min(backoff_max, backoff_base *
    2**(attempt-1)))`` seconds, but at least ``Retry-After`` on 429/503 (capped at
    ``backoff_max``). Other 4xx (401 bad token, 400) fail at once.

    Raises :class:`FetchError` when a request fails for good (nothing is returned),
    ``ValueError`` for invalid arguments.
    """
    if not base_url or not isinstance(base_url, str):
        raise ValueError("base_url must be a non-empty string")
    if not token:
        raise ValueError(f"token must be a non-empty string (see {DEFAULT_TOKEN_ENV})")
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if backoff_base < 0 or backoff_max < 0:
        raise ValueError("backoff_base and backoff_max must be >= 0")
    after_key = None
    if after is not None:
        if not isinstance(after, (tuple, list)) or len(after) != 2:
            raise ValueError(f"after must be (updated_at, ticket_id) or None, got {after!r}")
        try:
            after_key = watermark_key(after[0], after[1])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid watermark after={after!r}: {exc}") from exc
    rng = rng if rng is not None else random.Random()
    url = base_url.rstrip("/") + TICKETS_PATH
    counters = _Counters()
    best: dict[Any, tuple[tuple[datetime, tuple[int, int | str]], dict[str, Any]]] = {}
    pages = 0
    page: int | None = 1
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Bearer {token}",
                                "Accept": "application/json"})
        while page is not None:
            params: dict[str, Any] = {"page": page, "page_size": page_size}
            if after is not None:
                params["updated_since"] = after[0]
            data, next_page = _get_page(session, url, params, page, timeout=timeout,
                                        max_attempts=max_attempts, backoff_base=backoff_base,
                                        backoff_max=backoff_max, rng=rng, sleep=sleep,
                                        counters=counters)
            pages += 1
            logger.debug("ticket API page %d: %d records, next %s", page, len(data), next_page)
            for rec in data:
                key = watermark_key(rec["updated_at"], rec["ticket_id"])
                if after_key is not None and key <= after_key:
                    continue
                ident = key[1]  # typed id: 7 and "7" are the same ticket
                old = best.get(ident)
                if old is None or key >= old[0]:
                    best[ident] = (key, rec)
            page = next_page
    ordered = sorted(best.values(), key=lambda kr: kr[0])
    records = [rec for _, rec in ordered]
    high: Watermark | None = None
    if ordered:
        top_key, top = ordered[-1]
        high = (_format_ts(top_key[0]), top["ticket_id"])
    logger.info("ticket API fetch from %s: %d records in %d pages, %d requests (%d retries), "
                "%d bytes, high watermark %s", url, len(records), pages, counters.attempts,
                counters.retries, counters.bytes, high)
    return FetchResult(records=records, pages=pages, attempts=counters.attempts,
                       bytes=counters.bytes, retries=counters.retries, high_watermark=high)
