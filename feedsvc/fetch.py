"""HTTP fetching as a good citizen; the only module that talks to the network.

Owns: the configured User-Agent (on every request, robots.txt included); robots.txt
(RFC 9309: groups by product token, ``*`` / ``$`` patterns, longest match wins; fetched
once per scheme+host and cached; 4xx = no rules except 401/403 = everything disallowed;
5xx, 429 or unreachable = nothing fetched from that host for now); at most one request
per host per ``per_host_delay``, across sources and threads (requests to one host are
serialized and each starts ``per_host_delay`` after the previous one ended); conditional
GET; redirects followed by hand so that every hop is checked (http and https only,
robots.txt, per-host delay; loops and more than ``MAX_REDIRECTS`` refused);
``Retry-After`` on 429/503 (:class:`RetryLater`); timeouts: ``timeout`` per connect and
per read, and twice that for the whole response of each hop (a watchdog shuts the socket
of a server that trickles headers or body); the ``max_bytes`` cap on both the
compressed and the decompressed body (a gzip bomb is refused after inflating at most
``max_bytes``). Every failure is a :class:`FetchError` carrying the URL (and the status
for HTTP errors); no requests/urllib3 exception escapes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from feedsvc import __version__, clock
from feedsvc.config import FetchConfig
from feedsvc.errors import FetchError, RetryLater, RobotsDisallowed

log = logging.getLogger("feedsvc.fetch")
MAX_REDIRECTS = 10
ROBOTS_TTL = 3600.0  # a robots.txt read (or found missing) is trusted this long
ROBOTS_ERROR_TTL = 60.0  # an unreadable robots.txt is retried after this long
ROBOTS_MAX_BYTES = 512_000  # RFC 9309: parse at least 500 KiB; the rest is ignored
MAX_RETRY_AFTER = 86400.0  # a longer Retry-After is read as one day
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 65536


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects
    status: int  # 2xx, or 304 for a conditional hit
    body: bytes = b""  # decoded (Content-Encoding undone), at most max_bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def charset(self) -> str | None:
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                return v.strip("\"' ").lower()
        return None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - clock.now()).total_seconds()), MAX_RETRY_AFTER)


# -- robots.txt (RFC 9309) ------------------------------------------------------------
_TOKEN_RE = re.compile(r"[A-Za-z_-]+")
_PATH_SAFE = "/?=&;:@!$'()*+,~"


def _product_token(user_agent: str) -> str:
    m = _TOKEN_RE.match(user_agent.strip())
    return m.group(0).lower() if m else ""


def _norm_path(path: str) -> str:
    """One percent-encoding for rule patterns and URL paths alike."""
    return quote(unquote(path), safe=_PATH_SAFE)


@dataclass(frozen=True)
class _RobotsRule:
    allow: bool
    length: int  # octets of the pattern: the longest matching rule wins
    pattern: re.Pattern[str]


@dataclass
class _Group:
    agents: set[str] = field(default_factory=set)  # product tokens (lower-case) or "*"
    rules: list[_RobotsRule] = field(default_factory=list)
    closed: bool = False  # a rule line was seen: the next user-agent line starts a group


class Robots:
    """The rules of one robots.txt that apply to one User-Agent, and its Sitemap lines."""

    def __init__(self, text: str, user_agent: str, *, disallow_all: bool = False) -> None:
        self.disallow_all = disallow_all
        self.sitemaps: tuple[str, ...] = ()
        self.rules: tuple[_RobotsRule, ...] = ()
        if text:
            self._parse(text, _product_token(user_agent))

    def _parse(self, text: str, token: str) -> None:
        groups: list[_Group] = []
        sitemaps: list[str] = []
        for raw in text.lstrip("\ufeff").splitlines():
            key, sep, value = raw.split("#", 1)[0].partition(":")
            key, value = key.strip().lower(), value.strip()
            if not sep:
                continue
            if key in ("user-agent", "useragent", "user agent"):
                if not groups or groups[-1].closed:  # a user-agent line after rules
                    groups.append(_Group())
                groups[-1].agents.add(value if value == "*" else _product_token(value))
            elif key in ("allow", "disallow") and groups:
                groups[-1].closed = True
                if value:  # an empty rule matches nothing
                    groups[-1].rules.append(_rule(key == "allow", value))
            elif key == "sitemap" and value:
                sitemaps.append(value)
        mine = [g for g in groups if token and token in g.agents]
        if not mine:
            mine = [g for g in groups if "*" in g.agents]
        self.rules = tuple(r for g in mine for r in g.rules)
        self.sitemaps = tuple(sitemaps)

    def can_fetch(self, url: str) -> bool:
        if self.disallow_all:
            return False
        parts = urlsplit(url)
        path = _norm_path((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        if path == "/robots.txt":
            return True
        best: _RobotsRule | None = None
        for rule in self.rules:
            if rule.pattern.match(path) and (
                    best is None or rule.length > best.length
                    or (rule.length == best.length and rule.allow)):
                best = rule
        return best is None or best.allow


def _rule(allow: bool, value: str) -> _RobotsRule:
    if not value.startswith(("/", "*")):
        value = "/" + value
    value = _norm_path(value)
    anchored = value.endswith("$")
    body = value[:-1] if anchored else value
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    return _RobotsRule(allow, len(value), re.compile(regex + ("$" if anchored else ""), re.DOTALL))


@dataclass(frozen=True)
class _RobotsEntry:
    expires: float  # time.monotonic()
    robots: Robots | None = None  # None: no robots.txt, everything allowed
    error: FetchError | None = None  # why robots.txt is unreadable: nothing is fetched


# -- the whole-response deadline ----------------------------------------------------
class _Watch:
    """One request's deadline, and the socket it runs on once the request is sent."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.expired = False
        self.done = False

    def attach(self, sock: socket.socket | None) -> None:
        with self.lock:
            self.sock = sock
            if self.expired:
                self._shut()

    def expire(self) -> None:
        with self.lock:
            if not self.done:
                self.expired = True
                self._shut()

    def _shut(self) -> None:
        # The socket itself, not the connection's attribute: http.client drops that
        # (conn.sock = None) for a "Connection: close" response still being read.
        if self.sock is not None and not self.done:
            with suppress(OSError):  # wakes the reader: its recv() sees an end of stream
                self.sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.lock:
            self.done = True
            self.sock = None  # the pool may close it; the watchdog's heap must not hold it


class _Watchdog:
    """One daemon thread that shuts the sockets of requests that pass their deadline.

    It is woken only for a deadline earlier than the one it sleeps towards: requests
    made one after another each have a later deadline than the last, and waking the
    thread for each (to sleep again) cost a thread switch and a GIL hand-over a page."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._wakes_at: float | None = None  # None: asleep until notified

    def watch(self, seconds: float) -> _Watch:
        w = _Watch(time.monotonic() + seconds)
        with self._cond:
            while self._heap and self._heap[0][2].done:  # finished requests: let go
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (w.deadline, next(self._seq), w))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="feedsvc-fetch-watchdog")
                self._thread.start()
            elif self._wakes_at is None or w.deadline < self._wakes_at:
                self._cond.notify()
        return w

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wakes_at = None
                    self._cond.wait()
                    continue
                deadline = self._heap[0][0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._wakes_at = deadline
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].expire()


_watchdog = _Watchdog()
_current = threading.local()  # .watch: the _Watch of this thread's request in flight


def _attach(conn: Any) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(conn.sock)


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().request(*args, **kwargs)  # connects if needed, sends the request
        _attach(self)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().request(*args, **kwargs)
        _attach(self)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter on connections whose sockets the watchdog can reach."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = _POOLS  # not for SOCKS, which has its own
        return manager


# -- the fetcher ----------------------------------------------------------------------
def _read_environment_once(session: requests.Session) -> None:
    """Read the proxy and CA-bundle settings from the environment once, not on every
    request: with ``trust_env`` requests re-reads ``os.environ`` (every variable, for
    ``*_proxy``) and looks for ``~/.netrc`` on each one, ~0.15 ms of the ~0.9 ms a page
    costs to fetch (bench/ingest). Behind a proxy it keeps doing so: requests applies
    ``no_proxy`` per URL (and, as before, ``~/.netrc``)."""
    if urllib.request.getproxies():
        return  # requests picks the proxy (or not, by no_proxy) for each URL
    session.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


class _Host:
    """Per-host politeness: one request at a time, ``per_host_delay`` apart."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free_at = 0.0  # time.monotonic() when the next request may start


class Fetcher:
    """One per process: a shared ``requests.Session`` plus per-host politeness state."""

    def __init__(self, cfg: FetchConfig) -> None:
        self.cfg = cfg
        self.user_agent = cfg.user_agent or f"feedsvc/{__version__}"
        self.session = requests.Session()
        self.session.mount("http://", _Adapter())
        self.session.mount("https://", _Adapter())
        self.session.headers["User-Agent"] = self.user_agent
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        _read_environment_once(self.session)
        self._lock = threading.Lock()
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, _RobotsEntry] = {}
        self._robots_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self.session.close()

    # -- politeness ----------------------------------------------------------------
    @contextmanager
    def _turn(self, host: str) -> Iterator[None]:
        """Hold ``host`` for one request, starting ``per_host_delay`` after the last."""
        delay = self.cfg.per_host_delay
        if delay <= 0:
            yield
            return
        with self._lock:
            state = self._hosts.setdefault(host, _Host())
        with state.lock:
            wait = state.free_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # politeness, not synchronization
            try:
                yield
            finally:
                state.free_at = time.monotonic() + delay

    def _robots_for(self, url: str) -> _RobotsEntry:
        """The cached robots.txt entry of ``url``'s scheme and host (fetched if needed)."""
        parts = urlsplit(url)
        root = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        with self._lock:
            lock = self._robots_locks.setdefault(root, threading.Lock())
        with lock:  # one fetch per host, however many threads ask at once
            entry = self._robots.get(root)
            if entry is not None and entry.expires > time.monotonic():
                return entry
            robots_url = root + "/robots.txt"
            try:
                resp = self._get(robots_url, {}, check_robots=False, limit=ROBOTS_MAX_BYTES,
                                 truncate=True)
                text = resp.body.decode("utf-8", "replace")
                entry = _RobotsEntry(time.monotonic() + ROBOTS_TTL,
                                     Robots(text, self.user_agent))
            except RetryLater as e:
                entry = _RobotsEntry(time.monotonic() + ROBOTS_ERROR_TTL, error=e)
            except FetchError as e:
                if e.status in (401, 403):
                    entry = _RobotsEntry(time.monotonic() + ROBOTS_TTL,
                                         Robots("", self.user_agent, disallow_all=True))
                elif e.status is not None and 400 <= e.status < 500:
                    entry = _RobotsEntry(time.monotonic() + ROBOTS_TTL)  # no robots.txt
                else:  # 5xx, unreachable, refused: RFC 9309 says assume complete disallow
                    entry = _RobotsEntry(time.monotonic() + ROBOTS_ERROR_TTL, error=e)
            self._robots[root] = entry
            return entry

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our User-Agent fetch ``url`` (always, when
        ``respect_robots`` is off). Raises FetchError when robots.txt is unreadable."""
        if not self.cfg.respect_robots:
            return True
        entry = self._robots_for(url)
        if isinstance(entry.error, RetryLater):
            e = entry.error
            raise RetryLater(e.url, e.status or 503, e.retry_after, e.reason) from e
        if entry.error is not None:
            e = entry.error
            raise FetchError(e.url, "robots.txt could not be read, so nothing is fetched "
                                    f"from this host for now: {e.message}", e.status) from e
        return entry.robots is None or entry.robots.can_fetch(url)

    def robots_sitemaps(self, url: str) -> list[str]:
        """``Sitemap:`` lines of the host's robots.txt (fetched if needed; [] if none)."""
        entry = self._robots_for(url)
        return list(entry.robots.sitemaps) if entry.robots is not None else []

    # -- fetching ------------------------------------------------------------------
    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            accept: str | None = None) -> Response:
        """GET ``url`` (conditionally when validators are given)."""
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        return self._get(url, headers, check_robots=True, limit=self.cfg.max_bytes)

    def _get(self, url: str, headers: dict[str, str], *, check_robots: bool, limit: int,
             truncate: bool = False) -> Response:
        seen: list[str] = []
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                parts = urlsplit(current)
                host, _port = parts.hostname, parts.port
            except ValueError as e:
                raise FetchError(current, f"malformed URL: {e}") from e
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                what = f"{scheme!r} URL" if scheme else "URL without a scheme"
                if seen:
                    what = f"redirect from {seen[-1]} to a {what}"
                raise FetchError(current, f"refused {what}: only http and https are fetched")
            if not host:
                raise FetchError(current, "malformed URL: no host")
            if current in seen:
                raise FetchError(url, f"redirect loop: {current} was already visited")
            seen.append(current)
            if check_robots and not self.allowed(current):
                raise RobotsDisallowed(current, f"disallowed by robots.txt for User-Agent "
                                                f"{self.user_agent!r}")
            with self._turn(host):
                started = time.monotonic()
                try:
                    resp = self._request(current, headers, limit, truncate)
                except FetchError as e:
                    log.info("fetch url=%s status=%s ms=%d error=%r", current, e.status,
                             (time.monotonic() - started) * 1000, e.message)
                    raise
                log.info("fetch url=%s status=%d bytes=%d ms=%d", current, resp.status,
                         len(resp.body), (time.monotonic() - started) * 1000)
            if resp.status in _REDIRECTS:
                try:
                    current = urldefrag(urljoin(current, resp.headers["location"])).url
                except ValueError as e:
                    raise FetchError(current, f"HTTP {resp.status} to a malformed Location "
                                     f"{resp.headers['location']!r}", resp.status) from e
                continue
            return resp
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects (last: {current})")

    def _request(self, url: str, headers: dict[str, str], limit: int,
                 truncate: bool) -> Response:
        timeout = self.cfg.timeout
        watch = _watchdog.watch(timeout * 2)
        too_slow = f"timed out: the response took longer than {timeout * 2:g}s"
        _current.watch = watch
        try:
            try:
                r = self.session.get(url, headers=headers, timeout=(timeout, timeout),
                                     stream=True, allow_redirects=False)
            except requests.Timeout as e:
                raise FetchError(url, f"timed out after {timeout:g}s") from e
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                    ValueError) as e:
                if watch.expired:
                    raise FetchError(url, too_slow) from e
                raise FetchError(url, f"connection failed: {_reason(e)}") from e
            try:
                return self._read(r, url, limit, truncate, watch, too_slow)
            finally:
                watch.finish()  # before the connection goes back to the pool
                r.close()
        finally:
            watch.finish()
            _current.watch = None

    def _read(self, r: requests.Response, url: str, limit: int, truncate: bool,
              watch: _Watch, too_slow: str) -> Response:
        hdrs = {k.lower(): v for k, v in r.headers.items()}
        status = r.status_code
        reason = r.reason or ""
        if status in _REDIRECTS:
            location = self.session.get_redirect_target(r)
            if not location:
                raise FetchError(url, f"HTTP {status} without Location", status)
            return Response(url=url, status=status, headers=hdrs | {"location": location})
        if status == 304:
            return Response(url=url, status=status, headers=hdrs)
        if status in (429, 503):
            raise RetryLater(url, status, _retry_after(hdrs.get("retry-after")), reason)
        if status >= 300:
            raise FetchError(url, f"HTTP {status} {reason}".strip(), status)
        declared = hdrs.get("content-length", "").strip()
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise FetchError(url, f"body of {int(declared):,} bytes exceeds max_bytes "
                                  f"({limit:,})")
        encoded = hdrs.get("content-encoding", "identity").lower() not in ("", "identity")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in r.raw.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > limit and truncate:
                    chunks.append(chunk[:len(chunk) - (size - limit)])
                    break
                if r.raw.tell() > limit:
                    raise FetchError(url, f"body exceeds max_bytes ({limit:,} bytes)")
                if size > limit:
                    after = ", after decompression" if encoded else ""
                    raise FetchError(url, f"body exceeds max_bytes ({limit:,} bytes{after})")
                chunks.append(chunk)
        except FetchError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                ValueError) as e:  # mid-body timeouts, resets, broken gzip
            if watch.expired:
                raise FetchError(url, too_slow) from e
            if "timed out" in str(e).lower() or "timeout" in type(e).__name__.lower():
                raise FetchError(url, f"timed out after {self.cfg.timeout:g}s") from e
            raise FetchError(url, f"body could not be read: {_reason(e)}") from e
        if watch.expired:  # the watchdog's shutdown can look like a normal end of body
            raise FetchError(url, too_slow)
        return Response(url=url, status=status, body=b"".join(chunks), headers=hdrs)


def _reason(e: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without object reprs."""
    node: BaseException | None = e
    deepest = e
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        deepest = node
        if isinstance(node, OSError) and node.strerror:
            return node.strerror
        inner = getattr(node, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in node.args if isinstance(a, BaseException)), None)
        node = inner or node.__cause__ or node.__context__
    text = str(deepest)
    for marker in ("Caused by ", "Reason: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>:?\s*", "", text)
    return text.strip("()'\" ")[:200] or type(deepest).__name__
