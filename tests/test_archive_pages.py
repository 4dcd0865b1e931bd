"""The archive as web pages: /day/…, /topic/…, /topic/…/day/…, /source/… (issue 13.2)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import pytest
from conftest import EXPECTED, write_config
from flask.testing import FlaskClient

from feedsvc import config as config_mod
from feedsvc.dates import local_day
from feedsvc.service import Service
from feedsvc.web import create_app

DAYS = sorted({e["kyiv_day"] for e in EXPECTED.values() if e["kyiv_day"]})


def headlines(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'<a class="t" href="[^"]*">([^<]*)</a>', html)]


def test_a_day_page_lists_its_headlines_newest_first_in_local_time(
        client: FlaskClient) -> None:
    day = DAYS[0]
    r = client.get(f"/day/{day}")
    assert r.status_code == 200 and r.content_type == "text/html; charset=utf-8"
    html = r.data.decode()
    want = sorted((e for e in EXPECTED.values() if e["kyiv_day"] == day),
                  key=lambda e: e["published"], reverse=True)
    assert headlines(html) == [e["title"] for e in want]
    first = want[0]  # published in UTC, shown in Kyiv (UTC+2 in November)
    hh, mm = int(first["published"][11:13]), first["published"][14:16]
    assert f">{(hh + 2) % 24:02d}:{mm}</time>" in html
    assert f'href="{first["url"]}"' in html and "Times in Europe/Kyiv" in html
    # Autodiscovery of the same day's feeds, and the neighbouring day.
    for fmt, ctype in (("atom", "application/atom+xml"), ("rss", "application/rss+xml"),
                       ("json", "application/feed+json")):
        assert re.search(rf'<link rel="alternate" type="{re.escape(ctype)}"[^>]*'
                         rf'href="http://localhost/feeds/day/{day}.{fmt}"', html)
    assert f'href="http://localhost/day/{DAYS[1]}">next day' in html
    assert "previous day" not in html  # the archive's first day


def test_topic_pages_page_back_with_before_and_link_their_days(client: FlaskClient) -> None:
    kharkiv = [e for e in EXPECTED.values() if "kharkiv" in e["topics"]]
    titles = [e["title"] for e in sorted(kharkiv, key=lambda e: e["published"], reverse=True)]
    seen: list[str] = []
    url = "/topic/kharkiv?limit=2"
    while url:
        html = client.get(url).data.decode()
        seen += headlines(html)
        m = re.search(r'href="http://localhost(/topic/kharkiv\?[^"]+)">older', html)
        url = m.group(1).replace("&amp;", "&") if m else ""
    assert seen == titles and len(titles) > 2
    day = next(e["kyiv_day"] for e in EXPECTED.values() if "kharkiv" in e["topics"])
    html = client.get(f"/topic/kharkiv/day/{day}").data.decode()
    assert headlines(html) and all("kharkiv" in e["topics"] for e in EXPECTED.values()
                                   if e["title"] in headlines(html))
    assert 'href="http://localhost/topic/kharkiv">newest' in html


def test_a_source_page_and_its_conditional_get(client: FlaskClient) -> None:
    r = client.get("/source/sample")
    assert r.status_code == 200 and len(headlines(r.data.decode())) == 30
    assert "Sample News" in r.data.decode()
    again = client.get("/source/sample", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    gz = client.get("/source/sample", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gz.headers["ETag"] != r.headers["ETag"]


@pytest.mark.parametrize(("path", "status"), [
    ("/topic/nope", 404), ("/source/nope", 404), ("/day/2026-13-01", 404),
    ("/day/9999-12-31", 404), ("/day/2026-11-30", 404), ("/day/2026-11-18.atom", 404),
    ("/topic/kharkiv/day/1990-01-01", 404), ("/day/", 404), ("/topic/%00", 404),
    ("/topic/kharkiv?limit=%C2%B2", 400), ("/topic/kharkiv?before=x", 400),
    ("/topic/kharkiv?limit=0", 400), ("/source/sample/day/2026-11-18", 404),
])
def test_bad_page_urls_get_one_line_errors(client: FlaskClient, path: str,
                                           status: int) -> None:
    r = client.get(path)
    assert r.status_code == status and r.content_type.startswith("text/plain")
    assert r.data.count(b"\n") == 1


def test_no_markup_from_a_source_reaches_a_page(tmp_path: Path, store_for) -> None:  # noqa: ANN001
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "items.jsonl").write_text(json.dumps({
        "url": "https://n.example/a/1", "title": "<script>alert(1)</script> & co",
        "summary": "<img src=x onerror=alert(2)>", "published": "2026-11-24T10:00:00Z",
        "content_html": "<p>body</p>"}) + "\n", "utf-8")
    cfg = config_mod.load(write_config(tmp_path, """
        [[source]]
        id = "x"
        title = "<b>Evil</b>"
        kind = "files"
        url = "x/"
        """))
    svc = Service(cfg, store_for(cfg), writer=True)
    assert [r.outcome for r in svc.refresh()] == ["new"]
    html = create_app(svc).test_client().get("/source/x").data.decode()
    assert "<script>" not in html and "<img" not in html and "<b>Evil" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html


def test_the_index_links_every_page(client: FlaskClient) -> None:
    html = client.get("/").data.decode()
    for path in ("/topic/kharkiv", "/source/sample", f"/day/{DAYS[-1]}"):
        assert f'href="http://localhost{path}"' in html
        assert client.get(path).status_code == 200


# -- the index: latest headlines by day and a month calendar ------------------------
def test_the_index_shows_the_latest_headlines_grouped_by_local_day(
        client: FlaskClient, service: Service) -> None:
    html = client.get("/").data.decode()
    latest = service.store.latest(20)
    assert len(latest) == 20
    assert headlines(html) == [a.title for a in latest]
    tz = service.config.service.tz
    day_of = {a.url: local_day(a.published, tz) for a in latest}
    # Each group under its day's heading, newest day first, in the order of the feed.
    days = list(dict.fromkeys(day_of.values()))
    heads = re.findall(r'<h3 id="latest-(\d{4}-\d{2}-\d{2})">', html)
    assert heads == days and len(days) > 2
    for day, chunk in zip(days, html.split('<h3 id="latest-')[1:], strict=True):
        assert headlines(chunk) == [a.title for a in latest if day_of[a.url] == day]
        assert f'href="http://localhost/day/{day}"' in chunk.split("</h3>")[0]
    # Local time, source and topics of a headline that has topics.
    a = next(a for a in latest if a.topics and day_of[a.url] in DAYS)
    item = html.split(f'href="{a.url}"', 1)[0].rsplit("<li>", 1)[1]
    local = a.published.astimezone(service.config.service.tz)
    assert f">{local:%H:%M}</time>" in item
    line = html.split(f'href="{a.url}"', 1)[1].split("</li>", 1)[0]
    assert "Sample News" in line
    assert all(f'href="http://localhost/topic/{t}"' in line for t in a.topics)


def test_the_index_calendar_counts_the_days_of_the_newest_month(
        client: FlaskClient, service: Service) -> None:
    html = client.get("/").data.decode()
    counts = service.store.day_counts()
    assert set(counts) <= {d for d in counts if d.startswith("2026-11-")}
    cal = html.split('<table class="cal">')[1].split("</table>")[0]
    assert "November 2026" in cal and f"({sum(counts.values())} articles)" in cal
    cells = dict(re.findall(r'<td id="cal-([\d-]+)"><a href="[^"]+" title="[^"]+">\d+'
                            r"<small>(\d+)</small>", cal))
    assert {d: int(n) for d, n in cells.items()} == counts
    for d in counts:
        assert f'href="http://localhost/day/{d}"' in cal
    assert cal.count("<tr>") >= 5 and "<td><span>1</span></td>" in cal  # 1 Nov: none
    assert "rel=\"prev\"" not in html and "rel=\"next\"" not in html  # one month only
    assert service.store.month_counts(2026, 11) == counts
    assert service.store.month_counts(2026, 10) == {}


def _month_archive(tmp_path: Path, store_for) -> FlaskClient:  # noqa: ANN001
    """An archive with articles in October and November 2026 (Kyiv), one titled with
    markup."""
    (tmp_path / "x").mkdir()
    items = [("https://n.example/a/1", "Early October", "2026-10-05T09:00:00Z"),
             ("https://n.example/a/2", "October eve", "2026-10-30T10:00:00Z"),
             # 23:30 UTC on 30 October is 01:30 on the 31st in Kyiv
             ("https://n.example/a/3", "Late October night", "2026-10-30T23:30:00Z"),
             ("https://n.example/a/4", "<script>alert(1)</script> & co",
              "2026-11-24T10:00:00Z")]
    (tmp_path / "x" / "items.jsonl").write_text("".join(json.dumps({
        "url": u, "title": t, "summary": "s", "published": p, "content_html": "<p>b</p>"})
        + "\n" for u, t, p in items), "utf-8")
    cfg = config_mod.load(write_config(tmp_path, """
        [[source]]
        id = "x"
        title = "X"
        kind = "files"
        url = "x/"
        """))
    svc = Service(cfg, store_for(cfg), writer=True)
    assert [r.outcome for r in svc.refresh()] == ["new"]
    return create_app(svc).test_client()


def test_the_index_calendar_pages_by_month(tmp_path: Path, store_for) -> None:  # noqa: ANN001
    c = _month_archive(tmp_path, store_for)
    html = c.get("/").data.decode()
    assert "November 2026" in html and 'id="cal-2026-11-24"' in html
    assert 'href="http://localhost/?month=2026-10" rel="prev"' in html
    assert 'rel="next"' not in html
    html = c.get("/?month=2026-10").data.decode()
    assert "October 2026 <small>(3 articles)</small>" in html
    assert re.search(r'id="cal-2026-10-05"><a [^>]*>5<small>1</small>', html)
    assert re.search(r'id="cal-2026-10-31"><a [^>]*>31<small>1</small>', html)
    assert re.search(r'id="cal-2026-10-30"><a [^>]*>30<small>1</small>', html)
    assert 'href="http://localhost/?month=2026-11" rel="next"' in html
    assert 'rel="prev"' not in html
    # The latest headlines do not depend on the month shown.
    assert headlines(html)[0] == "<script>alert(1)</script> & co"
    html = c.get("/?month=2027-03").data.decode()  # after the archive: empty, a way back
    assert "(0 articles)" in html and 'id="cal-' not in html
    assert 'href="http://localhost/?month=2026-11" rel="prev"' in html
    html = c.get("/?month=1990-01").data.decode()
    assert 'href="http://localhost/?month=2026-10" rel="next"' in html


@pytest.mark.parametrize("month", ["2026-13", "abc", "%00", "2026-00", "2026-1", "",
                                   "1989-12", "2201-01", "2026-11%0A", "２０２６-11",
                                   "2026-11&month=2026-10"])
def test_a_malformed_month_is_a_one_line_400(client: FlaskClient, month: str) -> None:
    r = client.get(f"/?month={month}")
    if month == "2026-11&month=2026-10":  # the first value counts
        assert r.status_code == 200
        return
    assert r.status_code == 400 and r.content_type.startswith("text/plain")
    assert r.data.count(b"\n") == 1 and r.data.startswith(b"month must be YYYY-MM")


def test_the_index_escapes_a_hostile_title(tmp_path: Path, store_for) -> None:  # noqa: ANN001
    html = _month_archive(tmp_path, store_for).get("/").data.decode()
    assert "<script>" not in html
    assert '<a class="t" href="https://n.example/a/4">&lt;script&gt;alert(1)&lt;/script&gt; ' \
           "&amp; co</a>" in html


def test_the_index_is_rendered_once_and_answers_conditional_gets(
        client: FlaskClient, service: Service) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.content_type == "text/html; charset=utf-8"
    etag = r.headers["ETag"]
    assert r.headers["Vary"] == "Accept-Encoding" and "max-age=" in r.headers["Cache-Control"]
    renders = service.cache.renders
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert client.get("/", headers={"If-None-Match": f'W/{etag}, "x"'}).status_code == 304
    gz = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gz.headers["ETag"] != etag
    assert gzip.decompress(gz.data) == r.data
    assert client.get("/", headers={"If-None-Match": gz.headers["ETag"],
                                    "Accept-Encoding": "gzip"}).status_code == 304
    assert service.cache.renders == renders  # every answer from the one rendering
    other = client.get("/?month=2026-10")
    assert other.status_code == 200 and other.headers["ETag"] != etag
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304
    # An article changes: new bytes, new ETag.
    [a] = service.store.latest(1)
    from feedsvc.store import _as_data
    service.store.save(a.source_id, replace(_as_data(a), title="A new title"), a.topics)
    fresh = client.get("/", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert "A new title" in fresh.data.decode()


def test_the_index_reads_no_whole_archive(client: FlaskClient, monkeypatch) -> None:  # noqa: ANN001
    """Only index lookups and counters: the calls that read every day or article fail."""
    from feedsvc.store import Store

    def whole(*_a: object, **_k: object) -> None:
        raise AssertionError("a whole-archive read on the index's request path")

    for name in ("days", "day_counts", "day", "headlines"):
        monkeypatch.setattr(Store, name, whole)
    for path in ("/", "/?month=2026-10", "/?month=2026-11"):
        assert client.get(path).status_code == 200
