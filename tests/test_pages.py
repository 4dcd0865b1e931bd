"""The one page path (:mod:`feedsvc.sources.pages`) against a real HTTP server on
127.0.0.1: new pages, conditional re-checks, failures page by page, a host asking us to
wait, and the same answers from worker processes as in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import EXPECTED, TestServer, sample_page, serve_sample_site, slug, write_config

from feedsvc import config as config_mod
from feedsvc import workers
from feedsvc.fetch import Fetcher, RetryLater
from feedsvc.sources import Context, pages
from feedsvc.types import Validators

NAMES = sorted(EXPECTED)


def _setup(tmp_path: Path, site: TestServer) -> tuple[config_mod.SourceConfig, Context]:
    cfg = config_mod.load(write_config(tmp_path, f"""
        [[source]]
        id = "news"
        kind = "html"
        url = "{site.url('/latest')}"
        links = "a"
        timezone = "Europe/Kyiv"
        """))
    src = cfg.source("news")
    assert src is not None
    return src, Context(config=cfg, fetcher=Fetcher(cfg.fetch), known=lambda _u: {})


def test_new_pages_are_extracted_with_their_validators(site: TestServer,
                                                       tmp_path: Path) -> None:
    name = NAMES[0]
    serve_sample_site(site, [name])
    site.add(f"/news/{slug(name)}", sample_page(name, site.base), headers={"ETag": '"p1"'})
    src, ctx = _setup(tmp_path, site)
    listed = site.url(f"/news/{slug(name)}?from=list")
    [page] = pages.fetch(src, [Validators(listed)], ctx)
    assert page.error is None and page.article is not None
    assert page.article.title == EXPECTED[name]["title"]
    assert page.article.url == site.url(f"/news/{slug(name)}")  # its canonical URL
    assert page.validators == Validators(listed, '"p1"', None)  # as requested

    # A re-check sends them back: 304, nothing extracted, the same validators.
    [again] = pages.fetch(src, [page.validators], ctx)
    assert again.not_modified and again.validators == page.validators
    assert site.log[-1].headers.get("if-none-match") == '"p1"'


def test_each_page_fails_on_its_own_and_a_429_stops_the_rest(site: TestServer,
                                                             tmp_path: Path) -> None:
    names = serve_sample_site(site, NAMES[:5])
    site.add(f"/news/{slug(names[0])}", status=500)
    site.add(f"/news/{slug(names[1])}", b"\x89PNG\r\n", ctype="image/png")
    site.add(f"/news/{slug(names[3])}", status=429, headers={"Retry-After": "60"})
    src, ctx = _setup(tmp_path, site)
    got = list(pages.fetch(src, [Validators(site.url(f"/news/{slug(n)}")) for n in names],
                           ctx))
    assert [p.url for p in got] == [site.url(f"/news/{slug(n)}") for n in names[:4]]
    assert "HTTP 500" in str(got[0].error)
    assert "not an HTML page" in str(got[1].error)
    assert got[2].article is not None and got[2].error is None
    assert isinstance(got[3].error, RetryLater)
    assert site.hits(f"/news/{slug(names[4])}") == 0  # the host asked us to wait


def test_pages_waiting_for_their_batch_when_the_host_says_stop_are_still_extracted(
        site: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pages go to the workers BATCH at a time: a 429 after 10 pages ends the run with
    # two fetched pages not yet handed over; they are extracted all the same
    monkeypatch.setenv("FEEDSVC_EXTRACT_WORKERS", "2")
    names = serve_sample_site(site, NAMES[:20])
    site.add(f"/news/{slug(names[10])}", status=429, headers={"Retry-After": "60"})
    src, ctx = _setup(tmp_path, site)
    got = list(pages.fetch(src, [Validators(site.url(f"/news/{slug(n)}")) for n in names],
                           ctx))
    assert [p.url for p in got] == [site.url(f"/news/{slug(n)}") for n in names[:11]]
    for n, p in zip(names[:10], got, strict=False):
        assert p.article is not None and p.article.title == EXPECTED[n]["title"]
    assert isinstance(got[10].error, RetryLater)
    assert site.hits(f"/news/{slug(names[11])}") == 0


def test_a_run_of_unchanged_pages_starts_no_workers(
        site: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # edit rechecks of 20 pages all answered 304: nothing to extract, so no worker
    # processes are started (and waited for: 0.3 s on every recheck run)
    monkeypatch.setenv("FEEDSVC_EXTRACT_WORKERS", "2")
    started: list[int] = []
    monkeypatch.setattr(workers, "pool", lambda: started.append(1))
    for name in ("_pool", "_ready", "_starter", "_failed_at"):
        monkeypatch.setattr(workers, name, None)
    names = serve_sample_site(site, NAMES[:20])
    for n in names:
        site.add(f"/news/{slug(n)}", sample_page(n, site.base), headers={"ETag": '"v1"'})
    src, ctx = _setup(tmp_path, site)
    got = list(pages.fetch(src, [Validators(site.url(f"/news/{slug(n)}"), '"v1"')
                                 for n in names], ctx))
    assert len(got) == 20 and all(p.not_modified for p in got)
    assert started == []


def test_a_worker_killed_between_runs_costs_no_page(
        site: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a worker killed while idle (the OOM killer) breaks the pool: the next run's pages
    # are extracted in-process while a new pool starts, none is lost
    import signal
    import time

    monkeypatch.setenv("FEEDSVC_EXTRACT_WORKERS", "2")
    names = serve_sample_site(site, NAMES[:20])
    src, ctx = _setup(tmp_path, site)
    wanted = [Validators(site.url(f"/news/{slug(n)}")) for n in names]
    list(pages.fetch(src, wanted, ctx))
    deadline = time.monotonic() + 60
    while (executor := workers.ready_pool()) is None:  # bounded readiness poll
        assert time.monotonic() < deadline, "the extraction workers did not start"
        time.sleep(0.05)
    os.kill(next(iter(executor._processes)), signal.SIGKILL)
    while not executor._broken:  # the pool notices its dead worker
        assert time.monotonic() < deadline, "the pool did not notice its dead worker"
        time.sleep(0.05)
    got = list(pages.fetch(src, wanted, ctx))
    assert [p.article.title for p in got if p.article] == [EXPECTED[n]["title"]
                                                           for n in names]


def test_workers_that_cannot_start_leave_extraction_in_process(
        site: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # a machine where processes cannot be started (no fork, no /dev/shm): every page is
    # still extracted, the reason is logged, and no new start is tried for a while
    monkeypatch.setenv("FEEDSVC_EXTRACT_WORKERS", "2")
    tries: list[int] = []

    def cannot() -> None:
        tries.append(1)
        raise OSError("no semaphores here")

    monkeypatch.setattr(workers, "pool", cannot)
    monkeypatch.setattr(workers, "_pool", None)
    monkeypatch.setattr(workers, "_ready", None)
    monkeypatch.setattr(workers, "_starter", None)
    monkeypatch.setattr(workers, "_failed_at", None)
    names = serve_sample_site(site, NAMES[:18])
    src, ctx = _setup(tmp_path, site)
    for _ in range(2):
        got = list(pages.fetch(src, [Validators(site.url(f"/news/{slug(n)}"))
                                     for n in names], ctx))
        assert [p.article.title for p in got if p.article] == [EXPECTED[n]["title"]
                                                               for n in names]
    assert tries == [1]  # tried once, not once a page or once a run
    assert "extraction workers did not start" in caplog.text
    assert "no semaphores here" in caplog.text


@pytest.mark.parametrize("extract_workers", ["2", "0"])
def test_worker_processes_give_the_same_pages_in_order(
        site: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        extract_workers: str) -> None:
    monkeypatch.setenv("FEEDSVC_EXTRACT_WORKERS", extract_workers)
    names = serve_sample_site(site, NAMES[:18])
    site.add(f"/news/{slug(names[5])}", "   ")  # an empty page fails in extraction
    src, ctx = _setup(tmp_path, site)
    wanted = [Validators(site.url(f"/news/{slug(n)}")) for n in names]
    got = list(pages.fetch(src, wanted, ctx))
    assert [p.url for p in got] == [w.url for w in wanted]
    assert "empty page" in str(got[5].error)
    for n, p in zip(names, got, strict=True):
        if p is not got[5]:
            assert p.article is not None and p.article.title == EXPECTED[n]["title"]
