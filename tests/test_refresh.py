"""Refresh against a real HTTP server on 127.0.0.1: feed, html and files sources,
and every way a source can fail without losing what is stored."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from conftest import EXPECTED, TestServer, free_port, serve_sample_site, slug, write_config

from feedsvc import config as config_mod
from feedsvc.refresh import Refresher


def _refresher(cfg: config_mod.Config, store_for) -> Refresher:  # noqa: ANN001
    return Refresher(cfg, store_for(cfg))


def _listing(site: TestServer, tmp_path: Path, store_for) -> Refresher:  # noqa: ANN001
    """A refresher for one ``html`` source: the sample site's /latest listing."""
    cfg = config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "listing"
        kind = "html"
        url = "{site.url('/latest')}"
        links = "article h2 a"
        timezone = "Europe/Kyiv"
        """))
    return _refresher(cfg, store_for)


def _fulltext_feed(site: TestServer, tmp_path: Path, store_for) -> Refresher:  # noqa: ANN001
    """A refresher for one ``feed`` source with full text: the sample site's /feed.xml."""
    cfg = config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{site.url('/feed.xml')}"
        fulltext = true
        timezone = "Europe/Kyiv"
        """))
    return _refresher(cfg, store_for)


def test_feed_source_with_fulltext_stores_every_article(site: TestServer, tmp_path: Path,
                                                        store_for) -> None:
    names = serve_sample_site(site)
    r = _fulltext_feed(site, tmp_path, store_for)
    [result] = r.refresh()
    assert result.outcome == "new" and result.new == len(names), result
    arts = {a.url: a for a in r.store.latest(100)}
    for n in names:
        a = arts[f"{site.base}/news/{slug(n)}"]
        assert a.title == EXPECTED[n]["title"]
        assert "<p>" in a.content_html  # full text came from the page, not the feed
        if EXPECTED[n]["published"]:
            assert a.published == datetime.fromisoformat(EXPECTED[n]["published"])
    # The feed said "feedsvc-test/1.0" on every request.
    assert all(h.get("User-Agent") == "feedsvc-test/1.0" for _, h in site.requests)


def test_second_refresh_is_conditional_and_keeps_ids(site: TestServer, tmp_path: Path,
                                                     store_for) -> None:
    serve_sample_site(site, sorted(EXPECTED)[:5])
    cfg = config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{site.url('/feed.xml')}"
        fulltext = true
        """))
    r = _refresher(cfg, store_for)
    r.refresh()
    before = {a.url: (a.guid, a.published, a.updated) for a in r.store.latest(100)}
    page_hits = site.hits(f"/news/{slug(sorted(EXPECTED)[0])}")
    [second] = r.refresh()
    assert second.outcome == "unchanged" and second.new == 0
    # 304 on the feed (If-None-Match sent), and no article page fetched again.
    assert site.requests[-1][1].get("If-None-Match") == '"feed-1"'
    assert site.hits(f"/news/{slug(sorted(EXPECTED)[0])}") == page_hits
    after = {a.url: (a.guid, a.published, a.updated) for a in r.store.latest(100)}
    assert after == before
    assert r.store.source_state("news").not_modified == 1


def test_html_source_follows_listing_links(site: TestServer, tmp_path: Path,
                                           store_for) -> None:
    names = serve_sample_site(site, sorted(EXPECTED)[:8])
    r = _listing(site, tmp_path, store_for)
    [result] = r.refresh()
    assert result.new == len(names)
    urls = {a.url for a in r.store.latest(100)}
    # utm_* and the fragment are gone: one story, one normalized URL.
    assert urls == {f"{site.base}/news/{slug(n)}" for n in names}
    assert site.hits("/about") == 0  # nav links are not articles


def test_same_story_through_two_sources_is_one_article(site: TestServer, tmp_path: Path,
                                                       store_for) -> None:
    serve_sample_site(site, sorted(EXPECTED)[:4])
    cfg = config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "viafeed"
        kind = "feed"
        url = "{site.url('/feed.xml')}"
        fulltext = true

        [[source]]
        id = "vialisting"
        kind = "html"
        url = "{site.url('/latest')}"
        links = "article h2 a"
        """))
    r = _refresher(cfg, store_for)
    results = r.refresh()
    assert [x.outcome for x in results] == ["new", "unchanged"]
    assert r.store.count_articles() == 4
    assert len(r.store.latest(10, source="viafeed")) == 4
    assert len(r.store.latest(10, source="vialisting")) == 4


def test_files_source_imports_jsonl(tmp_path: Path, store_for) -> None:
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "export.jsonl").write_text(
        '{"url": "https://news.example/a?utm_medium=x", "title": "Imported A", '
        '"published": "2026-11-20T10:00:00+02:00", "content_html": "<p>Body A</p>"}\n'
        "this line is not json\n"
        '{"url": "https://news.example/b", "title": "Imported B", "published": '
        '"2026-11-21 09:00", "categories": ["Energy"]}\n', "utf-8")
    cfg = config_mod.load(write_config(tmp_path, """
        [[source]]
        id = "import"
        kind = "files"
        url = "import/"
        timezone = "Europe/Kyiv"
        """))
    r = _refresher(cfg, store_for)
    [result] = r.refresh()
    assert result.new == 2 and result.skipped == 1
    assert "export.jsonl:2" in (result.error or "")
    b, a = r.store.latest(10)
    assert a.url == "https://news.example/a"
    assert b.published.isoformat() == "2026-11-21T07:00:00+00:00"  # read in Kyiv time
    assert b.topics == ("energy",)


def _failing_config(tmp_path: Path, site: TestServer) -> config_mod.Config:
    return config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "good"
        kind = "feed"
        url = "{site.url('/feed.xml')}"

        [[source]]
        id = "broken"
        kind = "feed"
        url = "{site.url('/broken.xml')}"
        """))


def test_failing_sources_lose_nothing_and_never_stop_others(site: TestServer, tmp_path: Path,
                                                            store_for) -> None:
    serve_sample_site(site, sorted(EXPECTED)[:3])
    cfg = _failing_config(tmp_path, site)
    r = _refresher(cfg, store_for)
    site.add("/broken.xml", '<rss version="2.0"><channel><title>B</title><item><title>Kept'
             '</title><link>https://b.example/kept</link></item></channel></rss>',
             ctype="application/rss+xml")
    assert [x.outcome for x in r.refresh()] == ["new", "new"]
    stored = r.store.count_articles()

    cases = [
        ({"status": 500, "body": "oops"}, "HTTP 500"),
        ({"hang": True}, "timed out"),
        ({"body": b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe", "ctype": "image/png"},
         "not a feed"),
        ({"body": "<html><body><h1>Welcome</h1><p>No feed here</p></body></html>"},
         "not a feed"),
    ]
    for kw, message in cases:
        site.add("/broken.xml", **kw)
        good, broken = r.refresh()
        assert good.outcome == "unchanged", good
        assert broken.outcome == "error" and message in (broken.error or ""), broken
        assert message in broken.line()
        assert r.store.count_articles() == stored
        state = r.store.source_state("broken")
        assert message in (state.last_error or "")
    state = r.store.source_state("broken")
    assert state.failures == len(cases)
    assert state.last_success is not None and state.next_run is not None


def test_source_that_hangs_times_out_within_the_limit(site: TestServer, tmp_path: Path,
                                                      store_for) -> None:
    import time

    site.add("/feed.xml", hang=True)
    cfg = config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "slow"
        kind = "feed"
        url = "{site.url('/feed.xml')}"
        """, fetch='max_bytes = "1MB"'))
    started = time.monotonic()
    [result] = _refresher(cfg, store_for).refresh()
    assert result.outcome == "error" and "timed out after 2s" in (result.error or "")
    assert time.monotonic() - started < 10


def test_refresh_command_prints_a_line_per_source_and_exits_1_on_failure(
        site: TestServer, tmp_path: Path) -> None:
    serve_sample_site(site, sorted(EXPECTED)[:2])
    site.add("/broken.xml", status=500)
    cfg = _failing_config(tmp_path, site)
    proc = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(cfg.path),
                           "refresh"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("good: new (2 new")
    assert lines[1].startswith("broken: error: HTTP 500")
    ok = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(cfg.path),
                         "refresh", "good"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("good: unchanged")
    bad = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(cfg.path),
                          "refresh", "nosuch"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "unknown source(s): nosuch" in bad.stderr


def test_logs_one_line_per_refresh_as_key_value_or_json(site: TestServer,
                                                        tmp_path: Path) -> None:
    import json

    serve_sample_site(site, sorted(EXPECTED)[:2])
    site.add("/broken.xml", status=503, headers={"Retry-After": "120"})
    cfg = _failing_config(tmp_path, site)
    kv = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(cfg.path),
                         "refresh"], capture_output=True, text=True, timeout=60)
    lines = [x for x in kv.stderr.splitlines() if "logger=feedsvc.refresh" in x]
    assert any("refresh source=good outcome=new new=2" in x for x in lines), kv.stderr
    assert any("source=broken outcome=error status=503" in x and "retry_in=120s" in x
               for x in lines), kv.stderr
    fetches = [x for x in kv.stderr.splitlines() if "logger=feedsvc.fetch" in x]
    assert any(f"fetch url={site.url('/feed.xml')} status=200 bytes=" in x for x in fetches)
    assert any(f"fetch url={site.url('/broken.xml')} status=503" in x for x in fetches)
    js = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(cfg.path),
                         "refresh"], capture_output=True, text=True, timeout=60,
                        env=os.environ | {"FEEDSVC_LOG_FORMAT": "json"})
    records = [json.loads(x) for x in js.stderr.splitlines() if x.startswith("{")]
    by_source = {r.get("source"): r for r in records if r["logger"] == "feedsvc.refresh"}
    assert by_source["good"]["outcome"] == "unchanged"
    # The server said Retry-After: 120 a moment ago: not asked again, even by hand.
    assert by_source["broken"]["outcome"] == "deferred" and "retry_after" in by_source["broken"]


def test_refresh_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    import pty

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"url": "https://n.example/1", "title": "One"}\n')
    path = write_config(tmp_path, """
        [[source]]
        id = "in"
        kind = "files"
        url = "in/"
        """)
    quiet = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(path), "refresh"],
                           capture_output=True, text=True, timeout=60)
    assert "[#" not in quiet.stderr and quiet.returncode == 0
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "feedsvc", "--config", str(path),
                             "refresh"], stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    out = proc.communicate(timeout=60)[0]
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.returncode == 0 and out.startswith("in: unchanged")
    assert b"[##############################] 1/1 in" in b"".join(chunks)


def test_upstream_edits_update_in_place_and_ads_are_not_edits(site: TestServer, tmp_path: Path,
                                                             store_for) -> None:
    from datetime import timedelta

    from conftest import sample_page

    from feedsvc import clock

    names = serve_sample_site(site, sorted(EXPECTED)[:3])
    edited, ad_only, conditional = names
    site.add(f"/news/{slug(conditional)}", sample_page(conditional, site.base),
             headers={"ETag": '"page-v1"'})
    r = _listing(site, tmp_path, store_for)
    assert r.refresh()[0].new == 3
    before = {a.url: a for a in r.store.latest(10)}

    page = sample_page(edited, site.base).decode("utf-8")
    old_title = EXPECTED[edited]["title"]
    site.add(f"/news/{slug(edited)}", page.replace(old_title, old_title + " (updated)"))
    page = sample_page(ad_only, site.base).decode("utf-8")
    site.add(f"/news/{slug(ad_only)}", page.replace(
        '<div class="article-body">',
        '<div class="article-body"><div class="advert">Buy now: offer 7731</div>'))

    clock.set_now(clock.now() + timedelta(minutes=30))  # not yet due: nothing re-fetched
    assert r.refresh()[0].updated == 0
    assert site.hits(f"/news/{slug(edited)}") == 1

    clock.set_now(clock.now() + timedelta(hours=2))
    [result] = r.refresh()
    assert (result.updated, result.new) == (1, 0), result
    after = {a.url: a for a in r.store.latest(10)}
    url = f"{site.base}/news/{slug(edited)}"
    assert after[url].title == old_title + " (updated)"
    assert after[url].guid == before[url].guid and after[url].published == before[url].published
    assert after[url].updated == clock.now() > before[url].updated
    ad_url = f"{site.base}/news/{slug(ad_only)}"
    assert after[ad_url].updated == before[ad_url].updated  # an ad slot is not an edit
    cond = [h for p, h in site.requests if p == f"/news/{slug(conditional)}"]
    assert cond[-1].get("If-None-Match") == '"page-v1"'  # rechecked with a conditional GET


@pytest.mark.parametrize("extract_workers", ["2", "0"])
def test_many_pages_are_extracted_the_same_in_worker_processes_or_not(
        site: TestServer, tmp_path: Path, store_for, monkeypatch,  # noqa: ANN001
        extract_workers: str) -> None:
    monkeypatch.setenv("FEEDSVC_EXTRACT_WORKERS", extract_workers)
    names = serve_sample_site(site, sorted(EXPECTED)[:20])
    site.add(f"/news/{slug(names[3])}", status=500)
    site.add(f"/news/{slug(names[7])}", "   ")  # an empty page fails in extraction
    r = _listing(site, tmp_path, store_for)
    [result] = r.refresh()
    assert (result.new, result.skipped) == (18, 2), result
    assert f"/news/{slug(names[3])}" in (result.error or "") and "HTTP 500" in result.error
    assert "empty page" in result.error
    stored = {a.url: a for a in r.store.latest(50)}
    for n in names[:3] + names[4:7] + names[8:]:
        a = stored[f"{site.base}/news/{slug(n)}"]
        assert a.title == EXPECTED[n]["title"] and "<p>" in a.content_html


def test_fulltext_feed_edits_update_the_article_at_the_next_refresh(
        site: TestServer, tmp_path: Path, store_for) -> None:  # noqa: ANN001
    from datetime import timedelta

    from feedsvc import clock

    names = serve_sample_site(site, sorted(EXPECTED)[:3])
    words = {n: (EXPECTED[n]["title"], "Short summary from the feed.") for n in names}

    def rss() -> str:
        items = "".join(
            f"<item><title>{_xml(words[n][0])}</title><link>{site.base}/news/{slug(n)}</link>"
            f"<description>{_xml(words[n][1])}</description></item>" for n in names)
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>'
                f"<link>{site.base}/</link><description>d</description>{items}"
                "</channel></rss>")

    site.add("/feed.xml", rss, ctype="application/rss+xml")
    r = _fulltext_feed(site, tmp_path, store_for)
    assert r.refresh()[0].new == 3
    before = {a.url: a for a in r.store.latest(10)}
    edited, same = (f"{site.base}/news/{slug(n)}" for n in names[:2])
    assert "<p>" in before[edited].content_html  # full text from the page
    assert before[edited].summary == "Short summary from the feed."  # the feed's words

    title = words[names[0]][0] + " (corrected)"
    words[names[0]] = (title, "A corrected summary.")
    clock.set_now(clock.now() + timedelta(minutes=10))  # no page is due for a re-check
    pages = len([p for p, _ in site.requests if p.startswith("/news/")])
    [result] = r.refresh()
    assert (result.updated, result.new) == (1, 0), result
    after = {a.url: a for a in r.store.latest(10)}
    a, b = after[edited], before[edited]
    assert (a.title, a.summary) == (title, "A corrected summary.")
    assert (a.guid, a.published, a.content_html) == (b.guid, b.published, b.content_html)
    assert a.updated == clock.now() > b.updated
    assert after[same].updated == before[same].updated  # unchanged items stay as they were
    assert len([p for p, _ in site.requests if p.startswith("/news/")]) == pages

    # A later re-check of the page keeps the feed's words (no flip-flop back).
    clock.set_now(clock.now() + timedelta(hours=2))
    r.refresh()
    assert {a.url: a for a in r.store.latest(10)}[edited].title == title
    [result] = r.refresh()
    assert result.updated == 0, result


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- kill -9 of a refresh mid-source --------------------------------------------------------
def _held(site: TestServer, path: str, body: bytes) -> threading.Event:
    """Serve ``body`` at ``path`` only once the returned event is set (or the server
    stops): the request is held meanwhile."""
    from httpserver import send

    release = threading.Event()

    def reply(h) -> None:  # noqa: ANN001
        while not release.wait(0.05):
            if site.stopping.is_set():
                return
        send(h, 200, body)

    site.routes[path] = reply
    return release


def _poll(what: str, check, timeout: float = 60) -> None:  # noqa: ANN001
    """Wait until ``check()`` is true (a bounded readiness poll), or fail."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _refresh_command(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    """``feedsvc refresh`` of one ``html`` source at ``url``, two extraction workers."""
    path = write_config(tmp_path, f"""
        [[source]]
        id = "listing"
        kind = "html"
        url = "{url}"
        links = "article h2 a"
        """)
    return subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(path),
                           "refresh"], capture_output=True, text=True, timeout=120,
                          env=os.environ | {"FEEDSVC_EXTRACT_WORKERS": "2"})


def test_refresh_command_with_its_source_down_says_why_without_a_traceback(
        tmp_path: Path) -> None:
    """``feedsvc refresh`` whose one source is down ends at once, exit 1, naming the
    source and the reason; no traceback (its extraction workers never start)."""
    done = _refresh_command(tmp_path, f"http://127.0.0.1:{free_port()}/latest")
    assert done.returncode == 1, done.stderr
    assert "listing: error: connection failed" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def test_refresh_over_before_its_extraction_workers_are_up_leaves_none_half_started(
        site: TestServer, tmp_path: Path) -> None:
    """Workers start in the background while the first pages are extracted in-process;
    a run of 20 pages ends before they are up, and the refresh waits for them instead
    of exiting while they start (each would print a traceback)."""
    serve_sample_site(site, sorted(EXPECTED)[:20])
    done = _refresh_command(tmp_path, site.url("/latest"))
    assert done.returncode == 0, done.stderr
    assert "listing: new (20 new" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def _slow_listing(tmp_path: Path, site: TestServer) -> config_mod.Config:
    """An ``html`` source of the sample listing, with time to hold a page."""
    path = write_config(tmp_path, f"""
        [[source]]
        id = "listing"
        kind = "html"
        url = "{site.url('/latest')}"
        links = "article h2 a"
        """)
    path.write_text(path.read_text("utf-8").replace('timeout = "2s"', 'timeout = "60s"'))
    return config_mod.load(path)


def _refresh_process(cfg: config_mod.Config, workers: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "feedsvc", "--config", str(cfg.path),
                             "refresh"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"FEEDSVC_EXTRACT_WORKERS": workers})


def test_a_refresh_killed_mid_source_keeps_the_pages_it_fetched(
        site: TestServer, tmp_path: Path, store_for) -> None:  # noqa: ANN001
    from conftest import sample_page

    names = serve_sample_site(site, sorted(EXPECTED)[:10])
    held = f"/news/{slug(names[6])}"
    release = _held(site, held, sample_page(names[6], site.base))
    cfg = _slow_listing(tmp_path, site)
    store = store_for(cfg)
    proc = _refresh_process(cfg, "0")
    try:
        _poll("the held page to be asked for", lambda: site.hits(held) == 1)
        # The six pages before it are saved while the seventh is still on its way.
        _poll("six saved articles", lambda: store.count_articles() == 6)
    finally:
        proc.kill()
        proc.wait(30)
    release.set()
    first = {f"/news/{slug(n)}" for n in names[:6]}
    assert {a.url.removeprefix(site.base) for a in store.latest(20)} == first

    # The next run fetches only what was not saved.
    [result] = Refresher(cfg, store).refresh()
    assert result.new == 4, result
    assert store.count_articles() == 10
    assert all(site.hits(p) == 1 for p in first), [(p, site.hits(p)) for p in first]


def test_extraction_workers_die_with_a_killed_refresh(site: TestServer, tmp_path: Path) -> None:
    from conftest import sample_page

    names = serve_sample_site(site, sorted(EXPECTED)[:20])
    held = f"/news/{slug(names[18])}"
    release = _held(site, held, sample_page(names[18], site.base))
    cfg = _slow_listing(tmp_path, site)
    proc = _refresh_process(cfg, "2")
    try:
        _poll("the held page to be asked for", lambda: site.hits(held) == 1)
        # the forkserver, its two workers (and multiprocessing's resource tracker)
        _poll("the extraction workers", lambda: len(_descendants(proc.pid)) >= 3)
        below = _descendants(proc.pid)
    finally:
        proc.kill()
        proc.wait(30)
        release.set()
    _poll("every worker to die with its parent",
          lambda: not any(_alive(p) for p in below), timeout=15)
