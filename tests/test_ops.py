"""Operations: /healthz on a full disk, a refresh whose save fails, /status content."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TestServer, write_config

from feedsvc import clock
from feedsvc import config as config_mod
from feedsvc.service import Service
from feedsvc.store import is_disk_full
from feedsvc.web import create_app


def test_healthz_says_disk_full_when_free_space_is_below_the_threshold(
        service: Service, tmp_path: Path) -> None:
    c = create_app(service).test_client()
    service.store.set_kv("scheduler_heartbeat", clock.now().isoformat())
    assert c.get("/healthz").status_code == 200
    if service.store.free_space() is None:
        pytest.skip("free space is measured for SQLite files only")
    # A threshold above the real free space: the disk is "full" for this service.
    path = service.config.path
    path.write_text(path.read_text("utf-8").replace(
        "[service]", '[service]\nmin_free_disk = "900000GB"'), "utf-8")
    service.config = config_mod.load(path)
    r = c.get("/healthz")
    assert r.status_code == 503 and r.data.startswith(b"disk full: ")
    assert b"\n" not in r.data.rstrip(b"\n")
    assert "disk full" in c.get("/status").data.decode()


def fill_disk(svc: Service) -> None:
    """Make the SQLite file full as it is: no page may be added (a full disk, for it)."""
    with svc.store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    svc.store.engine.dispose()

    @sa.event.listens_for(svc.store.engine, "connect")
    def _cap(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_save_that_fails_for_want_of_space_is_an_error_on_the_source(
        sample_config: config_mod.Config, caplog: pytest.LogCaptureFixture) -> None:
    if not sample_config.database_url.startswith("sqlite"):
        pytest.skip("SQLite's page cap stands in for a full disk")
    svc = Service(sample_config, writer=True)
    svc.upgrade()
    svc.store.put_source_state(svc.store.source_state("sample"))  # its row exists
    fill_disk(svc)
    try:
        with caplog.at_level(logging.INFO):
            result = svc.refresh_source("sample")
        assert result is not None and result.outcome == "error"
        assert "full" in (result.error or "")
        lines = [r.getMessage() for r in caplog.records if "outcome=error" in r.getMessage()]
        assert lines and "source=sample" in lines[0]
        assert not any("Job raised" in r.getMessage() for r in caplog.records)
        ok, reason = svc.health()
        assert not ok and reason.startswith("disk full")
        st = svc.store.source_state("sample")
        assert st.failures == 1 and st.last_error and "\n" not in st.last_error
        assert "SELECT" not in st.last_error and "INSERT" not in st.last_error
    finally:
        svc.close()


def test_postgresql_disk_full_errors_are_recognized() -> None:
    import psycopg.errors

    assert is_disk_full(psycopg.errors.DiskFull("could not extend file: No space left"))
    assert not is_disk_full(psycopg.errors.UniqueViolation("duplicate key"))


def test_an_article_with_an_over_long_url_is_skipped_and_the_rest_saved(
        tmp_path: Path, site: TestServer, any_db_url: str) -> None:
    long_link = f"{site.base}/news/" + "x" * 2100
    items = "".join(
        f"<item><title>Story {i}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Tue, 24 Nov 2026 0{i}:00:00 GMT</pubDate>"
        f"<description>Body {i}.</description></item>"
        for i, link in enumerate([f"{site.base}/news/one", long_link, f"{site.base}/news/two"]))
    site.add("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                          f"<link>{site.base}/</link><description>d</description>{items}"
                          "</channel></rss>", ctype="application/rss+xml")
    path = write_config(tmp_path, database=any_db_url, sources=f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{site.base}/feed.xml"
        """)
    svc = Service(config_mod.load(path), writer=True)
    try:
        svc.upgrade()
        result = svc.refresh_source("news")
        assert result is not None and result.outcome == "new", result
        assert result.new == 2 and result.skipped == 1
        assert "longer than 2048 characters" in (result.error or "")
        assert svc.store.count_articles("news") == 2
        st = svc.store.source_state("news")
        assert st.failures == 0 and st.last_error is None
    finally:
        svc.close()


@pytest.mark.parametrize("gzip", [False, True])
def test_a_304_has_the_same_headers_from_flask_and_from_the_fast_path(
        service: Service, gzip: bool) -> None:
    app = create_app(service)
    fast = app.extensions["feedsvc.fastpath"]
    c = app.test_client()
    enc = {"Accept-Encoding": "gzip"} if gzip else {}
    first = c.get("/feeds/all.atom", headers=enc)
    cond = enc | {"If-None-Match": first.headers["ETag"]}
    fast.forget()  # the next request goes through the Flask route …
    via_flask = c.get("/feeds/all.atom", headers=cond)
    via_fast = c.get("/feeds/all.atom", headers=cond)  # … this one through the fast path
    assert via_flask.status_code == via_fast.status_code == 304
    wanted = {"ETag", "Last-Modified", "Cache-Control", "Vary"}
    flask_h = {k: v for k, v in via_flask.headers if k in wanted}
    fast_h = {k: v for k, v in via_fast.headers if k in wanted}
    assert set(flask_h) == wanted and flask_h == fast_h
    assert flask_h["Last-Modified"] == first.headers["Last-Modified"]


def test_before_the_first_refresh_feeds_are_not_cached_and_never_served_stale(
        sample_config: config_mod.Config) -> None:
    writer = Service(sample_config, writer=True)  # the scheduler's process
    writer.upgrade()
    web = Service(sample_config)  # a web process on the same store
    c = create_app(web).test_client()
    try:
        empty = c.get("/feeds/all.atom")
        assert empty.status_code == 200 and b"<entry>" not in empty.data
        assert empty.headers["Cache-Control"] == "public, max-age=0"
        assert writer.refresh()[0].outcome == "new"  # lands in the other process
        full = c.get("/feeds/all.atom")  # at once: no stale empty answer
        assert full.data.count(b"<entry>") > 0
        assert full.headers["Cache-Control"] == "public, max-age=3600"
    finally:
        web.close()
        writer.close()


def test_an_empty_feed_is_dated_truly_and_stays_the_same_bytes(
        sample_config: config_mod.Config) -> None:
    writer = Service(sample_config, writer=True)
    writer.upgrade()
    created = writer.store.get_kv("archive_created")
    try:
        bodies = []
        for _ in range(2):  # a restart between the two: the same bytes
            svc = Service(sample_config)
            c = create_app(svc).test_client()
            r = c.get("/feeds/topic/kharkiv.atom")
            assert b"2000-01-01" not in r.data
            assert f"<updated>{created}</updated>".encode() in r.data
            day = c.get("/feeds/day/2026-11-25.rss")  # today in Kyiv, nothing yet
            assert b"Tue, 24 Nov 2026 22:00:00 +0000" in day.data  # its day began (Kyiv)
            bodies.append((r.data, r.headers["ETag"], r.headers["Last-Modified"]))
            svc.close()
        assert bodies[0] == bodies[1]
    finally:
        writer.close()


@pytest.mark.parametrize("fmt", ["kv", "json"])
def test_access_lines_in_a_log_file_are_plain_key_value_or_json(
        tmp_path: Path, fmt: str) -> None:
    import json
    import subprocess
    import sys

    import requests
    from conftest import free_port
    from test_process import ENV, _wait_port

    path = write_config(tmp_path, sources="", topics="")
    port = free_port()
    log_file = tmp_path / "feedsvc.log"
    with log_file.open("w") as out:  # not a terminal
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedsvc", "--config", str(path), "run", "--port",
             str(port)], env=ENV | {"FEEDSVC_LOG_FORMAT": fmt}, stderr=out, stdout=out)
        try:
            _wait_port(port, proc)
            assert requests.get(f"http://127.0.0.1:{port}/feeds/all.atom",
                                timeout=10).status_code == 200
            assert requests.get(f"http://127.0.0.1:{port}/nope", timeout=10).status_code == 404
        finally:
            proc.terminate()
            proc.wait(30)
    text = log_file.read_text("utf-8")
    assert "\x1b[" not in text
    access = [line for line in text.splitlines() if "feedsvc.access" in line]
    assert len(access) >= 2, text
    if fmt == "json":
        rows = [json.loads(line) for line in access]
        assert {(r["method"], r["status"]) for r in rows} >= {("GET", "200"), ("GET", "404")}
        assert any(r["path"] == "/nope" for r in rows)
    else:
        assert any(line.startswith("ts=") and "method=GET path='/nope' status=404" in line
                   for line in access), access


def test_status_and_index_pages_say_what_an_operator_needs(
        tmp_path: Path, site: TestServer, db_url: str) -> None:
    import shutil

    from conftest import SAMPLE

    shutil.copytree(SAMPLE, tmp_path / "sample")
    site.add("/gone.xml", "gone", status=404)
    path = write_config(tmp_path, database=db_url, sources=f"""
        [[source]]
        id = "sample"
        kind = "files"
        url = "sample/"
        [[source]]
        id = "broken"
        kind = "feed"
        url = "{site.base}/gone.xml"
        [[source]]
        id = "later"
        kind = "feed"
        url = "{site.base}/later.xml"
        """)
    svc = Service(config_mod.load(path), writer=True)
    try:
        svc.upgrade()
        svc.refresh(["sample", "broken"])
        svc.store.set_kv("scheduler_heartbeat", clock.now().isoformat())
        c = create_app(svc).test_client()
        page = c.get("/status").data.decode()
        assert "Health: <strong>ok</strong></p>" in page  # not "ok — ok"
        assert '<a href="/">' in page
        assert "first seen in the last 24 h" in page and "in 24 h)" not in page
        # Times in the service time zone with the zone, and UTC beside them.
        assert "2026-11-25 12:00:00 EET (10:00:00 UTC)" in page
        broken = page.split('id="source-broken"')[1].split("</div>")[0]
        assert "HTTP 404" in broken and "not modified" not in broken  # it never answered
        st = c.get("/status.json").get_json()
        assert {s["id"]: s["not_modified_ratio"] for s in st["sources"]}["broken"] is None
        index = c.get("/").data.decode()
        assert "failing:" in index.split('id="source-broken"')[1].split("</li>")[0]
        assert "not refreshed yet" in index.split('id="source-later"')[1].split("</li>")[0]
        assert "⚠" not in index.split('id="source-sample"')[1].split("</li>")[0]
        svc.store.set_kv("scheduler_heartbeat", "2026-11-25T09:00:00+00:00")
        page = c.get("/status").data.decode()
        assert "Health: <strong>degraded</strong> — scheduler heartbeat is 3600s old" in page
    finally:
        svc.close()


def test_a_feed_answers_when_its_rendering_cannot_be_stored(
        sample_config: config_mod.Config, caplog: pytest.LogCaptureFixture) -> None:
    # The shared rendering row is written after the answer went out: a full disk costs
    # the other processes a render, never this answer.
    if not sample_config.database_url.startswith("sqlite"):
        pytest.skip("SQLite's page cap stands in for a full disk")
    settings = sample_config.settings
    cfg = dataclasses.replace(sample_config, settings=settings.model_copy(update={
        "service": settings.service.model_copy(update={"base_url": "https://news.example"})}))
    svc = Service(cfg, writer=True)
    svc.upgrade()
    svc.refresh()
    fill_disk(svc)
    try:
        c = create_app(svc).test_client()
        with caplog.at_level(logging.WARNING):
            first = c.get("/feeds/all.atom")
            svc.cache.flush()
        assert first.status_code == 200 and b"<entry>" in first.data
        assert any("rendering not stored key=https://news.example/feeds/all.atom" in
                   r.getMessage() for r in caplog.records)
        again = c.get("/feeds/all.atom")  # from this process's memory
        assert again.status_code == 200 and again.headers["ETag"] == first.headers["ETag"]
        assert svc.cache.renders == 1
        with svc.store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM rendered").scalar() == 0
    finally:
        svc.close()
