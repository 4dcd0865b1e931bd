"""The archive as web pages: /day/…, /topic/…, /topic/…/day/…, /source/… (issue 13.2)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from conftest import EXPECTED, write_config
from flask.testing import FlaskClient

from feedsvc import config as config_mod
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
