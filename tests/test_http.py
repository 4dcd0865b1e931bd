"""HTTP behaviour aggregators rely on: fuzzed routes never 500, OPML, WebSub, metrics,
the WSGI fast path answering exactly like Flask."""

from __future__ import annotations

import random
import string
import urllib.parse
from pathlib import Path

from conftest import write_config
from feedcheck import json_feed_valid, parse_ok
from flask.testing import FlaskClient
from httpserver import TestServer
from lxml import etree

from feedsvc import config as config_mod
from feedsvc import websub
from feedsvc.scheduler import Scheduler
from feedsvc.service import Service
from feedsvc.web import create_app


def test_fuzzed_requests_never_give_a_500(client: FlaskClient) -> None:
    rng = random.Random(20261125)
    alphabet = string.ascii_letters + string.digits + "-._~%/?&=#:;@!$'()*+,[]{}<>\"\\ é\u0416"
    stems = ["/feeds/", "/feeds/day/", "/feeds/topic/", "/feeds/topic/kharkiv/day/",
             "/feeds/source/", "/feeds/all.", "/status", "/", "/feeds.opml", "/admin/refresh/"]
    values = ["0", "-1", "500", "501", "1e3", "", "%00", "\u0000", "9" * 40, "a.b",
              "1700000000.1", "2026-11-21", "' OR 1=1 --", "<script>"]
    headers_pool = [
        {"If-None-Match": "\u00ff\u00fe"}, {"If-Modified-Since": "yesterday"},
        {"If-Modified-Since": "Mon, 99 Foo 9999 99:99:99 GMT"}, {"Accept-Encoding": "gzip;q=x"},
        {"If-None-Match": '"' * 50}, {"Accept-Encoding": "br;q=0, gzip;q=0"},
    ]
    for _ in range(400):
        path = rng.choice(stems) + "".join(rng.choice(alphabet)
                                           for _ in range(rng.randint(0, 20)))
        path += rng.choice(["", ".atom", ".rss", ".json", ".xml"])
        if rng.random() < 0.5:
            params = {rng.choice(["limit", "q", "before", "x"]): rng.choice(values)
                      for _ in range(rng.randint(1, 3))}
            path += "?" + urllib.parse.urlencode(params)
        method = rng.choice(["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
        r = client.open(path, method=method, headers=rng.choice(headers_pool + [{}]))
        assert r.status_code < 500, (method, path, r.status_code, r.data[:200])
        if r.status_code >= 400 and method != "HEAD":
            assert r.content_type.startswith("text/plain")
            assert b"Traceback" not in r.data


def test_gzip_refused_by_q0_is_not_sent(client: FlaskClient) -> None:
    r = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in r.headers
    parse_ok(r.data)


def test_opml_lists_every_topic_and_source_feed(client: FlaskClient, service: Service) -> None:
    r = client.get("/feeds.opml")
    assert r.content_type == "text/x-opml; charset=utf-8"
    doc = etree.fromstring(r.data)
    assert doc.get("version") == "2.0"
    outlines = [o for o in doc.iter("outline") if o.get("xmlUrl")]
    urls = {o.get("xmlUrl") for o in outlines}
    for t in service.config.topics:
        assert f"http://localhost/feeds/topic/{t.slug}.atom" in urls
    assert "http://localhost/feeds/source/sample.atom" in urls
    for o in outlines:
        assert o.get("text") and o.get("type") == "rss"
        assert client.get(o.get("xmlUrl").removeprefix("http://localhost")).status_code == 200


def test_fast_path_answers_exactly_like_flask(service: Service, monkeypatch) -> None:  # noqa: ANN001
    c = create_app(service).test_client()
    first = c.get("/feeds/topic/energy.atom", headers={"Accept-Encoding": "gzip"})
    lookups = service.cache.hits + service.cache.renders
    second = c.get("/feeds/topic/energy.atom", headers={"Accept-Encoding": "gzip"})
    assert service.cache.hits + service.cache.renders == lookups  # answered by the fast path
    assert second.data == first.data
    assert dict(second.headers) == dict(first.headers)
    not_modified = c.get("/feeds/topic/energy.atom", headers={
        "Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.data == b""
    head = c.head("/feeds/topic/energy.atom")
    assert head.status_code == 200 and head.data == b""


def test_websub_hub_is_advertised_and_pinged_for_changed_feeds(tmp_path: Path,
                                                               store_for) -> None:  # noqa: ANN001
    hub = TestServer()
    hub_url = hub.hub("/hub")
    try:
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "a.jsonl").write_text(
            '{"url": "https://n.example/1", "title": "Grid blackout ends", '
            '"published": "2026-11-20T10:00:00Z"}\n', "utf-8")
        path = write_config(tmp_path, """
            [[source]]
            id = "in"
            kind = "files"
            url = "in/"
            """, service='base_url = "https://feeds.example.org"')
        path.write_text(path.read_text() + f'\n[websub]\nhub = "{hub_url}"\n')
        cfg = config_mod.load(path)
        rt = Service(cfg, store_for(cfg))
        sched = Scheduler(rt)
        sched.beat()  # takes the scheduler lease, as start() does
        sched.run_source("in")
        pinged = {p["hub.url"][0] for p in hub.pings()}
        assert all(p["hub.mode"] == ["publish"] for p in hub.pings())
        base = "https://feeds.example.org/feeds"
        assert {f"{base}/all.atom", f"{base}/all.rss", f"{base}/all.json",
                f"{base}/day/2026-11-20.atom", f"{base}/topic/energy.rss",
                f"{base}/source/in.json"} <= pinged
        assert not any("culture" in u for u in pinged)  # only feeds that changed
        assert set(websub.feed_urls(cfg, ["*", "days"])) == set()

        c = create_app(rt).test_client()
        r = c.get("/feeds/all.atom")
        feed = parse_ok(r.data)
        rels = {link.rel: link.href for link in feed.feed.links}
        assert rels["hub"] == hub_url and rels["self"] == f"{base}/all.atom"
        assert f'<{hub_url}>; rel="hub"' in r.headers["Link"]
        assert f'<{base}/all.atom>; rel="self"' in r.headers["Link"]
        rss = c.get("/feeds/all.rss").data
        assert f'href="{hub_url}" rel="hub"'.encode() in rss
        doc = json_feed_valid(c.get("/feeds/all.json").data)
        assert doc["hubs"] == [{"type": "WebSub", "url": hub_url}]
        hub.log.clear()
        sched2 = Scheduler(rt)
        sched2.beat()
        assert not sched2.leader  # the first scheduler still holds the lease
        sched.stop()
        sched2.beat()
        assert sched2.leader  # a clean stop releases it: the standby takes over
        sched2.run_source("in")  # nothing changed: no pings
        assert hub.pings() == []
    finally:
        hub.stop()


def test_metrics_count_requests_fetches_and_cache(client: FlaskClient) -> None:
    client.get("/feeds/all.atom")
    client.get("/feeds/all.atom")
    client.get("/feeds/topic/nope.atom")
    text = client.get("/metrics").data.decode()
    assert 'feedsvc_feed_requests_total{kind="all",status="200"}' in text
    assert 'feedsvc_feed_requests_total{kind="topic",status="404"}' in text
    assert 'feedsvc_render_cache_total{result="hit"}' in text
    assert 'feedsvc_fetches_total{outcome="ok",source="sample"}' in text
    assert "feedsvc_fetch_seconds_bucket" in text


def test_admin_refresh_needs_the_token(service: Service, monkeypatch) -> None:  # noqa: ANN001
    c = create_app(service).test_client()
    monkeypatch.delenv("FEEDSVC_ADMIN_TOKEN", raising=False)
    assert c.post("/admin/refresh").status_code == 404
    monkeypatch.setenv("FEEDSVC_ADMIN_TOKEN", "s3cret-token")
    assert c.post("/admin/refresh").status_code == 401
    for bad in ["Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer", "s3cret-token",
                "Bearer s3cret-token-and-more", "Bearer \u00e9\u00e9"]:
        r = c.post("/admin/refresh", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    auth = {"Authorization": "Bearer s3cret-token"}
    assert c.post("/admin/refresh/nosuch", headers=auth).status_code == 404
    assert c.get("/admin/refresh", headers=auth).status_code == 405
    assert c.post("/admin/refresh/sample", headers=auth).status_code == 202
    assert c.post("/admin/refresh", headers=auth).status_code == 202
    # The web side only queued; the scheduler claims and runs them, exactly once.
    before = service.store.source_state("sample").last_attempt
    sched = Scheduler(service)
    service.store.set_kv("probe", "1")
    from feedsvc import clock

    clock.set_now(clock.now().replace(hour=12))
    try:
        sched.beat()
        sched.admin_requests()
        assert service.store.claim_refresh_requests() == []
    finally:
        sched.stop()
    assert service.store.source_state("sample").last_attempt > before


def test_healthz_needs_a_fresh_scheduler_heartbeat(service: Service) -> None:
    from datetime import timedelta

    from feedsvc import clock

    c = create_app(service).test_client()
    r = c.get("/healthz")
    assert r.status_code == 503 and b"no scheduler heartbeat" in r.data
    service.store.set_kv("scheduler_heartbeat", (clock.now() - timedelta(minutes=10))
                         .isoformat())
    r = c.get("/healthz")
    assert r.status_code == 503 and b"600s old" in r.data
    service.store.set_kv("scheduler_heartbeat", clock.now().isoformat())
    assert c.get("/healthz").status_code == 200


def test_store_down_is_503_not_500(service: Service) -> None:
    from feedsvc.store import Store

    down = Service(service.config, Store("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    c = create_app(down).test_client()
    r = c.get("/healthz")
    assert r.status_code == 503 and b"store unavailable" in r.data
    r = c.get("/feeds/all.atom")
    assert r.status_code == 503 and r.data == b"service temporarily unavailable\n"


def test_retention_purges_whole_old_days_and_their_feeds_go_away(service: Service) -> None:
    import dataclasses

    svc = service.config.service.model_copy(update={"retention_days": 3})
    cfg = dataclasses.replace(service.config,
                              settings=service.config.settings.model_copy(update={"service": svc}))
    rt = Service(cfg, service.store)
    c = create_app(rt).test_client()
    assert c.get("/feeds/day/2026-11-18.atom").status_code == 200
    sched = Scheduler(rt)
    try:
        sched.purge()  # a standby never purges
        assert rt.store.days()[0] == "2026-11-18"
        sched.beat()
        sched.purge()
    finally:
        sched.stop()
    assert rt.store.days() == ["2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25"]
    # A worker that answered from its fast path trusts that for up to FAST_TTL (1 s);
    # any other worker (here: a fresh one) sees the purge at once.
    c = create_app(Service(cfg, service.store)).test_client()
    assert c.get("/feeds/day/2026-11-18.atom").status_code == 404
    kept = parse_ok(c.get("/feeds/day/2026-11-22.atom").data)
    assert len(kept.entries) == 3  # the oldest day kept is whole
    assert all(e.published_parsed[:3] >= (2026, 11, 21) for e in
               parse_ok(c.get("/feeds/all.atom").data).entries)
