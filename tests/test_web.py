"""Feeds over HTTP (Flask test client) after a real refresh of the sample archive:
content, dates, days in the service time zone, topics, validity, HTTP semantics."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXPECTED, NOW
from feedcheck import atom_valid, json_feed_valid, parse_ok
from flask.testing import FlaskClient

from feedsvc import clock
from feedsvc import config as config_mod
from feedsvc.refresh import Refresher
from feedsvc.service import Service
from feedsvc.types import ArticleData
from feedsvc.web import create_app

DAYS = sorted({e["kyiv_day"] for e in EXPECTED.values() if e["kyiv_day"]})
TODAY = "2026-11-25"


def _by_title(parsed) -> dict:  # noqa: ANN001
    return {e.title: e for e in parsed.entries}


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_all_feed_has_every_article_newest_first_with_content(client: FlaskClient,
                                                              fmt: str) -> None:
    r = client.get(f"/feeds/all.{fmt}")
    assert r.status_code == 200
    assert r.content_type == f"application/{fmt}+xml; charset=utf-8"
    parsed = parse_ok(r.data)
    assert len(parsed.entries) == 30
    entries = _by_title(parsed)
    for exp in EXPECTED.values():
        e = entries[exp["title"]]
        assert e.id == exp["url"] and e.link == exp["url"]
        assert len(e.content[0].value) > 200
        if exp["published"]:
            got = datetime(*e.published_parsed[:6]).isoformat()
            assert got + "Z" == exp["published"]
    # newest first; the two undated articles carry their first-seen time (the refresh)
    published = [datetime(*e.published_parsed[:6]) for e in parsed.entries]
    assert published == sorted(published, reverse=True)
    assert published[0] == NOW.replace(tzinfo=None)
    assert {e.title for e in parsed.entries[:2]} == {
        x["title"] for x in EXPECTED.values() if x["published"] is None}


@pytest.mark.parametrize("day", DAYS)
def test_day_feeds_hold_that_kyiv_day_complete(client: FlaskClient, day: str) -> None:
    want = {e["title"] for e in EXPECTED.values() if e["kyiv_day"] == day}
    for fmt in ("atom", "rss"):
        parsed = parse_ok(client.get(f"/feeds/day/{day}.{fmt}").data)
        assert {e.title for e in parsed.entries} == want
    doc = json_feed_valid(client.get(f"/feeds/day/{day}.json").data)
    assert {i["title"] for i in doc["items"]} == want


def test_late_utc_evening_belongs_to_next_kyiv_day(client: FlaskClient) -> None:
    late = [e for e in EXPECTED.values()
            if e["published"] and e["published"][11:13] in ("22", "23")]
    assert late
    for e in late:
        utc_day = e["published"][:10]
        assert e["kyiv_day"] != utc_day
        titles = {x.title for x in parse_ok(client.get(f"/feeds/day/{e['kyiv_day']}.atom").data)
                  .entries}
        assert e["title"] in titles
        titles = {x.title for x in parse_ok(client.get(f"/feeds/day/{utc_day}.atom").data)
                  .entries}
        assert e["title"] not in titles


@pytest.mark.parametrize("topic", ["military-aid", "energy", "diplomacy", "kharkiv",
                                   "culture"])
def test_topic_feeds(client: FlaskClient, topic: str) -> None:
    want = {e["title"] for e in EXPECTED.values() if topic in e["topics"]}
    rss = parse_ok(client.get(f"/feeds/topic/{topic}.rss").data)
    assert {e.title for e in rss.entries} == want
    atom = parse_ok(client.get(f"/feeds/topic/{topic}.atom").data)
    assert {e.title for e in atom.entries} == want
    for e in atom.entries:  # Atom: term = slug, label = title; RSS shows the label
        assert topic in {t.term for t in e.tags}
    title = {t.slug: t.display_title for t in client.application.extensions["feedsvc"]
             .config.topics}[topic]
    for e in rss.entries:
        assert title in {t.term for t in e.tags}


def test_topic_day_feed(client: FlaskClient) -> None:
    want = {e["title"] for e in EXPECTED.values()
            if "kharkiv" in e["topics"] and e["kyiv_day"] == "2026-11-19"}
    parsed = parse_ok(client.get("/feeds/topic/kharkiv/day/2026-11-19.atom").data)
    assert {e.title for e in parsed.entries} == want and want


def test_every_feed_is_valid_atom_rss_and_json_feed(client: FlaskClient) -> None:
    paths = ["all", "digest", "source/sample", *(f"day/{d}" for d in DAYS),
             f"day/{TODAY}", "topic/kharkiv/day/2026-11-19", "topic/energy/day/2026-11-22",
             *(f"topic/{t}" for t in ("military-aid", "energy", "diplomacy", "kharkiv",
                                      "culture"))]
    atoms = []
    for p in paths:
        atom = client.get(f"/feeds/{p}.atom")
        assert atom.status_code == 200, p
        parse_ok(atom.data)
        atoms.append(atom.data)
        parse_ok(client.get(f"/feeds/{p}.rss").data)
        json_feed_valid(client.get(f"/feeds/{p}.json").data)
    atoms.append(client.get("/feeds/all.atom?limit=3").data)
    atom_valid(*atoms)


def test_ids_and_bytes_do_not_change_on_a_second_refresh(service: Service,
                                                         client: FlaskClient) -> None:
    first = client.get("/feeds/all.atom")
    Refresher(service.config, service.store).refresh()
    clock.set_now(NOW.replace(hour=11))  # later the same day
    second = client.get("/feeds/all.atom")
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]


def test_archive_links_walk_back_through_every_day(client: FlaskClient) -> None:
    parsed = parse_ok(client.get("/feeds/all.atom").data)
    links = {link.rel: link.href for link in parsed.feed.links}
    seen = []
    href = links["prev-archive"]
    while href:
        path = href.split("localhost", 1)[1]
        day_feed = parse_ok(client.get(path).data)
        seen.append(path.rsplit("/", 1)[1].removesuffix(".atom"))
        assert b"<fh:archive/>" in client.get(path).data
        href = {link.rel: link.href for link in day_feed.feed.links}.get("prev-archive")
    assert seen == list(reversed(DAYS))


def test_unknown_and_malformed_feed_urls_are_404(client: FlaskClient) -> None:
    for path in ["/feeds/topic/nope.atom", "/feeds/source/nope.rss", "/feeds/day/2026-02-30.atom",
                 "/feeds/day/2026-13-01.atom", "/feeds/day/26-11-01.atom",
                 "/feeds/day/2026-11-21.xml", "/feeds/all.html", "/feeds/",
                 "/feeds/day/2026-11-17.atom", "/feeds/day/2026-11-26.json",
                 "/feeds/topic/energy/day/2030-01-01.rss", "/feeds/day/1999-01-01.atom",
                 "/feeds/day/..%2f..%2fetc%2fpasswd.atom", "/feeds/topic/KHARKIV.atom",
                 "/feeds/day/2026-11-2\u0000.atom", "/feeds/day/9999-12-31.atom",
                 "/feeds/day/0001-01-01.json", "/feeds/topic/energy/day/9999-12-31.rss"]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.content_type.startswith("text/plain")
        assert len(r.data.splitlines()) == 1


def test_a_day_before_the_archive_opens_when_an_article_arrives_for_it(
        service: Service, client: FlaskClient) -> None:
    # The archive's first day is remembered while the day list stands: an article of an
    # earlier day moves it (and a purge moves it back), in this process and any other.
    earlier = "2026-11-01"
    path = f"/feeds/day/{earlier}.atom"
    assert client.get(path).status_code == 404
    service.store.save("sample", ArticleData(
        url="https://example.com/old-story", title="An old story",
        published=datetime(2026, 11, 1, 9, 0, tzinfo=UTC), content_html="<p>Old.</p>"),
        topics=())
    r = client.get(path)
    assert r.status_code == 200 and b"An old story" in r.data
    service.store.purge_before(DAYS[0])
    # another format: the fast path may answer the same URL from memory for a second
    assert client.get(f"/feeds/day/{earlier}.rss").status_code == 404


def test_bad_parameters_are_400_with_one_line(client: FlaskClient) -> None:
    for query in ["limit=0", "limit=501", "limit=abc", "limit=-1", "before=xyz",
                  "before=99999999999999999.1", "q=" + "x" * 300, "limit=%C2%B2",
                  "limit=%D9%A3", "limit=0005000"]:
        r = client.get(f"/feeds/all.atom?{query}")
        assert r.status_code == 400, query
        assert r.data.count(b"\n") == 1


def test_conditional_get_and_gzip(client: FlaskClient) -> None:
    r = client.get("/feeds/all.atom")
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert r.headers["Vary"] == "Accept-Encoding"
    assert "public, max-age=" in r.headers["Cache-Control"]
    assert client.get("/feeds/all.atom", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/feeds/all.atom",
                      headers={"If-None-Match": f'"zzz", {etag}'}).status_code == 304
    assert client.get("/feeds/all.atom", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": lm}).status_code == 304
    assert client.get("/feeds/all.atom",
                      headers={"If-None-Match": '"other"'}).status_code == 200
    gz = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip, deflate"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.data) == r.data
    assert gz.headers["ETag"] != etag
    head = client.head("/feeds/all.atom")
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(r.data)
    day = client.get(f"/feeds/day/{DAYS[0]}.atom")
    assert int(day.headers["Cache-Control"].split("max-age=")[1]) >= 86400


def test_a_feed_is_rendered_once_until_its_articles_change(service: Service) -> None:
    app = create_app(service)
    c = app.test_client()
    for _ in range(3):
        c.get("/feeds/topic/culture.atom")
    assert service.cache.renders == 1
    # Without base_url a rendering is built from the request's Host and stays in this
    # process: a second process (another gunicorn worker) renders its own.
    other = Service(service.config, service.store)
    create_app(other).test_client().get("/feeds/topic/culture.atom")
    assert other.cache.renders == 1
    # With base_url every process shares the stored rendering.
    settings = service.config.settings
    cfg = dataclasses.replace(service.config, settings=settings.model_copy(update={
        "service": settings.service.model_copy(update={"base_url": "https://news.example"})}))
    first, second = Service(cfg, service.store), Service(cfg, service.store)
    create_app(first).test_client().get("/feeds/topic/culture.atom")
    first.cache.flush()  # the shared row is written after the answer went out
    body = create_app(second).test_client().get("/feeds/topic/culture.atom").data
    assert (first.cache.renders, second.cache.renders) == (1, 0)
    assert b"https://news.example/feeds/topic/culture.atom" in body


def test_a_malformed_host_is_refused_without_base_url(client: FlaskClient) -> None:
    for host in ("a b", "evil.example/x", "x" * 300, "ex\u00e4mple.com", ""):
        r = client.get("/feeds/all.atom", headers={"Host": host})
        assert r.status_code == 400 and r.data == b"bad Host header\n", host
    assert client.get("/feeds/all.atom", headers={"Host": "news.example:8080"}).status_code == 200
    assert client.get("/feeds/all.atom", headers={"Host": "[::1]:80"}).status_code == 200


def test_index_lists_feeds_with_autodiscovery(client: FlaskClient) -> None:
    html = client.get("/").data.decode()
    for fmt, ctype in (("atom", "application/atom+xml"), ("rss", "application/rss+xml"),
                       ("json", "application/feed+json")):
        assert f'type="{ctype}"' in html and f"/feeds/all.{fmt}" in html
    assert "/feeds/topic/kharkiv.atom" in html and f"/feeds/day/{DAYS[-1]}.rss" in html


def test_status_json_names_each_source(client: FlaskClient) -> None:
    st = json.loads(client.get("/status.json").data)
    [src] = st["sources"]
    assert src["id"] == "sample" and src["articles"] == 30
    assert src["last_success"] == "2026-11-25T10:00:00Z" and src["last_error"] is None
    assert src["next_run"] == "2026-11-25T11:00:00Z"  # every = 1h after the last attempt
    assert src["kind"] == "files" and src["failures"] == 0
    assert st["config"]["refused"] is None


def test_index_and_status_escape_hostile_titles(tmp_path: Path, store_for) -> None:  # noqa: ANN001
    from conftest import write_config

    cfg = config_mod.load(write_config(tmp_path, """
        [[source]]
        id = "x"
        title = "<script>alert(1)</script>"
        kind = "files"
        url = "none/"
        """))
    store = store_for(cfg)
    Refresher(cfg, store).refresh()
    c = create_app(Service(cfg, store)).test_client()
    for path in ("/", "/status"):
        body = c.get(path).data
        assert b"<script>alert" not in body and b"&lt;script&gt;" in body
    assert b"folder not found" in c.get("/status").data


def test_an_edited_article_gives_new_bytes_and_etag_in_every_worker(
        service: Service, sample_config: config_mod.Config, monkeypatch) -> None:  # noqa: ANN001
    """The riskiest path: a feed is served (and cached in two workers), one of its
    articles changes upstream, and both workers then answer the new bytes."""
    from feedsvc.web import fastpath

    url = "/feeds/topic/energy.atom"
    one = create_app(service).test_client()  # the worker in the refreshing process
    other_service = Service(sample_config)  # another worker: its own process state
    other = create_app(other_service).test_client()
    before = one.get(url)
    assert other.get(url).headers["ETag"] == before.headers["ETag"]
    assert one.get(url).headers["ETag"] == before.headers["ETag"]  # cached answers
    assert other.get(url).headers["ETag"] == before.headers["ETag"]

    page = sample_config.resolve_path("sample") / sorted(EXPECTED)[3]  # 04-grid-…, energy
    html = page.read_text("utf-8")
    assert html.count('<div class="article-body">') == 1
    page.write_text(html.replace('<div class="article-body">', '<div class="article-body">'
                                 "<p>Update: crews restored power to Obolon at 15:50.</p>"))
    assert service.refresh()[0].updated == 1

    after = one.get(url)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"restored power to Obolon at 15:50" in after.data
    assert parse_ok(after.data).entries[0].id  # still a valid feed
    # The other worker trusts its remembered answer for at most fastpath.TTL seconds.
    real = fastpath.time.monotonic
    monkeypatch.setattr(fastpath.time, "monotonic", lambda: real() + fastpath.TTL + 1)
    again = other.get(url)
    assert again.headers["ETag"] == after.headers["ETag"] and again.data == after.data
    other_service.close()
