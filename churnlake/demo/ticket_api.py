"""Demo support-ticket REST API with switchable faults (stdlib ``http.server``).

Serves the ``tickets.jsonl`` written by :mod:`churnlake.demo.generate`::

    CHURNLAKE_TICKETS_TOKEN=secret python -m churnlake.demo.ticket_api \\
        --tickets build/demo/tickets.jsonl --port 0 --rate-limit-every 5 --retry-after 0.2
    # stdout: LISTENING http://127.0.0.1:<port>

Endpoints (JSON everywhere):

* ``GET /api/v1/tickets?updated_since=<iso>&page=<n>&page_size=<k>`` (bearer
  token required) -> ``{"data": [...], "page": n, "page_size": k, "total": T,
  "next_page": n+1 | null}``. Records with ``updated_at >= updated_since``
  (inclusive), ordered by ``(updated_at, ticket_id)``; ``page`` starts at 1,
  ``page_size`` defaults to 100 (max 1000).
* ``GET /health`` (no auth) -> ``{"status": "ok", "tickets": N}``.
* ``GET /admin/faults`` / ``POST /admin/faults`` (bearer token) -> read or
  change the faults at run time; body keys ``error_rate``, ``latency_ms``,
  ``rate_limit_every``, ``malformed_page``, ``retry_after``, ``fault_seed``
  and/or ``"reset": true``.
* ``POST /admin/tickets`` (bearer token) body ``{"tickets": [...]}`` ->
  insert or replace tickets by ``ticket_id`` (to demo incremental reads).

Faults (only on ``/api/v1/tickets``, after authentication), in this order:
``latency_ms`` sleeps; every ``rate_limit_every``-th request answers 429 with
``Retry-After: <retry_after>``; with probability ``error_rate`` (seeded by
``fault_seed``) the answer is 500 or 503; page ``malformed_page`` answers 200
with truncated JSON on its first request only. A retrying client therefore
still receives every record exactly once.
"""

from __future__ import annotations

import argparse
import bisect
import hmac
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

from churnlake.demo.tickets import TICKET_FIELDS, read_tickets_jsonl

logger = logging.getLogger(__name__)

__all__ = ["FaultConfig", "TicketStore", "TicketAPIServer", "serve_in_thread", "shutdown",
           "main", "DEFAULT_TOKEN_ENV"]

DEFAULT_TOKEN_ENV = "CHURNLAKE_TICKETS_TOKEN"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
ALLOWED_HOSTS = ("127.0.0.1", "localhost")


def _parse_ts(value: str) -> datetime:
    """ISO-8601 (``Z`` or offset; naive = UTC) -> naive UTC datetime. ValueError if invalid."""
    v = value.strip().replace(" ", "+")  # an unencoded '+' arrives as a space
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    ts = datetime.fromisoformat(v)
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


class TicketStore:
    """In-memory tickets ordered by ``(updated_at, ticket_id)``; thread-safe."""

    def __init__(self, tickets: Iterable[dict[str, Any]] = ()) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[Any, dict[str, Any]] = {}
        self._keys: list[tuple[datetime, Any]] = []
        self._records: list[dict[str, Any]] = []
        self.upsert(tickets)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> "TicketStore":
        """Load a ``tickets.jsonl`` file; raises ``ValueError`` if missing or invalid."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"tickets file not found: {p}")
        return cls(read_tickets_jsonl(p))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def upsert(self, tickets: Iterable[dict[str, Any]]) -> int:
        """Insert or replace tickets by ``ticket_id``; returns how many were given."""
        n = 0
        with self._lock:
            for t in tickets:
                if not isinstance(t, dict) or "ticket_id" not in t or "updated_at" not in t:
                    raise ValueError("each ticket needs at least ticket_id and updated_at")
                _parse_ts(str(t["updated_at"]))  # validate
                self._by_id[t["ticket_id"]] = {k: t.get(k) for k in TICKET_FIELDS}
                n += 1
            rows = sorted(((_parse_ts(str(r["updated_at"])), r["ticket_id"]), r)
                          for r in self._by_id.values())
            self._keys = [k for k, _ in rows]
            self._records = [r for _, r in rows]
        return n

    def page(self, updated_since: datetime | None, page: int, page_size: int) -> dict[str, Any]:
        """One page of tickets with ``updated_at >= updated_since`` in the API response format."""
        with self._lock:
            start = 0
            if updated_since is not None:
                start = bisect.bisect_left(self._keys, (updated_since,))
            total = len(self._records) - start
            lo = start + (page - 1) * page_size
            data = self._records[lo:min(lo + page_size, len(self._records))] if lo < len(self._records) else []
        has_next = (page * page_size) < total
        return {"data": data, "page": page, "page_size": page_size, "total": total,
                "next_page": page + 1 if has_next else None}


@dataclass
class FaultConfig:
    """Switchable faults of the tickets endpoint (all off by default)."""

    error_rate: float = 0.0
    latency_ms: int = 0
    rate_limit_every: int = 0
    malformed_page: int = 0
    retry_after: float = 1.0
    fault_seed: int = 1

    def validate(self) -> None:
        """Raise ``ValueError`` for out-of-range values."""
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.rate_limit_every < 0:
            raise ValueError(f"rate_limit_every must be >= 0 (0 = off), got {self.rate_limit_every}")
        if self.malformed_page < 0:
            raise ValueError(f"malformed_page must be >= 0 (0 = off), got {self.malformed_page}")
        if self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after}")

    @classmethod
    def from_mapping(cls, values: dict[str, Any], base: "FaultConfig | None" = None) -> "FaultConfig":
        """Copy of ``base`` (default: all off) with ``values`` applied and type-checked."""
        cfg = FaultConfig(**asdict(base)) if base is not None else FaultConfig()
        types = {f.name: f.type for f in fields(cls)}
        for key, value in values.items():
            if key not in types:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(types))}")
            if value is None:
                value = 0
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"fault {key} must be a number, got {value!r}")
            if types[key] in ("int", int):
                if float(value) != int(value):
                    raise ValueError(f"fault {key} must be an integer, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            setattr(cfg, key, value)
        cfg.validate()
        return cfg


def _retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


class _FaultInjector:
    """Thread-safe fault decisions for one server."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self._set(config)

    def _set(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.fault_seed)
        self.requests = 0
        self.malformed_served: set[int] = set()

    def update(self, values: dict[str, Any]) -> FaultConfig:
        """Apply ``values`` (``reset`` first if present); counters and RNG restart."""
        values = dict(values)
        reset = values.pop("reset", False)
        if not isinstance(reset, bool):
            raise ValueError("reset must be true or false")
        with self._lock:
            base = FaultConfig() if reset else self.config
            self._set(FaultConfig.from_mapping(values, base))
            return self.config

    def decide(self, page: int) -> tuple[str, int] | None:
        """Return ``("rate_limit", 429)``, ``("error", 500|503)``, ``("malformed", 200)`` or None."""
        with self._lock:
            cfg = self.config
            self.requests += 1
            if cfg.rate_limit_every and self.requests % cfg.rate_limit_every == 0:
                return ("rate_limit", 429)
            if cfg.error_rate > 0 and self.rng.random() < cfg.error_rate:
                return ("error", 500 if self.rng.random() < 0.5 else 503)
            if cfg.malformed_page and page == cfg.malformed_page and page not in self.malformed_served:
                self.malformed_served.add(page)
                return ("malformed", 200)
            return None


class TicketAPIServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` holding the store, the token and the fault injector."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: TicketStore, token: str,
                 faults: FaultConfig) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.token = token
        self.faults = _FaultInjector(faults)
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ChurnlakeTicketAPI/1"
    timeout = 10  # idle keep-alive connections are closed after this many seconds
    # Headers and body go out as two small writes; without this, Nagle plus delayed ACK
    # adds ~40 ms to every response.
    disable_nagle_algorithm = True
    server: TicketAPIServer

    # -- plumbing -------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": message, "status": status}, headers)

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self._error(401, "missing or invalid bearer token",
                    {"WWW-Authenticate": 'Bearer realm="tickets"'})
        return False

    def _read_json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not valid JSON: {exc}") from exc

    # -- routes ---------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        url = urlsplit(self.path)
        if url.path == "/health":
            self._json(200, {"status": "ok", "tickets": len(self.server.store)})
        elif url.path == "/api/v1/tickets":
            if self._authorized():
                self._tickets(url.query)
        elif url.path == "/admin/faults":
            if self._authorized():
                self._json(200, {"faults": asdict(self.server.faults.config)})
        else:
            self._error(404, f"no route {url.path}")

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        url = urlsplit(self.path)
        try:
            body = self._read_json_body()
        except ValueError as exc:
            self._error(400, str(exc))
            return
        if url.path not in ("/admin/faults", "/admin/tickets"):
            self._error(404, f"no route {url.path}")
            return
        if not self._authorized():
            return
        try:
            if url.path == "/admin/faults":
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                cfg = self.server.faults.update(body)
                logger.info("faults now %s", asdict(cfg))
                self._json(200, {"faults": asdict(cfg)})
            else:
                tickets = body.get("tickets") if isinstance(body, dict) else None
                if not isinstance(tickets, list):
                    raise ValueError('body must be {"tickets": [...]}')
                n = self.server.store.upsert(tickets)
                self._json(200, {"upserted": n, "total": len(self.server.store)})
        except ValueError as exc:
            self._error(400, str(exc))

    def _tickets(self, query: str) -> None:
        params = parse_qs(query, keep_blank_values=True)
        try:
            page = int(params.get("page", ["1"])[-1])
            page_size = int(params.get("page_size", [str(DEFAULT_PAGE_SIZE)])[-1])
            since_raw = params.get("updated_since", [""])[-1]
            since = _parse_ts(since_raw) if since_raw else None
        except ValueError as exc:
            self._error(400, f"bad query parameter: {exc}")
            return
        if page < 1:
            self._error(400, "page must be >= 1")
            return
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            self._error(400, f"page_size must be in 1..{MAX_PAGE_SIZE}")
            return
        cfg = self.server.faults.config
        if cfg.latency_ms:
            time.sleep(cfg.latency_ms / 1000.0)
        fault = self.server.faults.decide(page)
        if fault is not None and fault[0] == "rate_limit":
            self._error(429, "rate limit exceeded",
                        {"Retry-After": _retry_after_header(cfg.retry_after)})
            return
        if fault is not None and fault[0] == "error":
            headers = {"Retry-After": _retry_after_header(cfg.retry_after)} if fault[1] == 503 else None
            self._error(fault[1], "injected server error", headers)
            return
        body = json.dumps(self.server.store.page(since, page, page_size),
                          separators=(",", ":")).encode()
        if fault is not None and fault[0] == "malformed":
            body = body[: max(1, len(body) // 2)]
        self._send(200, body)


def _check_host(host: str) -> str:
    if host not in ALLOWED_HOSTS:
        raise ValueError(f"the demo ticket API binds to 127.0.0.1 only, got host {host!r}")
    return "127.0.0.1"


def make_server(tickets: str | Path | TicketStore, token: str, host: str = "127.0.0.1",
                port: int = 0, faults: FaultConfig | None = None) -> TicketAPIServer:
    """Create (not start) a server on ``127.0.0.1:port`` (0 = any free port)."""
    if not token:
        raise ValueError("token must be a non-empty string")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    cfg = faults or FaultConfig()
    cfg.validate()
    store = tickets if isinstance(tickets, TicketStore) else TicketStore.from_jsonl(tickets)
    return TicketAPIServer((_check_host(host), port), store, token, cfg)


def serve_in_thread(tickets_path: str | Path | TicketStore, token: str, host: str = "127.0.0.1",
                    port: int = 0, **faults: Any) -> tuple[TicketAPIServer, str]:
    """Start the API in a daemon thread; returns ``(server, base_url)``.

    ``faults`` are :class:`FaultConfig` fields (``error_rate``, ``latency_ms``,
    ``rate_limit_every``, ``malformed_page``, ``retry_after``, ``fault_seed``).
    Stop it with :func:`shutdown`.
    """
    cfg = FaultConfig.from_mapping(faults)
    server = make_server(tickets_path, token, host, port, cfg)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"ticket-api-{server.server_address[1]}", daemon=True)
    server.thread = thread
    thread.start()
    logger.info("ticket API on %s (%d tickets)", server.base_url, len(server.store))
    return server, server.base_url


def shutdown(server: TicketAPIServer) -> None:
    """Stop a server started by :func:`serve_in_thread` and close its socket."""
    server.shutdown()
    server.server_close()
    if server.thread is not None:
        server.thread.join(timeout=5)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m churnlake.demo.ticket_api",
                                description="Serve tickets.jsonl as a paginated REST API.")
    p.add_argument("--tickets", required=True, help="tickets.jsonl written by the generator")
    p.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1 only)")
    p.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    p.add_argument("--token-env", default=DEFAULT_TOKEN_ENV,
                   help=f"environment variable holding the bearer token (default {DEFAULT_TOKEN_ENV})")
    p.add_argument("--error-rate", type=float, default=0.0, help="P(500/503) per request")
    p.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
    p.add_argument("--rate-limit-every", type=int, default=0,
                   help="every k-th request answers 429 (0 = off)")
    p.add_argument("--retry-after", type=float, default=1.0,
                   help="Retry-After seconds on 429/503 (fractions allowed, default 1)")
    p.add_argument("--malformed-page", type=int, default=0,
                   help="page number whose first answer is truncated JSON (0 = off)")
    p.add_argument("--fault-seed", type=int, default=1, help="seed of the error_rate RNG")
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: serve until SIGINT/SIGTERM; prints ``LISTENING <url>`` once bound."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get(args.token_env, "")
    if not token:
        parser.error(f"environment variable {args.token_env} must hold the bearer token")
    try:
        faults = FaultConfig(error_rate=args.error_rate, latency_ms=args.latency_ms,
                             rate_limit_every=args.rate_limit_every,
                             malformed_page=args.malformed_page, retry_after=args.retry_after,
                             fault_seed=args.fault_seed)
        server = make_server(args.tickets, token, args.host, args.port, faults)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(f"LISTENING {server.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
