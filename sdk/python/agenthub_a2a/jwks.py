"""Fetching and caching a signer's JWKS (the hub's is at <hub>/.well-known/jwks.json)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any, Callable, Mapping

__all__ = ["JwksCache", "fetch_jwks"]


def fetch_jwks(url: str, timeout: float = 5.0, max_bytes: int = 1 << 20) -> dict[str, Any]:
    """GETs a JWKS document; ValueError if it is not one. Plain urllib: no extra dependency."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (the URL is configuration)
        body = resp.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ValueError(f"the JWKS at {url} is larger than {max_bytes} bytes")
    doc = json.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError(f"{url} is not a JWKS (no 'keys' list)")
    return doc


class JwksCache:
    """A JWKS read from `url`, kept for `ttl` seconds, read again when a kid is not in it.

    Refetching on an unknown kid lets the signer rotate keys without the verifier restarting;
    it is rate-limited (at most once per `min_refetch_interval` seconds) so a stream of
    messages with made-up kids cannot turn the verifier into a flood of JWKS requests. A fetch
    that fails keeps the keys already known. Thread-safe; the fetch blocks, so async code calls
    `find_key` (or verify_message) through `asyncio.to_thread`.
    """

    def __init__(
        self,
        url: str,
        ttl: float = 300.0,
        min_refetch_interval: float = 5.0,
        timeout: float = 5.0,
        fetch: Callable[[str], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self._fetch = fetch or (lambda u: fetch_jwks(u, timeout=timeout))
        self._clock = clock
        self._keys: dict[str, Mapping[str, Any]] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the document was requested (tests read it)
        self.last_error: Exception | None = None

    def _refresh(self) -> None:
        self._tried_at = self._clock()
        self.fetches += 1
        try:
            doc = self._fetch(self.url)
        except Exception as e:  # noqa: BLE001 - keep the old keys, remember why
            self.last_error = e
            return
        self._keys = {
            k["kid"]: k for k in doc.get("keys", []) if isinstance(k, Mapping) and isinstance(k.get("kid"), str)
        }
        self._fetched_at = self._tried_at
        self.last_error = None

    def find_key(self, kid: str) -> Mapping[str, Any] | None:
        with self._lock:
            now = self._clock()
            expired = self._fetched_at is None or now - self._fetched_at > self.ttl
            may_refetch = self._tried_at is None or now - self._tried_at >= self.min_refetch_interval
            if (expired or kid not in self._keys) and may_refetch:
                self._refresh()
            return self._keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        """The keys as a JWKS document (fetching first if never fetched)."""
        with self._lock:
            if self._fetched_at is None and self._tried_at is None:
                self._refresh()
            return {"keys": list(self._keys.values())}
