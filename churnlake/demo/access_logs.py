"""Demo web-portal access logs: hourly files in Apache combined log format.

One file per UTC hour of the last ``days`` days up to the as-of date:
``access_logs/access-YYYY-MM-DD-HH.log`` (every hour gets a file, maybe empty).
Lines are in time order::

    10.23.7.141 - 7590-VHVEG [27/Nov/2026:19:04:11 +0000] "GET /billing HTTP/1.1" 200 7012 "https://portal.telco.example/dashboard" "Mozilla/5.0 (...)"

The **customer id is in the authuser field** (3rd field); ``-`` marks
anonymous requests (the login page, health checks, crawlers). A session is
``GET /login`` (anonymous), ``POST /login`` (302, customer id; rarely a 401
first), ``GET /dashboard`` and further pages, sometimes ``GET /logout``. So
logins per customer = ``POST /login`` lines with status 302.

IPs are private-range (10/8 at home, 172.16/12 on mobile, 192.168/16 for
crawlers) and are meant to be pseudonymised downstream. Generation is
streaming: sessions of one day are drawn per customer, then their requests are
merged through a heap and written line by line, so memory grows with the
number of customers, not with the number of lines.
"""

from __future__ import annotations

import heapq
import logging
import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from churnlake.demo._common import (MONTH_ABBR, cumulative, cutoff_for, day_start, keyed_rng,
                                    poisson, to_epoch, weighted_choice)
from churnlake.demo.customers import Customer, customer_start
from churnlake.demo.profiles import PORTAL_PAGES, profile_for, session_rate_multiplier

logger = logging.getLogger(__name__)

LOG_DIR_NAME = "access_logs"
PORTAL_ORIGIN = "https://portal.telco.example"
HOMEPAGE = "https://www.telco.example/"

#: Canonical parser for one line (the broken lines never match it).
LOG_LINE_RE = re.compile(
    r'^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) (?P<ident>\S+) (?P<authuser>\S+) '
    r'\[(?P<ts>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<method>[A-Z]+) (?P<path>\S+) (?P<protocol>HTTP/\d\.\d)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)"$'
)
#: ``datetime.strptime`` format of the ``ts`` group.
LOG_TS_FORMAT = "%d/%b/%Y:%H:%M:%S %z"

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "TelcoSelfCare/5.2.1 (Android 14; okhttp/4.12.0)",
    "TelcoSelfCare/5.2.1 (iOS 18.1; CFNetwork/1568)",
)
#: Relative share of customers using each of :data:`USER_AGENTS`.
USER_AGENT_WEIGHTS = (30, 15, 5, 15, 15, 8, 7, 5)
_UA_CUM = cumulative(USER_AGENT_WEIGHTS)
HEALTHCHECK_UA = "kube-probe/1.31"
CRAWLER_UA = "Mozilla/5.0 (compatible; TelcoSiteIndexer/1.0; +https://www.telco.example/bot)"
#: Mean anonymous requests per hour.
HEALTHCHECKS_PER_HOUR = 2.0
CRAWLER_HITS_PER_HOUR = 0.3
#: Relative session starts per UTC hour of day (evening peak).
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 8, 7, 7, 8, 9, 10, 11, 10, 8, 5, 3)
_HOUR_CUM = cumulative(HOUR_WEIGHTS)
_HOURS = tuple(range(24))
#: Per-customer activity multiplier: log-normal, sd of log = 0.5, mean 1.
ACTIVITY_SIGMA = 0.5
P_MOBILE_SESSION = 0.2
P_FAILED_LOGIN = 0.04
P_LOGOUT = 0.5
#: Pages after the dashboard: 1 + geometric with this continue probability (mean 1/(1-p)).
P_NEXT_PAGE = 0.75
MAX_PAGES = 25
_PAGE_BYTES = {"/login": 4210, "/dashboard": 18350, "/usage": 9120, "/billing": 7012,
               "/billing/invoices": 12480, "/plans": 15230, "/support": 8870,
               "/support/tickets/new": 6050, "/account/settings": 7730,
               "/account/cancel": 5320}

_PAGE_CUM = {churn: cumulative(profile_for(churn).page_weights) for churn in (False, True)}

# Event payload: (ip, authuser, method, path, status, bytes, referer, user agent)
_Payload = tuple[str, str, str, str, int, str, str, str]

#: Templates of deliberately unparsable lines (``--broken-lines``).
_BROKEN_TEMPLATES = (
    "{ip} - {cid} [{dd}/{mon}/{yyyy}:{hh}:",
    "[{yyyy}-{mm}-{dd}T{hh}:17:03Z] proxy error: upstream timed out (110) while reading "
    "response header from upstream",
    '{ip} - {cid} [{yyyy}-{mm}-{dd}T{hh}:42:10Z] "GET /billing HTTP/1.1" 200 7012 "-" "-"',
    '{ip} - {cid} [{dd}/{mon}/{yyyy}:{hh}:05:09 +0000] "GET /usage HTTP/1.1" OK 9120 "-" "-"',
    "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03",
)


def log_file_name(hour_start: datetime) -> str:
    """File name for the UTC hour starting at ``hour_start``: ``access-YYYY-MM-DD-HH.log``."""
    return f"access-{hour_start:%Y-%m-%d-%H}.log"


def log_window(as_of: date, days: int) -> tuple[datetime, datetime]:
    """``[start, end)`` of the logged period: the ``days`` days ending with ``as_of`` (UTC)."""
    end = cutoff_for(as_of)
    return end - timedelta(days=days), end


@dataclass
class LogCounts:
    """What :func:`generate_access_logs` wrote."""

    files: int = 0
    lines: int = 0
    customer_lines: int = 0
    anonymous_lines: int = 0
    broken_lines: int = 0
    sessions: int = 0
    logins: int = 0
    dropped_after_cutoff: int = 0
    sessions_by_group: dict[str, int] = field(default_factory=lambda: {"churner": 0, "non_churner": 0})

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return dict(self.__dict__, sessions_by_group=dict(self.sessions_by_group))


@dataclass(frozen=True, slots=True)
class _WebProfile:
    rate_per_day: float
    home_ip: str
    user_agent: str
    start_epoch: int


def _web_profile(c: Customer, as_of: date, seed: int) -> _WebProfile:
    rng = keyed_rng(seed, "web", c.customer_id)
    mult = rng.lognormvariate(-ACTIVITY_SIGMA ** 2 / 2, ACTIVITY_SIGMA)
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    ua = weighted_choice(rng, USER_AGENTS, _UA_CUM)
    rate = profile_for(c.churn).sessions_per_week / 7.0 * mult
    return _WebProfile(rate, ip, ua, to_epoch(customer_start(c, as_of, seed)))


def _day_sessions(customers: Sequence[Customer], profiles: Sequence[_WebProfile], d: date,
                  as_of: date, seed: int) -> list[tuple[int, int, int, int]]:
    """Session descriptors ``(start_epoch, customer index or -1/-2, n, sub-seed)`` of day ``d``, sorted."""
    day_epoch = to_epoch(day_start(d))
    days_before = (as_of - d).days
    descs: list[tuple[int, int, int, int]] = []
    for ci, c in enumerate(customers):
        wp = profiles[ci]
        if wp.start_epoch >= day_epoch + 86400:
            continue
        lam = wp.rate_per_day * session_rate_multiplier(profile_for(c.churn), days_before)
        rng = keyed_rng(seed, "web", c.customer_id, d.isoformat())
        for s in range(poisson(rng, lam)):
            hour = weighted_choice(rng, _HOURS, _HOUR_CUM)
            t = day_epoch + hour * 3600 + rng.randrange(3600)
            bits = rng.getrandbits(64)
            if t >= wp.start_epoch:
                descs.append((t, ci, s, bits))
    rng = keyed_rng(seed, "anon", d.isoformat())
    for hour in range(24):
        base = day_epoch + hour * 3600
        for k in range(poisson(rng, HEALTHCHECKS_PER_HOUR)):
            descs.append((base + rng.randrange(3600), -1, k, rng.getrandbits(64)))
        for k in range(poisson(rng, CRAWLER_HITS_PER_HOUR)):
            descs.append((base + rng.randrange(3600), -2, k, rng.getrandbits(64)))
    descs.sort()
    return descs


def _page_status(rng: random.Random, path: str) -> tuple[int, str]:
    u = rng.random()
    if u < 0.002:
        return 500, str(530 + rng.randrange(40))
    if u < 0.007:
        return 404, str(1250 + rng.randrange(60))
    if u < 0.067:
        return 304, "-"
    base = _PAGE_BYTES.get(path, 6000)
    return 200, str(int(base * (0.85 + 0.3 * rng.random())))


def _expand(desc: tuple[int, int, int, int], customers: Sequence[Customer],
            profiles: Sequence[_WebProfile]) -> list[tuple[int, _Payload]]:
    """All requests of one session (or one anonymous hit) as ``(epoch, payload)``."""
    t, ci, _, bits = desc
    rng = random.Random(bits)
    if ci == -1:
        return [(t, ("10.0.0.2", "-", "GET", "/healthz", 200, "2", "-", HEALTHCHECK_UA))]
    if ci == -2:
        ip = f"192.168.100.{1 + rng.randrange(200)}"
        return [(t, (ip, "-", "GET", "/robots.txt", 200, "68", "-", CRAWLER_UA))]
    c = customers[ci]
    wp = profiles[ci]
    page_cum = _PAGE_CUM[c.churn]
    if rng.random() < P_MOBILE_SESSION:
        ip = f"172.{16 + rng.randrange(16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    else:
        ip = wp.home_ip
    ua = wp.user_agent
    cid = c.customer_id
    login_page = PORTAL_ORIGIN + "/login"
    ev: list[tuple[int, _Payload]] = []
    ref = HOMEPAGE if rng.random() < 0.5 else "-"
    ev.append((t, (ip, "-", "GET", "/login", 200, str(_PAGE_BYTES["/login"]), ref, ua)))
    t += rng.randint(2, 20)
    if rng.random() < P_FAILED_LOGIN:
        ev.append((t, (ip, cid, "POST", "/login", 401, "1310", login_page, ua)))
        t += rng.randint(3, 15)
    ev.append((t, (ip, cid, "POST", "/login", 302, "154", login_page, ua)))
    t += 1
    status, nbytes = _page_status(rng, "/dashboard")
    ev.append((t, (ip, cid, "GET", "/dashboard", status, nbytes, login_page, ua)))
    prev = "/dashboard"
    n_pages = 1
    while n_pages < MAX_PAGES and rng.random() < P_NEXT_PAGE:
        n_pages += 1
        t += rng.randint(3, 90)
        path = weighted_choice(rng, PORTAL_PAGES, page_cum)
        status, nbytes = _page_status(rng, path)
        ev.append((t, (ip, cid, "GET", path, status, nbytes, PORTAL_ORIGIN + prev, ua)))
        prev = path
    if rng.random() < P_LOGOUT:
        t += rng.randint(3, 60)
        ev.append((t, (ip, cid, "GET", "/logout", 302, "154", PORTAL_ORIGIN + prev, ua)))
    return ev


def _broken_plan(seed: int, count: int, n_hours: int, window_start: datetime,
                 customers: Sequence[Customer]) -> dict[int, list[tuple[int, str]]]:
    """Map hour offset -> sorted [(insert before valid line #pos, text)] for ``count`` broken lines."""
    plan: dict[int, list[tuple[int, str]]] = {}
    if count <= 0 or n_hours <= 0:
        return plan
    rng = keyed_rng(seed, "broken")
    for k in range(count):
        h = rng.randrange(n_hours)
        pos = rng.randrange(50)
        hour = window_start + timedelta(hours=h)
        text = _BROKEN_TEMPLATES[k % len(_BROKEN_TEMPLATES)].format(
            ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            cid=customers[rng.randrange(len(customers))].customer_id,
            dd=f"{hour.day:02d}", mm=f"{hour.month:02d}", mon=MONTH_ABBR[hour.month - 1],
            yyyy=f"{hour.year:04d}", hh=f"{hour.hour:02d}")
        plan.setdefault(h, []).append((pos, text))
    for items in plan.values():
        items.sort(key=lambda x: x[0])
    return plan


class _HourlyWriter:
    """Writes time-ordered lines into one file per hour, creating every hour's file."""

    def __init__(self, log_dir: Path, window_start: datetime, n_hours: int,
                 broken: dict[int, list[tuple[int, str]]], counts: LogCounts) -> None:
        self.log_dir = log_dir
        self.window_start = window_start
        self.start_epoch = to_epoch(window_start)
        self.n_hours = n_hours
        self.broken = broken
        self.counts = counts
        self.hour = -1
        self.fh: IO[str] | None = None
        self.valid_in_file = 0
        self.pending_broken: list[tuple[int, str]] = []
        self.prefix = ""

    def _open(self, h: int) -> None:
        hour_start = self.window_start + timedelta(hours=h)
        self.fh = open(self.log_dir / log_file_name(hour_start), "w", encoding="utf-8",
                       newline="\n")
        self.counts.files += 1
        self.hour = h
        self.valid_in_file = 0
        self.pending_broken = list(self.broken.get(h, ()))
        self.prefix = (f"{hour_start.day:02d}/{MONTH_ABBR[hour_start.month - 1]}/"
                       f"{hour_start.year:04d}:{hour_start.hour:02d}:")

    def _close(self) -> None:
        if self.fh is not None:
            for _, text in self.pending_broken:
                self._write_broken(text)
            self.pending_broken = []
            self.fh.close()
            self.fh = None

    def _write_broken(self, text: str) -> None:
        assert self.fh is not None
        self.fh.write(text + "\n")
        self.counts.broken_lines += 1
        self.counts.lines += 1

    def advance_to(self, h: int) -> None:
        """Close the current file and create every file up to hour offset ``h``."""
        while self.hour < h:
            self._close()
            self._open(self.hour + 1)

    def write(self, t: int, p: _Payload) -> None:
        """Write the request ``p`` at epoch ``t`` (must be non-decreasing) to its hour file."""
        offset = t - self.start_epoch
        h = offset // 3600
        if h != self.hour:
            self.advance_to(h)
        assert self.fh is not None
        while self.pending_broken and self.pending_broken[0][0] <= self.valid_in_file:
            self._write_broken(self.pending_broken.pop(0)[1])
        sec = offset % 3600
        ip, user, method, path, status, nbytes, ref, ua = p
        self.fh.write(f'{ip} - {user} [{self.prefix}{sec // 60:02d}:{sec % 60:02d} +0000] '
                      f'"{method} {path} HTTP/1.1" {status} {nbytes} "{ref}" "{ua}"\n')
        self.valid_in_file += 1
        self.counts.lines += 1
        if user == "-":
            self.counts.anonymous_lines += 1
        else:
            self.counts.customer_lines += 1

    def finish(self) -> None:
        """Create the remaining (possibly empty) hour files and close."""
        if self.n_hours > 0:
            self.advance_to(self.n_hours - 1)
        self._close()


def generate_access_logs(customers: Sequence[Customer], out_dir: str | Path, as_of: date,
                         days: int, seed: int, broken_lines: int = 0) -> LogCounts:
    """Write ``<out_dir>/access_logs/access-YYYY-MM-DD-HH.log`` for the last ``days`` days.

    ``broken_lines`` deliberately unparsable lines (not matching
    :data:`LOG_LINE_RE`) are inserted at keyed positions to exercise quarantine
    paths. Existing ``*.log`` files in the folder are removed first.
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if broken_lines < 0:
        raise ValueError(f"broken_lines must be >= 0, got {broken_lines}")
    log_dir = Path(out_dir) / LOG_DIR_NAME
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("access-*.log"):
        old.unlink()
    window_start, window_end = log_window(as_of, days)
    end_epoch = to_epoch(window_end)
    n_hours = days * 24
    counts = LogCounts()
    profiles = [_web_profile(c, as_of, seed) for c in customers]
    writer = _HourlyWriter(log_dir, window_start, n_hours,
                           _broken_plan(seed, broken_lines, n_hours, window_start, customers),
                           counts)
    heap: list[tuple[int, int, _Payload]] = []
    seq = 0

    def sessions() -> Iterator[tuple[int, int, int, int]]:
        for i in range(days):
            d = (window_start + timedelta(days=i)).date()
            yield from _day_sessions(customers, profiles, d, as_of, seed)
            logger.debug("access logs: day %s drawn", d)

    def emit(item: tuple[int, int, _Payload]) -> None:
        t, _, p = item
        if t >= end_epoch:
            counts.dropped_after_cutoff += 1
            return
        writer.write(t, p)
        if p[3] == "/login" and p[4] == 302:
            counts.logins += 1

    for desc in sessions():
        while heap and heap[0][0] < desc[0]:
            emit(heapq.heappop(heap))
        ci = desc[1]
        if ci >= 0:
            counts.sessions += 1
            group = "churner" if customers[ci].churn else "non_churner"
            counts.sessions_by_group[group] += 1
        for t, payload in _expand(desc, customers, profiles):
            heapq.heappush(heap, (t, seq, payload))
            seq += 1
    while heap:
        emit(heapq.heappop(heap))
    writer.finish()
    logger.info("access logs: %d files, %d lines (%d broken), %d sessions",
                counts.files, counts.lines, counts.broken_lines, counts.sessions)
    return counts


def parse_log_ts(value: str) -> datetime:
    """Parse the ``ts`` group of :data:`LOG_LINE_RE` into an aware UTC datetime."""
    mon = MONTH_ABBR.index(value[3:6]) + 1
    return datetime.strptime(value[:3] + f"{mon:02d}" + value[6:], "%d/%m/%Y:%H:%M:%S %z")


def iter_log_files(out_dir: str | Path) -> list[Path]:
    """Sorted hourly log files under ``<out_dir>/access_logs`` (the name order is time order)."""
    return sorted((Path(out_dir) / LOG_DIR_NAME).glob("access-*.log"))

