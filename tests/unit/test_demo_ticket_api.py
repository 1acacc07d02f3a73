"""Tests of the demo ticket API: auth, pagination, incremental reads and fault injection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
import requests

from churnlake.demo.customers import build_population, load_telco_csv
from churnlake.demo.ticket_api import serve_in_thread, shutdown
from churnlake.demo.tickets import generate_tickets, write_tickets_jsonl

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "telco_customer_churn.csv"
TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.skipif(not CSV.is_file(), reason="Telco CSV not present")


@pytest.fixture(scope="module")
def tickets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    customers = build_population(load_telco_csv(CSV), 150, 42)
    path = tmp_path_factory.mktemp("tickets") / "tickets.jsonl"
    write_tickets_jsonl(path, generate_tickets(customers, date(2026, 11, 27), 42))
    return path


@pytest.fixture(scope="module")
def all_tickets(tickets_file: Path) -> list[dict]:
    return [json.loads(line) for line in tickets_file.read_text().splitlines()]


@pytest.fixture()
def api(tickets_file: Path) -> Iterator[str]:
    server, base_url = serve_in_thread(tickets_file, TOKEN, retry_after=0.05)
    try:
        yield base_url
    finally:
        shutdown(server)


def _set_faults(base_url: str, **faults: object) -> dict:
    r = requests.post(f"{base_url}/admin/faults", json=faults, headers=AUTH, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["faults"]


def _fetch_all(base_url: str, page_size: int, updated_since: str | None = None,
               max_attempts: int = 10) -> tuple[list[dict], Counter]:
    """A small retrying client: returns the records and the count of each failure seen."""
    seen: Counter = Counter()
    records: list[dict] = []
    page: int | None = 1
    while page is not None:
        params = {"page": page, "page_size": page_size}
        if updated_since:
            params["updated_since"] = updated_since
        for _ in range(max_attempts):
            r = requests.get(f"{base_url}/api/v1/tickets", params=params, headers=AUTH, timeout=5)
            if r.status_code == 429 or r.status_code >= 500:
                seen[r.status_code] += 1
                time.sleep(float(r.headers.get("Retry-After", "0.01")))
                continue
            assert r.status_code == 200, r.text
            try:
                body = r.json()
            except ValueError:
                seen["malformed"] += 1
                continue
            break
        else:
            raise AssertionError(f"page {page} failed {max_attempts} times")
        records.extend(body["data"])
        page = body["next_page"]
    return records, seen


def test_health_needs_no_token(api: str, all_tickets: list[dict]) -> None:
    r = requests.get(f"{api}/health", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "tickets": len(all_tickets)}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
def test_tickets_need_bearer_token(api: str, headers: dict) -> None:
    r = requests.get(f"{api}/api/v1/tickets", headers=headers, timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.post(f"{api}/admin/faults", json={"reset": True}, headers=headers,
                         timeout=5).status_code == 401


def test_pagination_returns_every_ticket_once_in_order(api: str, all_tickets: list[dict]) -> None:
    r = requests.get(f"{api}/api/v1/tickets", params={"page": 1, "page_size": 37},
                     headers=AUTH, timeout=5)
    body = r.json()
    assert set(body) == {"data", "page", "page_size", "total", "next_page"}
    assert (body["page"], body["page_size"], body["total"], body["next_page"]) == \
        (1, 37, len(all_tickets), 2)
    records, seen = _fetch_all(api, 37)
    assert not seen
    assert records == all_tickets  # same records, (updated_at, ticket_id) order, once each
    last = requests.get(f"{api}/api/v1/tickets", params={"page": 999}, headers=AUTH, timeout=5)
    assert last.json()["data"] == [] and last.json()["next_page"] is None


def test_updated_since_is_inclusive_watermark(api: str, all_tickets: list[dict]) -> None:
    cut = all_tickets[len(all_tickets) // 2]["updated_at"]
    expected = [t for t in all_tickets if t["updated_at"] >= cut]
    records, _ = _fetch_all(api, 50, updated_since=cut)
    assert records == expected
    # Offsets are accepted too (URL-encoded by requests).
    records, _ = _fetch_all(api, 50, updated_since=cut.replace("Z", "+00:00"))
    assert records == expected


@pytest.mark.parametrize("params", [{"page": 0}, {"page_size": 0}, {"page_size": 5000},
                                    {"page": "x"}, {"updated_since": "yesterday"}])
def test_bad_query_parameters_answer_400(api: str, params: dict) -> None:
    r = requests.get(f"{api}/api/v1/tickets", params=params, headers=AUTH, timeout=5)
    assert r.status_code == 400
    assert "error" in r.json()


def test_error_rate_gives_500_or_503(api: str) -> None:
    assert _set_faults(api, error_rate=1.0)["error_rate"] == 1.0
    codes = {requests.get(f"{api}/api/v1/tickets", headers=AUTH, timeout=5).status_code
             for _ in range(12)}
    assert codes <= {500, 503} and codes
    _set_faults(api, reset=True)
    assert requests.get(f"{api}/api/v1/tickets", headers=AUTH, timeout=5).status_code == 200


def test_rate_limit_every_kth_request_with_retry_after(api: str) -> None:
    _set_faults(api, rate_limit_every=3)
    codes = []
    for _ in range(6):
        r = requests.get(f"{api}/api/v1/tickets", headers=AUTH, timeout=5)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "0.05"
    assert codes == [200, 200, 429, 200, 200, 429]
    _set_faults(api, retry_after=2)
    codes = [requests.get(f"{api}/api/v1/tickets", headers=AUTH, timeout=5) for _ in range(3)]
    assert codes[2].status_code == 429 and codes[2].headers["Retry-After"] == "2"


def test_malformed_page_only_on_first_request(api: str) -> None:
    _set_faults(api, malformed_page=2)
    params = {"page": 2, "page_size": 20}
    first = requests.get(f"{api}/api/v1/tickets", params=params, headers=AUTH, timeout=5)
    assert first.status_code == 200
    with pytest.raises(ValueError):
        json.loads(first.text)
    second = requests.get(f"{api}/api/v1/tickets", params=params, headers=AUTH, timeout=5)
    assert second.status_code == 200 and second.json()["page"] == 2
    other = requests.get(f"{api}/api/v1/tickets", params={"page": 1}, headers=AUTH, timeout=5)
    assert other.json()["page"] == 1


def test_latency_is_added(api: str) -> None:
    _set_faults(api, latency_ms=150)
    t0 = time.perf_counter()
    assert requests.get(f"{api}/api/v1/tickets", headers=AUTH, timeout=5).status_code == 200
    assert time.perf_counter() - t0 >= 0.14


def test_retrying_client_gets_everything_once_under_all_faults(api: str,
                                                               all_tickets: list[dict]) -> None:
    _set_faults(api, error_rate=0.25, rate_limit_every=4, malformed_page=2, fault_seed=3)
    records, seen = _fetch_all(api, 25)
    assert records == all_tickets
    assert seen[429] >= 1 and seen["malformed"] == 1 and (seen[500] + seen[503]) >= 1


def test_invalid_fault_values_answer_400(api: str) -> None:
    for body in ({"error_rate": 2}, {"bogus": 1}, {"rate_limit_every": "x"}, {"reset": "yes"}):
        r = requests.post(f"{api}/admin/faults", json=body, headers=AUTH, timeout=5)
        assert r.status_code == 400, body


def test_admin_upsert_shows_up_in_incremental_read(api: str, all_tickets: list[dict]) -> None:
    watermark = all_tickets[-1]["updated_at"]
    changed = dict(all_tickets[0], status="closed", updated_at="2026-11-28T09:00:00Z")
    new = dict(all_tickets[1], ticket_id=10**6, updated_at="2026-11-28T10:00:00Z")
    r = requests.post(f"{api}/admin/tickets", json={"tickets": [changed, new]}, headers=AUTH,
                      timeout=5)
    assert r.json() == {"upserted": 2, "total": len(all_tickets) + 1}
    records, _ = _fetch_all(api, 10, updated_since=watermark)
    assert [t["ticket_id"] for t in records] == [all_tickets[-1]["ticket_id"],
                                                 changed["ticket_id"], 10**6]


def test_serve_in_thread_rejects_bad_arguments(tickets_file: Path) -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        serve_in_thread(tickets_file, TOKEN, host="0.0.0.0")
    with pytest.raises(ValueError, match="unknown fault"):
        serve_in_thread(tickets_file, TOKEN, error_rat=0.1)
    with pytest.raises(ValueError, match="token"):
        serve_in_thread(tickets_file, "")


def test_cli_prints_listening_line(tickets_file: Path) -> None:
    env = dict(os.environ, CHURNLAKE_TICKETS_TOKEN=TOKEN, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "churnlake.demo.ticket_api", "--tickets", str(tickets_file),
         "--port", "0", "--rate-limit-every", "2", "--retry-after", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("LISTENING http://127.0.0.1:"), line + proc.stderr.read()
        base = line.split()[1]
        assert requests.get(f"{base}/health", timeout=5).status_code == 200
        codes = [requests.get(f"{base}/api/v1/tickets", headers=AUTH, timeout=5) for _ in range(2)]
        assert codes[1].status_code == 429 and codes[1].headers["Retry-After"] == "0.2"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_cli_requires_token_env(tickets_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHURNLAKE_TICKETS_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "churnlake.demo.ticket_api", "--tickets", str(tickets_file)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=30)
    assert proc.returncode == 2
    assert "CHURNLAKE_TICKETS_TOKEN" in proc.stderr
