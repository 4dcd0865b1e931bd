"""The WSGI fast path: a query-less GET/HEAD of a feed answered before Flask.

When the Flask route answers a query-less feed, it leaves the :class:`Answer` here
(:meth:`FastPath.remember`); for ``TTL`` seconds after that, the same URL is answered
from it without Flask's dispatch or a database read (same bytes and headers: it is the
same :class:`Answer`). After ``TTL`` the request goes through Flask again, which checks
the feed's versions and leaves a fresh answer; a refresh or a reload in this process
forgets every answer at once. Everything else goes to Flask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from feedsvc import metrics
from feedsvc.service import Service
from feedsvc.web.http import Answer

TTL = 1.0  # seconds a remembered answer is trusted before versions are re-read
MAX_ENTRIES = 512
MAX_BYTES = 64 * 1024 * 1024  # of the bodies remembered (a day feed can be megabytes)


class FastPath:
    """WSGI middleware in front of the Flask app."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], service: Service) -> None:
        self.wsgi = wsgi
        self.service = service
        self._answers: dict[str, tuple[Answer, float]] = {}  # scheme://host/path → answer
        self._bytes = 0
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, int], Any] = {}  # labelled children, made lazily
        service.listeners.append(lambda _old, _new: self.forget())
        service.change_listeners.append(lambda _keys: self.forget())

    def remember(self, url: str, answer: Answer) -> None:
        size = len(answer.rendering.body) + len(answer.rendering.body_gz)
        with self._lock:
            if len(self._answers) >= MAX_ENTRIES or self._bytes + size > MAX_BYTES:
                self._answers.clear()
                self._bytes = 0
            old = self._answers.get(url)
            if old is not None:
                self._bytes -= len(old[0].rendering.body) + len(old[0].rendering.body_gz)
            self._answers[url] = (answer, time.monotonic())
            self._bytes += size

    def forget(self) -> None:
        with self._lock:
            self._answers.clear()
            self._bytes = 0

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if (path.startswith("/feeds/") and method in ("GET", "HEAD")
                and not environ.get("QUERY_STRING")):
            self.service.reload()
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            hit = self._answers.get(f"{environ.get('wsgi.url_scheme', 'http')}://{host}{path}")
            if hit is not None and time.monotonic() - hit[1] < TTL:
                answer = hit[0]
                status, headers, body = answer.respond(
                    environ.get("HTTP_ACCEPT_ENCODING", ""),
                    environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"))
                start_response("200 OK" if status == 200 else "304 Not Modified", headers)
                self._count(answer.label, status)
                return [body] if method == "GET" else []
        return self.wsgi(environ, start_response)

    def _count(self, kind: str, status: int) -> None:
        pair = self._counters.get((kind, status))
        if pair is None:
            pair = self._counters[(kind, status)] = (
                metrics.CACHE_LOOKUPS.labels("hit"),
                metrics.FEED_REQUESTS.labels(kind, str(status)))
        pair[0].inc()
        pair[1].inc()
