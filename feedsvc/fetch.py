"""HTTP fetching as a good citizen; the only module that talks to the network.

Owns: the configured User-Agent, robots.txt (cached per host), at most one request per
host per ``per_host_delay`` (across sources and threads), conditional GET, redirects
followed by hand so that every hop is checked to be http(s), ``Retry-After`` on
429/503, timeouts (per read and for the whole body), and the ``max_bytes`` cap on both
the compressed and the decompressed body. Every failure is a :class:`FetchError`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib import robotparser
from urllib.parse import urljoin, urlsplit

import requests

from feedsvc import __version__
from feedsvc.config import FetchConfig
from feedsvc.errors import FetchError, RobotsDisallowed

MAX_REDIRECTS = 10
ROBOTS_TTL = 3600.0


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects
    status: int  # 200, or 304 for a conditional hit
    body: bytes = b""
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


class RetryLater(FetchError):
    """429/503 with a Retry-After: the source is asked to wait ``retry_after`` seconds."""

    def __init__(self, url: str, status: int, retry_after: float | None) -> None:
        self.retry_after = retry_after
        wait = f", retry after {retry_after:.0f}s" if retry_after is not None else ""
        super().__init__(url, f"HTTP {status}{wait}", status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Fetcher:
    """One per process: a shared ``requests.Session`` plus per-host politeness state."""

    def __init__(self, cfg: FetchConfig) -> None:
        self.cfg = cfg
        self.session = requests.Session()
        self.session.headers["User-Agent"] = cfg.user_agent or f"feedsvc/{__version__}"
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}
        self._robots: dict[str, tuple[float, robotparser.RobotFileParser | None]] = {}

    def close(self) -> None:
        self.session.close()

    # -- politeness ----------------------------------------------------------------
    def _wait_turn(self, host: str) -> None:
        delay = self.cfg.per_host_delay
        if delay <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(host, 0.0))
            self._next_slot[host] = slot + delay
        if slot > now:
            time.sleep(slot - now)  # politeness, not synchronization

    def allowed(self, url: str) -> bool:
        if not self.cfg.respect_robots:
            return True
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            cached = self._robots.get(root)
        if cached is None or cached[0] < time.monotonic():
            parser: robotparser.RobotFileParser | None = None
            try:
                resp = self._get(root + "/robots.txt", {}, check_robots=False,
                                 limit=512_000)
                if resp.status == 200:
                    parser = robotparser.RobotFileParser()
                    parser.parse(resp.body.decode("utf-8", "replace").splitlines())
            except FetchError as e:
                if e.status in (401, 403):
                    parser = robotparser.RobotFileParser()
                    parser.disallow_all = True
            cached = (time.monotonic() + ROBOTS_TTL, parser)
            with self._lock:
                self._robots[root] = cached
        parser = cached[1]
        return parser is None or parser.can_fetch(self.session.headers["User-Agent"], url)

    def robots_sitemaps(self, url: str) -> list[str]:
        """``Sitemap:`` lines of the host's robots.txt (fetched if needed)."""
        self.allowed(url) if self.cfg.respect_robots else None
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(root)
        if cached and cached[1] is not None:
            return list(cached[1].site_maps() or [])
        try:
            resp = self._get(root + "/robots.txt", {}, check_robots=False, limit=512_000)
        except FetchError:
            return []
        rp = robotparser.RobotFileParser()
        rp.parse(resp.body.decode("utf-8", "replace").splitlines())
        return list(rp.site_maps() or [])

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

    def _get(self, url: str, headers: dict[str, str], *, check_robots: bool,
             limit: int) -> Response:
        seen: list[str] = []
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                where = f" (redirected from {seen[0]})" if seen else ""
                raise FetchError(current, f"refused URL scheme {parts.scheme or '(none)'!r}"
                                          f"{where}: only http and https are fetched")
            if current in seen:
                raise FetchError(url, f"redirect loop via {current}")
            seen.append(current)
            if check_robots and not self.allowed(current):
                raise RobotsDisallowed(current, "disallowed by robots.txt")
            self._wait_turn(parts.hostname)
            resp = self._request(current, headers, limit)
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.headers.get("location")
                if not location:
                    raise FetchError(current, f"HTTP {resp.status} without Location",
                                     resp.status)
                current = urljoin(current, location.strip())
                continue
            return resp
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    def _request(self, url: str, headers: dict[str, str], limit: int) -> Response:
        timeout = self.cfg.timeout
        deadline = time.monotonic() + timeout * 2
        try:
            r = self.session.get(url, headers=headers, timeout=(timeout, timeout),
                                 stream=True, allow_redirects=False)
        except requests.Timeout as e:
            raise FetchError(url, f"timed out after {timeout:g}s") from e
        except requests.RequestException as e:
            raise FetchError(url, f"connection failed: {_reason(e)}") from e
        try:
            hdrs = {k.lower(): v for k, v in r.headers.items()}
            status = r.status_code
            if status in (301, 302, 303, 307, 308, 304):
                return Response(url=url, status=status, headers=hdrs)
            if status in (429, 503):
                raise RetryLater(url, status, _retry_after(hdrs.get("retry-after")))
            if status >= 400:
                raise FetchError(url, f"HTTP {status} {r.reason or ''}".strip(), status)
            declared = hdrs.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError(url, f"body of {int(declared):,} bytes exceeds max_bytes "
                                      f"({limit:,})", status)
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in r.raw.stream(65536, decode_content=True):
                    size += len(chunk)
                    if size > limit or r.raw.tell() > limit:
                        raise FetchError(url, f"body exceeds max_bytes ({limit:,} bytes, "
                                              "after decompression)", status)
                    if time.monotonic() > deadline:
                        raise FetchError(url, f"body not received within {timeout * 2:g}s")
                    chunks.append(chunk)
            except FetchError:
                raise
            except Exception as e:  # urllib3 read/decode errors, timeouts mid-body
                if "timed out" in str(e).lower() or "timeout" in type(e).__name__.lower():
                    raise FetchError(url, f"timed out after {timeout:g}s") from e
                raise FetchError(url, f"body could not be read: {_reason(e)}") from e
            return Response(url=url, status=status, body=b"".join(chunks), headers=hdrs)
        finally:
            r.close()


def _reason(e: Exception) -> str:
    text = str(e)
    for marker in ("Caused by ", "Reason: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()'\" ")[:200] or type(e).__name__
