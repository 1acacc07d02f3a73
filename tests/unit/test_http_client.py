"""Tests of the ticket API client against the demo server (in-process, 127.0.0.1, no Spark)."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from churnlake.demo.ticket_api import serve_in_thread, shutdown
from churnlake.ingestion.http_client import (FetchError, FetchResult, _backoff_delay,
                                             _retry_after_seconds, fetch_tickets,
                                             token_from_env, watermark_key)

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "telco_customer_churn.csv"
TOKEN = "test-token-http-client"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLIENT_LOGGER = "churnlake.ingestion.http_client"


class FakeSleep:
    """Records the requested delays instead of sleeping; optional hook on each call."""

    def __init__(self, hook: Callable[[int], None] | None = None) -> None:
        self.delays: list[float] = []
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.hook is not None:
            self.hook(len(self.delays))


def _synthetic_tickets(n: int = 120) -> list[dict[str, Any]]:
    """Tickets in the API's format, ordered by (updated_at, ticket_id); used without the CSV."""
    rng = random.Random(5)
    base = datetime(2026, 11, 20)
    out = []
    for i in range(1, n + 1):
        created = base + timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
        updated = created + timedelta(minutes=rng.randrange(0, 600))
        out.append({"ticket_id": i, "customer_id": f"C-{i % 40:04d}",
                    "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "resolved_at": None, "category": "billing", "priority": "low",
                    "status": "open", "channel": "web", "satisfaction": None})
    out.sort(key=lambda t: (t["updated_at"], t["ticket_id"]))
    return out


@pytest.fixture(scope="module")
def tickets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("http-client") / "tickets.jsonl"
    if CSV.is_file():  # the demo generator, as for `--customers 150`
        from churnlake.demo.customers import build_population, load_telco_csv
        from churnlake.demo.tickets import generate_tickets, write_tickets_jsonl

        customers = build_population(load_telco_csv(CSV), 150, 42)
        write_tickets_jsonl(path, generate_tickets(customers, date(2026, 11, 27), 42))
    else:
        path.write_text("".join(json.dumps(t, separators=(",", ":")) + "\n"
                                for t in _synthetic_tickets()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def all_tickets(tickets_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in tickets_file.read_text().splitlines()]


@pytest.fixture()
def start_api(tickets_file: Path) -> Iterator[Callable[..., str]]:
    """Factory: start the demo API with the given faults; every server is shut down after."""
    servers = []

    def _start(**faults: Any) -> str:
        server, base_url = serve_in_thread(tickets_file, TOKEN, **faults)
        servers.append(server)
        return base_url

    yield _start
    for server in servers:
        shutdown(server)


def _post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"{base_url}{path}", json=body, headers=AUTH, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(result: FetchResult) -> list[Any]:
    return [r["ticket_id"] for r in result.records]


def _client_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == CLIENT_LOGGER and r.levelno == logging.WARNING]


class _Scripted(BaseHTTPRequestHandler):
    """Answers with the server's scripted responses in turn (the last one repeats)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        with srv.lock:  # type: ignore[attr-defined]
            srv.requests += 1  # type: ignore[attr-defined]
            script = srv.script  # type: ignore[attr-defined]
            status, headers, body = script.pop(0) if len(script) > 1 else script[0]
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def scripted() -> Iterator[Callable[[list[tuple[int, dict[str, str], bytes]]], tuple[str, Any]]]:
    """Factory for a tiny 127.0.0.1 server replaying ``(status, headers, body)`` answers."""
    servers: list[ThreadingHTTPServer] = []

    def _start(script: list[tuple[int, dict[str, str], bytes]]) -> tuple[str, Any]:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
        srv.daemon_threads = True
        srv.script = list(script)  # type: ignore[attr-defined]
        srv.lock = threading.Lock()  # type: ignore[attr-defined]
        srv.requests = 0  # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}", srv

    yield _start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


# -- against the demo server --------------------------------------------------------------

def test_fetch_all_without_faults(start_api: Callable[..., str], all_tickets: list[dict]) -> None:
    base_url = start_api()
    sleep = FakeSleep()
    res = fetch_tickets(base_url, TOKEN, after=None, page_size=50, sleep=sleep)
    assert res.records == all_tickets  # every ticket exactly once, (updated_at, ticket_id) order
    assert len(set(_ids(res))) == len(all_tickets)
    expected_pages = -(-len(all_tickets) // 50)
    assert (res.pages, res.attempts, res.retries) == (expected_pages, expected_pages, 0)
    assert res.bytes > 100 * len(all_tickets)
    assert res.high_watermark == (all_tickets[-1]["updated_at"], all_tickets[-1]["ticket_id"])
    assert sleep.delays == []


def test_every_record_once_with_all_faults(start_api: Callable[..., str], all_tickets: list[dict],
                                           caplog: pytest.LogCaptureFixture) -> None:
    retry_after = 0.05
    base_url = start_api(error_rate=0.3, rate_limit_every=4, latency_ms=5, malformed_page=2,
                         retry_after=retry_after, fault_seed=7)
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER)
    sleep = FakeSleep()
    res = fetch_tickets(base_url, TOKEN, after=None, page_size=25, max_attempts=12,
                        backoff_base=0.001, backoff_max=5.0, rng=random.Random(3), sleep=sleep)
    assert res.records == all_tickets
    assert res.pages == -(-len(all_tickets) // 25)
    assert res.retries > 0 and res.attempts == res.pages + res.retries
    warnings = _client_warnings(caplog)
    assert len(warnings) == len(sleep.delays) == res.retries
    causes = [w.args[4] for w in warnings]  # (page, url, attempt, max_attempts, cause, ...)
    assert "HTTP 429" in causes
    assert any(c in ("HTTP 500", "HTTP 503") for c in causes)
    assert any(c.startswith("malformed page") for c in causes)
    assert all(w.args[2] >= 1 and w.args[3] == 12 for w in warnings)
    for cause, delay, w in zip(causes, sleep.delays, warnings):
        assert w.args[-1] == delay  # the logged delay is the one slept
        if cause in ("HTTP 429", "HTTP 503"):
            assert delay >= retry_after, (cause, delay)  # Retry-After honoured
    # without a Retry-After the jitter stays tiny, so the floor above is really Retry-After's
    assert any(d < retry_after for c, d in zip(causes, sleep.delays) if c == "HTTP 500"
               or c.startswith("malformed"))


def test_incremental_fetch_after_high_watermark(start_api: Callable[..., str],
                                                all_tickets: list[dict]) -> None:
    base_url = start_api()
    first = fetch_tickets(base_url, TOKEN, after=None, page_size=100, sleep=FakeSleep())
    hw = first.high_watermark
    assert hw is not None and first.records == all_tickets
    max_id = max(t["ticket_id"] for t in all_tickets)
    hw_instant = watermark_key(hw[0], hw[1])[0]

    changed = dict(all_tickets[0], updated_at="2026-11-28T08:00:00Z", status="closed")
    new = dict(all_tickets[1], ticket_id=max_id + 1, created_at="2026-11-28T09:00:00Z",
               updated_at="2026-11-28T09:00:00Z", status="open")
    # same instant as the watermark, written with an offset, larger id -> after the watermark
    # (as text "…+00:00" < "…Z", so only a typed comparison keeps it)
    boundary = dict(all_tickets[2], ticket_id=max_id + 2,
                    updated_at=hw_instant.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    # fractional seconds sort after the whole second ('.' < 'Z' as text would invert them)
    fractional = dict(all_tickets[3], ticket_id=max_id + 3, updated_at="2026-11-28T08:00:00.500Z")
    _post(base_url, "/admin/tickets", {"tickets": [changed, new, boundary, fractional]})

    second = fetch_tickets(base_url, TOKEN, after=hw, page_size=100, sleep=FakeSleep())
    assert second.records == [boundary, changed, fractional, new]
    assert second.high_watermark == ("2026-11-28T09:00:00Z", max_id + 1)
    assert second.pages == 1
    # the same watermark with the id as a string (e.g. read back from a state file)
    again = fetch_tickets(base_url, TOKEN, after=(hw[0], str(hw[1])), sleep=FakeSleep())
    assert again.records == second.records
    # nothing newer than the new high watermark
    third = fetch_tickets(base_url, TOKEN, after=second.high_watermark, sleep=FakeSleep())
    assert third.records == [] and third.high_watermark is None and third.pages == 1


def test_duplicates_from_shifting_pages_keep_latest(start_api: Callable[..., str],
                                                    all_tickets: list[dict]) -> None:
    base_url = start_api(rate_limit_every=3, retry_after=0.01)
    moved = dict(all_tickets[0], updated_at="2026-11-28T10:00:00Z", status="closed")

    def update_while_paging(call: int) -> None:
        if call == 1:  # after pages 1 and 2 were read: the ticket of page 1 moves to the end
            _post(base_url, "/admin/tickets", {"tickets": [moved]})

    res = fetch_tickets(base_url, TOKEN, after=None, page_size=25,
                        sleep=FakeSleep(update_while_paging))
    ids = _ids(res)
    assert len(ids) == len(set(ids))
    assert [r for r in res.records if r["ticket_id"] == moved["ticket_id"]] == [moved]
    assert res.records[-1] == moved
    keys = [watermark_key(r["updated_at"], r["ticket_id"]) for r in res.records]
    assert keys == sorted(keys)


def test_bad_token_fails_immediately(start_api: Callable[..., str]) -> None:
    base_url = start_api()
    sleep = FakeSleep()
    with pytest.raises(FetchError) as err:
        fetch_tickets(base_url, "wrong-token", after=None, sleep=sleep)
    msg = str(err.value)
    assert f"page 1 of {base_url}/api/v1/tickets after 1 attempt: HTTP 401" in msg
    assert "not retried" in msg and "bearer token" in msg
    assert "wrong-token" not in msg
    assert (err.value.status, err.value.attempts) == (401, 1)
    assert sleep.delays == []


def test_read_timeout_is_retried(start_api: Callable[..., str], all_tickets: list[dict],
                                 caplog: pytest.LogCaptureFixture) -> None:
    base_url = start_api(latency_ms=400)
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER)

    def heal(call: int) -> None:
        _post(base_url, "/admin/faults", {"reset": True})

    res = fetch_tickets(base_url, TOKEN, after=None, page_size=500, timeout=0.1,
                        sleep=FakeSleep(heal))
    assert res.records == all_tickets
    assert (res.retries, res.attempts) == (1, 2)
    [warning] = _client_warnings(caplog)
    assert warning.args[4].startswith("ReadTimeout")
    assert "attempt 1/6 failed" in warning.getMessage()


def test_timeouts_exhaust_the_budget(start_api: Callable[..., str]) -> None:
    base_url = start_api(latency_ms=300)
    sleep = FakeSleep()
    with pytest.raises(FetchError, match=r"after 2 attempts: ReadTimeout"):
        fetch_tickets(base_url, TOKEN, after=None, timeout=0.05, max_attempts=2, sleep=sleep)
    assert len(sleep.delays) == 1


# -- against scripted servers -------------------------------------------------------------

def test_always_503_raises_after_max_attempts(scripted: Callable,
                                              caplog: pytest.LogCaptureFixture) -> None:
    base_url, srv = scripted([(503, {"Retry-After": "0.2"}, b'{"error":"down","status":503}')])
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER)
    sleep = FakeSleep()
    with pytest.raises(FetchError) as err:
        fetch_tickets(base_url, TOKEN, after=None, backoff_base=0.001, sleep=sleep)
    assert str(err.value) == (f"ticket API fetch failed: page 1 of {base_url}/api/v1/tickets "
                              f"after 6 attempts: HTTP 503")
    assert (err.value.page, err.value.attempts, err.value.status) == (1, 6, 503)
    assert srv.requests == 6
    assert len(sleep.delays) == 5 and all(d >= 0.2 for d in sleep.delays)
    assert [w.args[2] for w in _client_warnings(caplog)] == [1, 2, 3, 4, 5]


def test_failure_on_a_later_page_returns_nothing(scripted: Callable) -> None:
    page1 = json.dumps({"data": [{"ticket_id": 1, "updated_at": "2026-11-27T10:00:00Z"}],
                        "page": 1, "page_size": 1, "total": 2, "next_page": 2}).encode()
    base_url, _ = scripted([(200, {}, page1), (500, {}, b"{}")])
    with pytest.raises(FetchError, match=r"page 2 of .* after 3 attempts: HTTP 500$"):
        fetch_tickets(base_url, TOKEN, after=None, max_attempts=3, sleep=FakeSleep())


def test_dedup_keeps_greatest_updated_at_whatever_the_page_order(scripted: Callable) -> None:
    def page(n: int, data: list[dict], nxt: int | None) -> tuple[int, dict, bytes]:
        return (200, {}, json.dumps({"data": data, "page": n, "page_size": 2, "total": 4,
                                     "next_page": nxt}).encode())

    newer = {"ticket_id": 7, "updated_at": "2026-11-27T10:00:00Z", "status": "closed"}
    older = {"ticket_id": "7", "updated_at": "2026-11-27T09:00:00Z", "status": "open"}
    other = {"ticket_id": 8, "updated_at": "2026-11-27T09:30:00Z", "status": "open"}
    base_url, _ = scripted([page(1, [other, newer], 2), page(2, [older], None)])
    res = fetch_tickets(base_url, TOKEN, after=None, sleep=FakeSleep())
    assert res.records == [other, newer]  # the older copy seen later does not win
    assert res.high_watermark == ("2026-11-27T10:00:00Z", 7) and res.pages == 2


def test_unexpected_shape_is_retried(scripted: Callable, caplog: pytest.LogCaptureFixture) -> None:
    good = json.dumps({"data": [{"ticket_id": 5, "updated_at": "2026-11-27T10:00:00Z"}],
                       "page": 1, "page_size": 10, "total": 1, "next_page": None}).encode()
    in_3s = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    base_url, srv = scripted([(200, {}, b'{"data": "oops", "next_page": null}'),
                              (200, {}, b"[1, 2]"),
                              (429, {"Retry-After": in_3s}, b""),
                              (200, {}, good)])
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER)
    sleep = FakeSleep()
    res = fetch_tickets(base_url, TOKEN, after=None, backoff_base=0.001, sleep=sleep)
    assert _ids(res) == [5] and (res.attempts, res.retries, srv.requests) == (4, 3, 4)
    causes = [w.args[4] for w in _client_warnings(caplog)]
    assert causes[0].startswith("malformed page") and "'data'" in causes[0]
    assert causes[1].startswith("malformed page") and causes[2] == "HTTP 429"
    assert 1.0 < sleep.delays[2] <= 3.0  # HTTP-date Retry-After, about 3 s from now


def test_connection_refused_raises_fetch_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleep = FakeSleep()
    with pytest.raises(FetchError) as err:
        fetch_tickets(f"http://127.0.0.1:{port}", TOKEN, after=None, max_attempts=3,
                      timeout=2.0, sleep=sleep)
    assert f"page 1 of http://127.0.0.1:{port}/api/v1/tickets after 3 attempts: ConnectionError" \
        in str(err.value)
    assert err.value.status is None and len(sleep.delays) == 2


# -- helpers ------------------------------------------------------------------------------

def test_token_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLAKE_TICKETS_TOKEN", "abc")
    assert token_from_env() == "abc"
    monkeypatch.setenv("CHURNLAKE_TICKETS_TOKEN", "  ")
    with pytest.raises(ValueError, match="CHURNLAKE_TICKETS_TOKEN"):
        token_from_env()
    monkeypatch.delenv("MY_TICKET_TOKEN", raising=False)
    with pytest.raises(ValueError, match="MY_TICKET_TOKEN"):
        token_from_env("MY_TICKET_TOKEN")


def test_retry_after_parsing() -> None:
    now = 1_800_000_000.0
    assert _retry_after_seconds("2") == 2.0
    assert _retry_after_seconds("0.25") == 0.25
    when = datetime.fromtimestamp(now + 7, tz=timezone.utc)
    assert _retry_after_seconds(format_datetime(when, usegmt=True), now=now) == pytest.approx(7.0)
    assert _retry_after_seconds(format_datetime(when, usegmt=True), now=now + 60) == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert _retry_after_seconds(bad) is None
    assert _retry_after_seconds("-3") == 0.0


def test_backoff_is_full_jitter_with_floor_and_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        draws = [_backoff_delay(attempt, 0.5, 30.0, rng, None) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > 0.5 * ceiling  # spread over the whole interval
    assert all(_backoff_delay(1, 0.5, 30.0, rng, 2.5) >= 2.5 for _ in range(50))
    assert _backoff_delay(1, 0.5, 30.0, rng, 120.0) == 30.0  # Retry-After capped at backoff_max


def test_watermark_key_is_typed() -> None:
    assert (watermark_key("2026-11-27T10:00:00Z", 1)
            == watermark_key("2026-11-27T10:00:00+00:00", "1"))
    assert watermark_key("2026-11-27T12:00:00+02:00", 1) == watermark_key("2026-11-27T10:00:00Z", 1)
    assert watermark_key("2026-11-27T10:00:00Z", 9) < watermark_key("2026-11-27T10:00:00Z", "10")
    assert watermark_key("2026-11-27T10:00:00Z", 9) < watermark_key("2026-11-27T10:00:00.5Z", 1)
    with pytest.raises(ValueError):
        watermark_key("27/11/2026", 1)


def test_invalid_arguments_fail_before_any_request() -> None:
    with pytest.raises(ValueError, match="invalid watermark"):
        fetch_tickets("http://127.0.0.1:9", TOKEN, after=("yesterday", 1))
    with pytest.raises(ValueError, match="page_size"):
        fetch_tickets("http://127.0.0.1:9", TOKEN, after=None, page_size=0)
    with pytest.raises(ValueError, match="token"):
        fetch_tickets("http://127.0.0.1:9", "", after=None)
