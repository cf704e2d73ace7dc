"""Per-client rate limits on code lookups, so that nobody can enumerate package codes.

Two token buckets per client address, in this process's memory:

* lookups: every code lookup (package, lot, proof bundle) takes a token; generous, so that a shop
  or a carrier-grade NAT full of phones is not blocked (default burst 120, refill 2 per second);
* misses: every malformed or unknown code takes a token from a much smaller bucket (default burst
  20, refill 1 per minute). When it is empty the client gets 429 for every lookup until it refills,
  whether its next guess would have hit or not, so guessing learns nothing.

With 100 random bits per serial, guessing is hopeless anyway; the limits also keep a scraper from
loading the database. Memory is bounded (idle, refilled clients are forgotten first). Each
process keeps its own buckets: with N gunicorn workers a client gets up to N times the rate,
which is fine for this purpose and needs no shared store. Behind a reverse proxy set
TRACE_PROXY_HOPS to the number of proxies so that the client address is read from
X-Forwarded-For, not the proxy's.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

DEFAULT_LOOKUP_LIMIT = (120, 2.0)  # burst, tokens per second
DEFAULT_MISS_LIMIT = (20, 1 / 60)
MAX_CLIENTS = 50_000


class TokenBuckets:
    """Token buckets keyed by client; `take` answers 0 when allowed, else seconds to wait."""

    def __init__(self, burst: float, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("a rate limit needs a burst of at least 1 and a positive refill rate")
        self.burst = float(burst)
        self.rate = float(per_second)
        self.clock = clock
        self.max_clients = max_clients
        self._state: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until the client has a token again (0: it has one now). Takes nothing."""
        with self._lock:
            tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens if the client has them: 0.0; else the seconds to wait (nothing taken)."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, now)
            if tokens < cost:
                return (cost - tokens) / self.rate
            self._state[key] = (tokens - cost, now)
            if len(self._state) > self.max_clients:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        # Clients whose bucket has refilled are indistinguishable from new ones: drop them first.
        full = [k for k, (tok, at) in self._state.items() if tok + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._state[k]
        if len(self._state) > self.max_clients:  # a flood of distinct addresses: drop the oldest half
            for k, _ in sorted(self._state.items(), key=lambda kv: kv[1][1])[: len(self._state) // 2]:
                del self._state[k]


class LookupLimiter:
    """The two buckets of code lookups: all lookups, and misses."""

    def __init__(self, lookups: tuple[float, float] | None = DEFAULT_LOOKUP_LIMIT,
                 misses: tuple[float, float] | None = DEFAULT_MISS_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lookups = TokenBuckets(*lookups, clock=clock) if lookups else None
        self.misses = TokenBuckets(*misses, clock=clock) if misses else None

    def check(self, client: str) -> int:
        """Before a lookup: 0 to go ahead, else whole seconds to wait (for Retry-After)."""
        wait = self.misses.wait(client) if self.misses else 0.0
        if not wait and self.lookups:
            wait = self.lookups.take(client)
        return math.ceil(wait) if wait else 0

    def miss(self, client: str) -> None:
        """After a malformed or unknown code."""
        if self.misses:
            self.misses.take(client)


def client_address(remote_addr: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The client's address: the socket peer, or with `proxy_hops` trusted proxies in front, the
    address that many hops back in X-Forwarded-For (the entries before it can be forged)."""
    if proxy_hops > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= proxy_hops:
            return hops[-proxy_hops]
    return remote_addr or "unknown"
