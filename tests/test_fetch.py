"""The fetcher as a good citizen, against real HTTP servers on 127.0.0.1 (no other
network): User-Agent, robots.txt, per-host delay, conditional GET, Retry-After and
back-off, timeouts, max_bytes (gzip bombs included), redirects, and every failure as a
FetchError that ends as a clear ``last_error`` on its source without losing anything."""

from __future__ import annotations

import functools
import gzip
import textwrap
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from conftest import EXPECTED, NOW, free_port, serve_sample_site
from httpserver import Reply, TestServer, send

from feedsvc import clock
from feedsvc import config as config_mod
from feedsvc.config import FetchConfig
from feedsvc.errors import FetchError, RobotsDisallowed
from feedsvc.fetch import MAX_REDIRECTS, Fetcher, RetryLater, Robots
from feedsvc.refresh import MAX_BACKOFF, Refresher
from feedsvc.store import Store

UA = "feedsvc-test/1.0 (+https://feeds.example.org/about)"
MB = 1_000_000


class Stream:
    """A reply that streams a generator (never all in memory) and counts what it sent."""

    def __init__(self, chunks: Callable[[], Iterable[bytes]], length: int | None) -> None:
        self.chunks = chunks
        self.length = length
        self.sent = 0
        self.done = threading.Event()  # set when the handler has stopped writing

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        try:
            headers = {} if self.length is None else {"Content-Length": str(self.length)}
            send(h, 200, b"", headers, length=self.length is not None)
            for chunk in self.chunks():
                h.wfile.write(chunk)
                self.sent += len(chunk)
        finally:
            self.done.set()


def zeros(total: int, block: int = 65536) -> Iterator[bytes]:
    chunk = bytes(block)
    for _ in range(total // block):
        yield chunk


@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip member of ``inflated`` zero bytes: about a thousandth of that compressed."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(chunk) for chunk in zeros(inflated, 1 << 20)]
    return b"".join(parts) + c.flush()


@pytest.fixture
def web() -> Iterator[TestServer]:
    srv = TestServer()
    yield srv
    srv.stop()


@pytest.fixture
def fetcher() -> Iterator[Callable[..., Fetcher]]:
    made: list[Fetcher] = []

    def make(**kw: Any) -> Fetcher:
        settings: dict[str, Any] = {"user_agent": UA, "timeout": 1.0, "per_host_delay": 0,
                                    "respect_robots": False} | kw
        f = Fetcher(FetchConfig(**settings))
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def fails(call: Callable[[], Any], kind: type[FetchError] = FetchError) -> FetchError:
    """The FetchError ``call`` raises; any other exception fails the test."""
    with pytest.raises(kind) as info:
        call()
    return info.value


# -- 1. User-Agent ---------------------------------------------------------------------
def test_user_agent_on_pages_feeds_redirects_and_robots(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.page("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    web.page("/news/1")
    web.page("/feed.xml", "<rss version='2.0'><channel/></rss>",
             headers={"Content-Type": "application/rss+xml"})
    web.redirect("/old", "/news/1")
    f = fetcher(respect_robots=True)
    f.get(web.url("/news/1"))
    f.get(web.url("/feed.xml"), accept="application/rss+xml")
    assert f.get(web.url("/old")).url == web.url("/news/1")
    assert [h.path for h in web.log] == ["/robots.txt", "/news/1", "/feed.xml", "/old",
                                          "/news/1"]
    assert {h.headers.get("user-agent") for h in web.log} == {UA}


def test_user_agent_through_a_refresh(site: TestServer, tmp_path: Path, store_for) -> None:  # noqa: ANN001
    serve_sample_site(site, sorted(EXPECTED)[:3])
    site.add("/robots.txt", "User-agent: *\nAllow: /\n", ctype="text/plain")
    cfg = _config(tmp_path, f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{site.url('/feed.xml')}"
        fulltext = true
        """, respect_robots=True)
    r = _refresher(cfg, store_for)
    [result] = r.refresh()
    assert result.outcome == "new" and result.new > 1, result
    paths = [p for p, _ in site.requests]
    assert paths[:2] == ["/robots.txt", "/feed.xml"] and paths.count("/robots.txt") == 1
    assert sum(p.startswith("/news/") for p in paths) == result.new  # every page fetched
    assert {h.get("User-Agent") for _, h in site.requests} == {UA}


# -- 2. robots.txt ---------------------------------------------------------------------
def test_an_operators_proxy_carries_requests_and_no_proxy_is_honoured(
        web: TestServer, fetcher, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The fetcher reads the environment once, not per request (bench/ingest): behind a
    proxy (``HTTP_PROXY``) every request still goes through it, robots.txt included,
    and the hosts ``NO_PROXY`` names are still fetched directly."""
    proxy = TestServer()
    try:
        proxy.page("http://news.invalid/robots.txt", "User-agent: *\nAllow: /\n")
        proxy.page("http://news.invalid/a", "<p>through the proxy</p>")
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        monkeypatch.setenv("NO_PROXY", "localhost")
        f = fetcher(respect_robots=True)
        assert f.get("http://news.invalid/a").body == b"<p>through the proxy</p>"
        assert f.get(web.page("/b", "direct", headers={}).replace(
            "127.0.0.1", "localhost")).body == b"direct"
        assert [h.path for h in proxy.log] == ["http://news.invalid/robots.txt",
                                               "http://news.invalid/a"]
        assert [h.path for h in web.log] == ["/robots.txt", "/b"]
    finally:
        proxy.stop()


def test_robots_disallow_is_refused_with_a_clear_message(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.page("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    web.page("/private/a")
    web.page("/public/a")
    f = fetcher(respect_robots=True)
    assert f.get(web.url("/public/a")).status == 200
    e = fails(lambda: f.get(web.url("/private/a")), RobotsDisallowed)
    assert e.url == web.url("/private/a") and e.status is None
    assert f"disallowed by robots.txt for User-Agent {UA!r}" in str(e)
    assert web.count("/private/a") == 0


def test_robots_disallow_applies_to_every_redirect_hop(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.page("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    web.redirect("/go", "/private/a")
    web.page("/private/a")
    e = fails(lambda: fetcher(respect_robots=True).get(web.url("/go")), RobotsDisallowed)
    assert e.url == web.url("/private/a") and web.count("/private/a") == 0


def test_robots_is_fetched_once_per_host_for_many_urls_and_threads(web: TestServer,
                                                                    fetcher) -> None:  # noqa: ANN001
    second = threading.Event()

    def robots(h: BaseHTTPRequestHandler) -> None:
        if web.count("/robots.txt") > 1:
            second.set()
        second.wait(0.3)  # long enough for a racing second robots.txt request to show
        send(h, 200, b"User-agent: *\nDisallow: /no\n", {"Content-Type": "text/plain"})

    web.routes["/robots.txt"] = robots
    for i in range(12):
        web.page(f"/p{i}")
    f = fetcher(respect_robots=True)
    errors: list[BaseException] = []

    def get(i: int) -> None:
        try:
            f.get(web.url(f"/p{i}"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=get, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8, 12):
        get(i)
    assert not errors and not second.is_set()
    assert web.count("/robots.txt") == 1
    assert sum(web.count(f"/p{i}") for i in range(12)) == 12


def test_robots_ignored_when_respect_robots_is_false(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.page("/robots.txt", "User-agent: *\nDisallow: /\n")
    web.page("/a")
    assert fetcher(respect_robots=False).get(web.url("/a")).status == 200
    assert web.count("/robots.txt") == 0


def test_robots_that_404s_allows_everything(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.page("/a")
    f = fetcher(respect_robots=True)
    assert f.get(web.url("/a")).status == 200
    assert f.get(web.url("/a")).status == 200
    assert [h.path for h in web.log] == ["/robots.txt", "/a", "/a"]


@pytest.mark.parametrize("status", [401, 403])
def test_robots_401_or_403_disallows_everything(web: TestServer, fetcher, status: int) -> None:  # noqa: ANN001
    web.page("/robots.txt", "private", status)
    web.page("/a")
    e = fails(lambda: fetcher(respect_robots=True).get(web.url("/a")), RobotsDisallowed)
    assert "disallowed by robots.txt" in str(e) and web.count("/a") == 0


@pytest.mark.parametrize("status", [500, 429])
def test_unreadable_robots_fetches_nothing_from_the_host(web: TestServer, fetcher,  # noqa: ANN001
                                                         status: int) -> None:
    web.page("/robots.txt", "oops", status)
    web.page("/a")
    e = fails(lambda: fetcher(respect_robots=True).get(web.url("/a")))
    assert e.status == status and e.url == web.url("/robots.txt")
    if status == 500:
        assert "robots.txt could not be read" in str(e) and "HTTP 500" in str(e)
    else:
        assert isinstance(e, RetryLater)
    assert web.count("/a") == 0


def test_huge_robots_is_read_up_to_500_kib_not_refused(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.page("/robots.txt", "User-agent: *\nDisallow: /private/\n" + "# padding\n" * 100_000)
    web.page("/a")
    f = fetcher(respect_robots=True, max_bytes=100_000)
    assert f.get(web.url("/a")).status == 200
    fails(lambda: f.get(web.url("/private/a")), RobotsDisallowed)


def test_robots_rules_follow_rfc_9309() -> None:
    text = textwrap.dedent("""\
        \ufeff# comments and unknown lines are ignored
        Crawl-delay: 5
        User-agent: otherbot
        Disallow: /

        User-agent: Feedsvc-Test
        User-agent: bing
        Disallow: /private/          # a comment
        Allow: /private/public-*
        Disallow: /*.pdf$
        Disallow: /search?
        Allow: /$

        User-agent: *
        Disallow: /

        Sitemap: https://news.example/sitemap.xml
        """)
    rules = Robots(text, UA)
    allowed = ["/", "/news/a", "/private", "/private/public-1", "/a.pdf?x=1", "/search",
               "/robots.txt", "/%7Euser"]
    refused = ["/private/", "/private/x", "/docs/a.pdf", "/search?q=x", "/private/%70ublic"]
    for path in allowed:
        assert rules.can_fetch("https://news.example" + path), path
    for path in refused:
        assert not rules.can_fetch("https://news.example" + path), path
    assert rules.sitemaps == ("https://news.example/sitemap.xml",)
    # Another agent falls back to "*"; an empty Disallow still ends its group.
    assert not Robots(text, "curl/8").can_fetch("https://news.example/news")
    grouped = Robots("User-agent: feedsvc-test\nDisallow:\n\nUser-agent: *\nDisallow: /\n",
                     UA)
    assert grouped.can_fetch("https://news.example/news")
    # Longest match wins whatever the order; on a tie, Allow wins.
    assert not Robots("User-agent: *\nAllow: /\nDisallow: /x\n", UA).can_fetch("http://h/x/1")
    assert Robots("User-agent: *\nDisallow: /x\nAllow: /x\n", UA).can_fetch("http://h/x")
    assert Robots("", UA).can_fetch("http://h/anything")


# -- 3. one request per host per delay --------------------------------------------------
def test_one_request_per_host_per_delay_across_threads(web: TestServer, fetcher) -> None:  # noqa: ANN001
    delay = 0.2
    for i in range(6):
        web.page(f"/p{i}")
    f = fetcher(per_host_delay=delay)
    threads = [threading.Thread(target=lambda k=k: [f.get(web.url(f"/p{i}"))
                                                    for i in range(k, 6, 2)])
               for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(h.at for h in web.log)
    assert len(times) == 6
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= delay, gaps


def test_different_hosts_do_not_wait_for_each_other(web: TestServer, fetcher) -> None:  # noqa: ANN001
    delay = 0.5
    web.page("/a")
    f = fetcher(per_host_delay=delay)
    f.get(web.url("/a"))
    started = time.monotonic()
    f.get(web.url("/a", host="localhost"))  # another host name: no wait
    assert time.monotonic() - started < delay / 2
    f.get(web.url("/a"))  # the same host again: waits its turn
    first, other, again = (h.at for h in web.log)
    assert other - first < delay / 2 and again - first >= delay


# -- 4. conditional GET ------------------------------------------------------------------
def test_conditional_get_sends_validators_and_reads_304(web: TestServer, fetcher) -> None:  # noqa: ANN001
    stamp = "Wed, 25 Nov 2026 08:00:00 GMT"

    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"' or h.headers.get(
                "If-Modified-Since") == stamp:
            send(h, 304, b"", {"ETag": '"v1"'})
        else:
            send(h, 200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": stamp})

    web.routes["/feed.xml"] = feed
    f = fetcher()
    first = f.get(web.url("/feed.xml"))
    assert first.status == 200 and not first.not_modified and first.body == b"<rss/>"
    assert first.headers["etag"] == '"v1"' and first.headers["last-modified"] == stamp
    by_etag = f.get(web.url("/feed.xml"), etag='"v1"')
    by_date = f.get(web.url("/feed.xml"), last_modified=stamp)
    both = f.get(web.url("/feed.xml"), etag='"v1"', last_modified=stamp)
    assert by_etag.not_modified and by_date.not_modified and both.not_modified
    assert both.body == b"" and both.status == 304
    plain, etag, date, both_sent = (h.headers for h in web.log)
    assert "if-none-match" not in plain and "if-modified-since" not in plain
    assert etag["if-none-match"] == '"v1"' and "if-modified-since" not in etag
    assert date["if-modified-since"] == stamp and "if-none-match" not in date
    assert both_sent["if-none-match"] == '"v1"' and both_sent["if-modified-since"] == stamp


# -- 5. Retry-After and back-off ----------------------------------------------------------
@pytest.mark.parametrize(("status", "header", "expected"), [
    (429, "120", 120.0),
    (503, format_datetime(NOW + timedelta(seconds=300), usegmt=True), 300.0),
    (429, format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    (503, "9999999999999", 86400.0),  # capped: a server cannot park a source for ages
    (503, None, None),
    (429, "soon", None),
    (429, "\u00b2", None),  # a digit to str.isdigit(), not a number
])
def test_retry_after_on_429_and_503(web: TestServer, fetcher, status: int,  # noqa: ANN001
                                    header: str | None, expected: float | None) -> None:
    web.page("/feed.xml", "busy", status, {"Retry-After": header} if header else {})
    e = fails(lambda: fetcher().get(web.url("/feed.xml")), RetryLater)
    assert isinstance(e, RetryLater)
    assert e.status == status and e.retry_after == expected and e.url == web.url("/feed.xml")
    assert f"HTTP {status}" in str(e)
    if expected:
        assert f"retry after {expected:.0f}s" in str(e)


def test_retry_after_pushes_next_run_and_is_obeyed(web: TestServer, tmp_path: Path,
                                                   store_for) -> None:  # noqa: ANN001
    web.page("/feed.xml", "slow down", 429, {"Retry-After": "120"})
    cfg = _config(tmp_path, f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{web.url('/feed.xml')}"
        every = "10m"
        """)
    r = _refresher(cfg, store_for)
    src = cfg.sources[0]
    [result] = r.refresh()
    assert result.outcome == "error" and result.status == 429
    state = r.store.source_state("news")
    assert state.next_run == NOW + timedelta(seconds=120)  # not the 10m back-off
    assert state.last_status == 429 and "retry after 120s" in (state.last_error or "")
    assert r.refresh_source(src, force=False).outcome != "error"
    clock.set_now(NOW + timedelta(seconds=119))
    r.refresh(force=False)
    assert web.count("/feed.xml") == 1 and not r.due(src)  # asked to wait: did not call
    clock.set_now(NOW + timedelta(seconds=120))
    web.page("/feed.xml", _rss("https://news.example/1"), headers=RSS)
    [ok] = r.refresh(force=False)
    assert ok.outcome == "new" and web.count("/feed.xml") == 2
    state = r.store.source_state("news")
    assert state.failures == 0 and state.next_run is None and state.last_error is None


def test_failing_source_backs_off_exponentially_then_resets(web: TestServer, tmp_path: Path,
                                                            store_for) -> None:  # noqa: ANN001
    web.page("/feed.xml", "oops", 500)
    cfg = _config(tmp_path, f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{web.url('/feed.xml')}"
        every = "2h"
        """)
    r = _refresher(cfg, store_for)
    waits = []
    for failures in (1, 2, 3, 4):
        r.refresh()
        state = r.store.source_state("news")
        assert state.failures == failures and state.last_status == 500
        assert state.next_run is not None
        waits.append((state.next_run - NOW).total_seconds())
    assert waits == [7200, 14400, MAX_BACKOFF, MAX_BACKOFF]  # 2h, 4h, then the 6h cap
    r.refresh_source(cfg.sources[0], force=False)  # backing off: not even asked
    assert web.count("/feed.xml") == 4
    web.page("/feed.xml", _rss("https://news.example/1"), headers=RSS)
    [ok] = r.refresh()
    assert ok.outcome == "new"
    state = r.store.source_state("news")
    assert (state.failures, state.next_run, state.last_error, state.last_status) == (
        0, None, None, None)


# -- 6. timeouts ----------------------------------------------------------------------------
def test_server_that_never_answers_times_out(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.routes["/feed.xml"] = web.hang
    started = time.monotonic()
    e = fails(lambda: fetcher(timeout=0.5).get(web.url("/feed.xml")))
    elapsed = time.monotonic() - started
    assert "timed out after 0.5s" in str(e) and e.url == web.url("/feed.xml")
    assert 0.4 < elapsed < 1.5, elapsed


@pytest.mark.parametrize("where", ["body", "body without length", "headers"])
def test_server_that_trickles_forever_fails_at_the_deadline(web: TestServer, fetcher,  # noqa: ANN001
                                                            where: str) -> None:
    web.routes["/feed.xml"] = {
        "body": web.trickle,
        "body without length": functools.partial(web.trickle, length=False),
        "headers": web.trickle_headers,
    }[where]
    started = time.monotonic()
    e = fails(lambda: fetcher(timeout=0.5).get(web.url("/feed.xml")))
    elapsed = time.monotonic() - started
    # Each byte comes well within the 0.5s read timeout: only the whole-response
    # deadline (twice the timeout) stops it.
    assert "timed out: the response took longer than 1s" in str(e), e
    assert 0.9 < elapsed < 2.0, elapsed


def test_a_short_deadline_is_kept_while_a_longer_one_runs(web: TestServer,
                                                          fetcher) -> None:  # noqa: ANN001
    # One watchdog thread keeps every deadline and sleeps towards the earliest: a
    # request with a shorter one, started while a slow request runs, must wake it.
    slow_started = threading.Event()

    def slow(h: BaseHTTPRequestHandler) -> None:
        slow_started.set()
        web.trickle(h)

    web.routes["/slow"] = slow
    web.routes["/feed.xml"] = web.trickle
    other = threading.Thread(target=lambda: fails(
        lambda: fetcher(timeout=3).get(web.url("/slow"))), daemon=True)
    other.start()
    assert slow_started.wait(5)
    started = time.monotonic()
    e = fails(lambda: fetcher(timeout=0.5).get(web.url("/feed.xml")))
    elapsed = time.monotonic() - started
    assert "timed out: the response took longer than 1s" in str(e), e
    assert 0.9 < elapsed < 2.0, elapsed
    other.join(10)


# -- 7. max_bytes -----------------------------------------------------------------------------
@pytest.mark.parametrize("declared", [True, False])
def test_huge_body_is_refused_while_streaming(web: TestServer, fetcher, declared: bool) -> None:  # noqa: ANN001
    size = 50 * MB
    body = web.routes["/big"] = Stream(lambda: zeros(size), size if declared else None)
    e = fails(lambda: fetcher(max_bytes=5 * MB).get(web.url("/big")))
    assert e.url == web.url("/big") and "after decompression" not in str(e)
    if declared:
        assert "body of 50,000,000 bytes exceeds max_bytes (5,000,000)" in str(e)
    else:
        assert "body exceeds max_bytes (5,000,000 bytes)" in str(e)
    assert body.done.wait(10)  # the server's writes fail once the client has gone
    assert body.sent < size / 2


@pytest.mark.parametrize("declared", [True, False])
def test_gzip_bomb_is_refused_without_inflating_it(web: TestServer, fetcher,  # noqa: ANN001
                                                   declared: bool) -> None:
    bomb = gzip_bomb(64 * MB)
    assert len(bomb) < 100_000  # tens of KB on the wire
    web.routes["/bomb"] = lambda h: send(h, 200, bomb, {"Content-Encoding": "gzip"},
                                         length=declared)
    f = fetcher(max_bytes=MB)
    tracemalloc.start()
    try:
        e = fails(lambda: f.get(web.url("/bomb")))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "body exceeds max_bytes (1,000,000 bytes, after decompression)" in str(e)
    assert peak < 8 * MB, peak  # inflated, it would be 64 MB


def test_gzip_body_within_the_cap_is_decoded(web: TestServer, fetcher) -> None:  # noqa: ANN001
    text = "<p>Новини дня</p>".encode() * 1000
    web.page("/news", gzip.compress(text), headers={"Content-Encoding": "gzip"})
    resp = fetcher(max_bytes=len(text)).get(web.url("/news"))
    assert resp.body == text and resp.charset == "utf-8"
    assert web.log[0].headers["accept-encoding"] == "gzip, deflate"


# -- 8. redirects ------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "location"), [
    (301, "/news/final"), (302, "final"), (303, "./final?x=1"), (307, "../news/final"),
    (308, "{base}/news/final#top"),
])
def test_redirects_are_followed(web: TestServer, fetcher, status: int, location: str) -> None:  # noqa: ANN001
    web.redirect("/news/start", location.format(base=web.url("")), status)
    web.page("/news/final", "<p>final</p>")
    resp = fetcher().get(web.url("/news/start"))
    assert resp.status == 200 and resp.body == b"<p>final</p>"
    assert resp.url.split("?")[0] == web.url("/news/final")
    assert [h.path.split("?")[0] for h in web.log] == ["/news/start", "/news/final"]


def test_redirect_loop_is_refused(web: TestServer, fetcher) -> None:  # noqa: ANN001
    web.redirect("/a", "/b")
    web.redirect("/b", "/a", 301)
    e = fails(lambda: fetcher().get(web.url("/a")))
    assert f"redirect loop: {web.url('/a')} was already visited" in str(e)
    assert e.url == web.url("/a") and len(web.log) == 2


def test_more_than_ten_redirects_are_refused(web: TestServer, fetcher) -> None:  # noqa: ANN001
    for i in range(MAX_REDIRECTS + 1):
        web.redirect(f"/r{i}", f"/r{i + 1}")
    web.page(f"/r{MAX_REDIRECTS}", "<p>ten hops</p>")
    f = fetcher()
    assert f.get(web.url("/r0")).body == b"<p>ten hops</p>"  # ten are fine
    web.redirect(f"/r{MAX_REDIRECTS}", f"/r{MAX_REDIRECTS + 1}")
    e = fails(lambda: f.get(web.url("/r0")))  # eleven are not
    assert "more than 10 redirects" in str(e) and e.url == web.url("/r0")
    assert web.count(f"/r{MAX_REDIRECTS + 1}") == 0


@pytest.mark.parametrize("target", ["file:///tmp/feedsvc-secret.txt", "ftp://127.0.0.1/x",
                                    "javascript:alert(1)", "gopher://127.0.0.1:70/"])
def test_redirect_to_another_scheme_is_refused(web: TestServer, fetcher, target: str) -> None:  # noqa: ANN001
    web.redirect("/go", target, 301)
    e = fails(lambda: fetcher().get(web.url("/go")))
    assert "only http and https are fetched" in str(e), e
    assert f"refused redirect from {web.url('/go')} to a" in str(e) and e.url == target


@pytest.mark.parametrize("url", ["file:///tmp/feedsvc-secret.txt", "ftp://example.org/feed.xml",
                                 "javascript:alert(1)", "mailto:news@example.org",
                                 "example.org/feed.xml", "data:text/html,<p>x</p>"])
def test_non_http_urls_are_refused(fetcher, url: str) -> None:  # noqa: ANN001
    e = fails(lambda: fetcher(respect_robots=True).get(url))
    assert "only http and https are fetched" in str(e) and e.url == url


# -- 9. every failure is a FetchError --------------------------------------------------------
def test_connection_refused_is_a_fetch_error(fetcher) -> None:  # noqa: ANN001
    root = f"http://127.0.0.1:{free_port()}"
    e = fails(lambda: fetcher().get(root + "/feed.xml"))
    assert e.url == root + "/feed.xml" and e.status is None and e.__cause__ is not None
    assert str(e) == f"connection failed: Connection refused ({root}/feed.xml)"
    e = fails(lambda: fetcher(respect_robots=True).get(root + "/feed.xml"))
    assert e.url == root + "/robots.txt" and e.__cause__ is not None
    assert "robots.txt could not be read" in str(e) and "Connection refused" in str(e)


@pytest.mark.parametrize(("url", "message"), [
    ("http://[::1/feed.xml", "malformed URL"),
    ("http://127.0.0.1:99999/feed.xml", "malformed URL"),
    ("http:///feed.xml", "malformed URL: no host"),
])
def test_malformed_urls_are_fetch_errors(fetcher, url: str, message: str) -> None:  # noqa: ANN001
    e = fails(lambda: fetcher().get(url))
    assert message in str(e) and e.url == url


@pytest.mark.parametrize("status", [400, 404, 410, 500, 502, 300])
def test_http_errors_carry_url_and_status(web: TestServer, fetcher, status: int) -> None:  # noqa: ANN001
    url = web.page("/feed.xml", "no", status)
    e = fails(lambda: fetcher().get(url))
    assert type(e) is FetchError and e.status == status and e.url == url
    assert str(e).startswith(f"HTTP {status}")


def _raw(data: bytes) -> Reply:
    """Write ``data`` as the whole answer, then close the connection."""
    def reply(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(data)
        h.close_connection = True
    return reply


@pytest.mark.parametrize(("reply", "message"), [
    (_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this much"),
     "body could not be read"),
    (_raw(b"NOT HTTP AT ALL\r\n\r\n"), "connection failed"),
    (_raw(b""), "connection failed: Remote end closed connection"),
    (lambda h: send(h, 200, b"\x1f\x8b\x08 this is not gzip", {"Content-Encoding": "gzip"}),
     "body could not be read"),
    (lambda h: send(h, 302, b""), "HTTP 302 without Location"),
])
def test_broken_responses_are_fetch_errors(web: TestServer, fetcher, reply: Reply,  # noqa: ANN001
                                           message: str) -> None:
    web.routes["/feed.xml"] = reply
    e = fails(lambda: fetcher().get(web.url("/feed.xml")))
    assert message in str(e) and e.url == web.url("/feed.xml")
    assert "object at 0x" not in str(e)


# -- 10. through the Refresher: a clear last_error, nothing lost ------------------------------
RSS = {"Content-Type": "application/rss+xml"}


def _rss(*links: str) -> str:
    items = "".join(f"<item><title>Story {i}</title><link>{link}</link>"
                    "<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>"
                    for i, link in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            f"<link>https://news.example/</link><description>d</description>{items}"
            "</channel></rss>")


def _config(tmp_path: Path, sources: str, *, respect_robots: bool = False) -> config_mod.Config:
    path = tmp_path / "feedsvc.toml"
    path.write_text(textwrap.dedent(f"""\
        [service]
        timezone = "Europe/Kyiv"
        database = "sqlite:///{tmp_path / 'feedsvc.sqlite3'}"

        [fetch]
        user_agent = "{UA}"
        timeout = "500ms"
        max_bytes = "1MB"
        per_host_delay = "0s"
        respect_robots = {str(respect_robots).lower()}
        """) + textwrap.dedent(sources), "utf-8")
    return config_mod.load(path)


def _refresher(cfg: config_mod.Config, store_for: Callable[[Any], Store]) -> Refresher:
    return Refresher(cfg, store_for(cfg))


def _failure_modes(web: TestServer) -> dict[str, tuple[Reply | None, str, int | None]]:
    """name → (reply for /broken.xml, or None for a robots.txt case; message; status)."""
    closed = f"http://127.0.0.1:{free_port()}/feed.xml"
    return {
        "http-500": (lambda h: send(h, 500, b"oops"), "HTTP 500", 500),
        "http-404": (lambda h: send(h, 404, b"gone"), "HTTP 404", 404),
        "retry-after": (lambda h: send(h, 503, b"", {"Retry-After": "60"}),
                        "HTTP 503 Service Unavailable, retry after 60s", 503),
        "robots-disallow": (None, "disallowed by robots.txt", None),
        "robots-500": (None, "robots.txt could not be read", 500),
        "hang": (web.hang, "timed out after 0.5s", None),
        "trickle": (web.trickle, "timed out: the response took longer than 1s", None),
        "too-big": (Stream(lambda: zeros(50 * MB), None),
                    "body exceeds max_bytes (1,000,000 bytes)", None),
        "gzip-bomb": (lambda h: send(h, 200, gzip_bomb(64 * MB), {"Content-Encoding": "gzip"}),
                      "after decompression", None),
        "redirect-loop": (lambda h: send(h, 302, b"", {"Location": "/broken.xml"}),
                          "redirect loop", None),
        "redirect-to-file": (lambda h: send(h, 301, b"", {"Location": "file:///tmp/feedsvc-secret.txt"}),
                             "only http and https are fetched", None),
        "connection-refused": (lambda h: send(h, 302, b"", {"Location": closed}),
                               "connection failed: Connection refused", None),
    }


@pytest.mark.parametrize("mode", [
    "http-500", "http-404", "retry-after", "robots-disallow", "robots-500", "hang",
    "trickle", "too-big", "gzip-bomb", "redirect-loop", "redirect-to-file",
    "connection-refused"])
def test_failing_source_gets_a_clear_last_error_and_loses_nothing(
        web: TestServer, tmp_path: Path, store_for, mode: str) -> None:  # noqa: ANN001
    web.page("/robots.txt", "User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"})
    web.page("/good.xml", _rss("https://good.example/1", "https://good.example/2"),
             headers=RSS)
    web.page("/broken.xml", _rss("https://broken.example/kept"), headers=RSS)
    cfg = _config(tmp_path, f"""
        [[source]]
        id = "good"
        kind = "feed"
        url = "{web.url('/good.xml', host='localhost')}"

        [[source]]
        id = "broken"
        kind = "feed"
        url = "{web.url('/broken.xml')}"
        """, respect_robots=True)
    first = _refresher(cfg, store_for)
    assert [x.outcome for x in first.refresh()] == ["new", "new"]
    assert first.store.count_articles() == 3

    reply, message, status = _failure_modes(web)[mode]
    if reply is not None:
        web.routes["/broken.xml"] = reply
    else:  # robots.txt changes on 127.0.0.1 only, not on localhost (the good source)
        bad = (500, b"oops") if mode == "robots-500" else (200, b"User-agent: *\n"
                                                              b"Disallow: /broken\n")
        web.routes["/robots.txt"] = lambda h: send(
            h, *(bad if h.headers["Host"].startswith("127.") else (200, b"")),
            {"Content-Type": "text/plain"})
    r = Refresher(cfg, first.store)  # a new fetcher: robots.txt is read again
    good, broken = r.refresh()
    assert good.outcome == "unchanged" and good.error is None, good
    assert broken.outcome == "error" and message in (broken.error or ""), broken
    assert broken.status == status and message in broken.line()
    state = r.store.source_state("broken")
    assert message in (state.last_error or "") and state.last_status == status
    assert state.failures == 1 and state.last_success is not None
    assert state.next_run is not None and state.next_run > NOW
    assert r.store.source_state("good").last_error is None
    assert r.store.count_articles() == 3
    assert [a.url for a in r.store.latest(10, source="broken")] == [
        "https://broken.example/kept"]
