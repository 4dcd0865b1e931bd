"""A refresh pass over several sources: hosts read at the same time, a server's
Retry-After honoured even by a manual refresh, and articles saved but bookkeeping not
written (a held lock) reported as such, not as a failure."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_URL, TestServer, _pg_url, write_config
from httpserver import send

from feedsvc import config as config_mod
from feedsvc.service import Service
from feedsvc.types import SourceResult


def _rss(site: TestServer, name: str, n: int = 2) -> str:
    items = "".join(
        f"<item><title>{name} story {i}</title><link>{site.base}/{name}/{i}</link>"
        f"<guid>{site.base}/{name}/{i}</guid>"
        f"<pubDate>Tue, 24 Nov 2026 0{i}:00:00 GMT</pubDate>"
        f"<description>Body {i} of {name}.</description></item>" for i in range(n))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
            f"<link>{site.base}/</link><description>d</description>{items}</channel></rss>")


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[[str, str], Service]]:
    """``make(database URL, [[source]] TOML)``: a migrated writer service."""
    made: list[Service] = []

    def build(db: str, sources: str) -> Service:
        svc = Service(config_mod.load(write_config(tmp_path, database=db, sources=sources)),
                      writer=True)
        made.append(svc)
        svc.upgrade()
        return svc

    yield build
    for svc in made:
        svc.close()


def test_a_slow_host_does_not_hold_up_the_sources_of_other_hosts(
        make: Callable[[str, str], Service], site: TestServer, db_url: str) -> None:
    """The slow source is first in the config; its server answers only once the fast
    one's result is in. Read one after another, the pass could never end."""
    fast_done = threading.Event()

    def slow(h: BaseHTTPRequestHandler) -> None:
        fast_done.wait(20)
        send(h, 200, _rss(site, "slow").encode(), {"Content-Type": "application/rss+xml"})

    site.routes["/slow.xml"] = slow
    site.add("/fast.xml", _rss(site, "fast"), ctype="application/rss+xml")
    svc = make(db_url, f"""
        [[source]]
        id = "slow"
        kind = "feed"
        url = "{site.url('/slow.xml', host='localhost')}"

        [[source]]
        id = "fast"
        kind = "feed"
        url = "{site.url('/fast.xml')}"
        """)
    order: list[str] = []

    def progress(done: int, total: int, result: SourceResult) -> None:
        order.append(result.source_id)
        if result.source_id == "fast":
            fast_done.set()

    results = svc.refresh(progress=progress)
    assert order == ["fast", "slow"]
    assert [r.source_id for r in results] == ["slow", "fast"]  # config order
    assert [r.outcome for r in results] == ["new", "new"]
    assert svc.store.count_articles("slow") == 2 and svc.store.count_articles("fast") == 2


def test_sources_of_one_host_are_read_one_after_another(
        make: Callable[[str, str], Service], site: TestServer, db_url: str) -> None:
    inside = threading.Semaphore(0)
    overlap: list[bool] = []
    active = [0]
    lock = threading.Lock()

    def feed(name: str):  # noqa: ANN202
        def reply(h: BaseHTTPRequestHandler) -> None:
            with lock:
                active[0] += 1
                overlap.append(active[0] > 1)
            inside.release()
            send(h, 200, _rss(site, name).encode(), {"Content-Type": "application/rss+xml"})
            with lock:
                active[0] -= 1
        return reply

    sources = ""
    for name in ("a", "b", "c"):
        site.routes[f"/{name}.xml"] = feed(name)
        sources += f"""
        [[source]]
        id = "{name}"
        kind = "feed"
        url = "{site.url(f'/{name}.xml')}"
        """
    svc = make(db_url, sources)
    results = svc.refresh()
    assert [r.outcome for r in results] == ["new"] * 3
    assert overlap == [False, False, False]


def test_a_manual_refresh_honours_a_servers_retry_after_and_fetches_the_others(
        make: Callable[[str, str], Service], site: TestServer, db_url: str) -> None:
    site.add("/busy.xml", "slow down", status=429, ctype="text/plain",
             headers={"Retry-After": "3600"})
    site.add("/ok.xml", _rss(site, "ok"), ctype="application/rss+xml")
    svc = make(db_url, f"""
        [[source]]
        id = "busy"
        kind = "feed"
        url = "{site.url('/busy.xml', host='localhost')}"

        [[source]]
        id = "ok"
        kind = "feed"
        url = "{site.url('/ok.xml')}"
        """)
    first = svc.refresh()
    assert first[0].outcome == "error" and first[0].status == 429
    asked = sum(1 for hit in site.log if hit.path == "/busy.xml")
    again = {r.source_id: r for r in svc.refresh()}  # a manual pass: force=True
    busy = again["busy"]
    assert busy.outcome == "deferred"
    assert "the server asked to wait: retry after" in busy.line()
    assert sum(1 for hit in site.log if hit.path == "/busy.xml") == asked  # not asked again
    assert again["ok"].outcome == "unchanged"
    assert sum(1 for hit in site.log if hit.path == "/ok.xml") == 2
    # Also one source alone (POST /admin/refresh and `feedsvc refresh busy` take this).
    one = svc.refresh_source("busy")
    assert one is not None and one.outcome == "deferred"
    assert sum(1 for hit in site.log if hit.path == "/busy.xml") == asked


def test_feedsvcs_own_back_off_is_skipped_by_a_manual_refresh(
        make: Callable[[str, str], Service], site: TestServer, db_url: str) -> None:
    site.add("/down.xml", "oops", status=500, ctype="text/plain")
    svc = make(db_url, f"""
        [[source]]
        id = "down"
        kind = "feed"
        url = "{site.url('/down.xml')}"
        """)
    assert svc.refresh()[0].outcome == "error"
    assert svc.store.source_state("down").next_run is not None  # backing off
    site.add("/down.xml", _rss(site, "down"), ctype="application/rss+xml")
    assert svc.refresh()[0].outcome == "new"  # the operator asked: fetched at once


@pytest.mark.skipif(not POSTGRES_URL, reason="needs FEEDSVC_TEST_POSTGRES_URL "
                    "(a table lock held by another session)")
def test_saved_articles_with_unwritten_state_are_reported_as_saved(
        make: Callable[[str, str], Service], site: TestServer) -> None:
    """Another session holds source_state locked while the feed is read: the articles
    are saved, the state write times out; the result says both, not "error"."""
    pg = _pg_url()
    url = next(pg) + "%20-clock_timeout%3D500"  # the store gives up on a lock after 0.5 s
    schema = url.split("search_path%3D")[1].split("%20")[0]
    locker = sa.create_engine(POSTGRES_URL).connect()
    holding = locker.begin()

    def feed(h: BaseHTTPRequestHandler) -> None:
        locker.execute(sa.text(f"LOCK TABLE {schema}.source_state IN ACCESS EXCLUSIVE MODE"))
        send(h, 200, _rss(site, "news", 3).encode(), {"Content-Type": "application/rss+xml"})

    site.routes["/feed.xml"] = feed
    try:
        svc = make(url, f"""
            [[source]]
            id = "news"
            kind = "feed"
            url = "{site.url('/feed.xml')}"
            """)
        result = svc.refresh()[0]
        assert result.outcome == "new" and result.new == 3, result
        assert result.note and result.note.startswith("3 new saved; state not written: ")
        assert "lock" in result.note
        assert result.line().endswith(result.note)
        holding.rollback()
        assert svc.store.count_articles("news") == 3
    finally:
        locker.close()
        next(pg, None)
