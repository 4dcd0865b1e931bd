"""``feedsvc try``: one page or one source, against a real local site, storing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXPECTED, free_port, serve_sample_site, write_config
from httpserver import TestServer

from feedsvc.cli import main

CONFLICT = """<html lang="en"><head><title>Partners pledge air defense | Example News</title>
<meta property="og:site_name" content="Example News">
<link rel="canonical" href="{base}/news/2024/05/03/air-defense">
<script type="application/ld+json">{{"@type": "NewsArticle",
 "headline": "Partners pledge air defense systems before winter",
 "datePublished": "2024-05-01T09:30:00+03:00",
 "author": {{"@type": "Person", "name": "Olena Petrenko"}},
 "articleSection": "Politics", "keywords": "air defense, winter"}}</script>
<meta property="og:image" content="/img/lead.jpg">
</head><body><article><h1>Partners pledge air defense systems before winter</h1>
<p class="byline">By Olena Petrenko, <time datetime="2024-05-02T08:00:00+03:00">2 May</time></p>
<p>Ministers from twelve countries pledged new air defense systems on Wednesday, hoping
to protect the power grid before the first frosts arrive in the east of the country.</p>
<p>The package includes launchers, radars and interceptors for existing batteries,
officials said after the meeting in Brussels.</p>
<p>Deliveries are expected to begin within weeks, according to the ministry.</p>
</article></body></html>"""

UNDATED = """<html lang="en"><head><title>Example News</title>
<meta property="og:site_name" content="Example News"></head>
<body><div class="story"><p>Some words about the city council and its budget plans for the
next year, which were discussed at length on Thursday evening by the members.</p></div>
</body></html>"""

TOPICS = """
[[topic]]
slug = "energy"
any = ["power grid", "blackout*"]

[[topic]]
slug = "diplomacy"
any = ["sanction*"]
categories = ["Politics"]

[[topic]]
slug = "sport"
any = ["marathon*"]
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path, sources="""
        [[source]]
        id = "news"
        kind = "html"
        url = "http://127.0.0.1:9/latest"
        links = "article h2 a"
        """, topics=TOPICS)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def conflict_page(site: TestServer) -> str:
    return site.page("/news/2024/05/03/air-defense", CONFLICT.format(base=site.base))


def test_page_shows_winning_date_evidence_and_the_losers(
        site: TestServer, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--config", str(cfg), "try", conflict_page(site))
    assert rc == 0, err
    lines = out.splitlines()
    row = {ln.split(None, 1)[0]: ln.split(None, 1)[1] for ln in lines
           if ln[:1].strip() and " " in ln}
    assert row["url"] == site.url("/news/2024/05/03/air-defense")
    assert row["title"] == "Partners pledge air defense systems before winter"
    # three sources disagree; htmldate sides with the URL, the others lose
    assert row["published"] == "2024-05-02T21:00:00Z  from url 2024/05/03 '2024/05/03'"
    lost = [ln for ln in lines if ln.startswith("lost")]
    assert any("json-ld datePublished '2024-05-01T09:30:00+03:00' = 2024-05-01" in ln
               for ln in lost), lost
    assert any("time[datetime] '2024-05-02T08:00:00+03:00' = 2024-05-02" in ln
               for ln in lost), lost
    assert "json-ld datePublished says 2024-05-01" in row["date"]
    assert row["authors"] == "Olena Petrenko"
    assert row["categories"] == "Politics"
    assert row["tags"] == "air defense, winter"
    assert row["image"] == site.url("/img/lead.jpg")
    assert row["body"].startswith("Ministers from twelve countries")
    assert int(row["words"]) > 40
    assert "warning" not in row
    assert err == ""


def test_topics_and_the_rule_that_matched(site: TestServer, cfg: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--config", str(cfg), "try", conflict_page(site))
    assert rc == 0
    topics = next(ln for ln in out.splitlines() if ln.startswith("topics"))
    assert topics.split(None, 1)[1] == ("diplomacy (rule: category: Politics), "
                                        "energy (rule: power grid)")


def test_json_document(site: TestServer, cfg: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--config", str(cfg), "try", "--json", conflict_page(site))
    assert rc == 0
    doc = json.loads(out)
    assert doc["title"] == "Partners pledge air defense systems before winter"
    assert doc["published"] == "2024-05-02T21:00:00Z"
    assert doc["published_evidence"]["kind"] == "url"
    kinds = {(c["kind"], c["where"]) for c in doc["date_losers"]}
    assert ("json-ld", "datePublished") in kinds and ("element", "time[datetime]") in kinds
    assert doc["topics"] == [{"topic": "diplomacy", "rule": "category: Politics"},
                             {"topic": "energy", "rule": "power grid"}]
    assert doc["authors"] == ["Olena Petrenko"] and doc["warnings"] == []
    assert doc["words"] > 40 and doc["lead"][0].startswith("Ministers")
    assert set(doc) >= {"url", "updated", "categories", "tags", "image", "date_note"}


def test_select_overrides_the_title(site: TestServer, cfg: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = conflict_page(site)
    rc, out, _ = run(capsys, "--config", str(cfg), "try", "--json",
                     "--select", "title=p.byline", url)
    assert rc == 0
    assert json.loads(out)["title"] == "By Olena Petrenko, 2 May"
    rc, _, err = run(capsys, "--config", str(cfg), "try", "--select", "titel=h1", url)
    assert rc == 2
    assert err.count("\n") == 1 and "unknown key 'titel' (did you mean 'title'?)" in err


def test_warnings_no_date_and_site_name_title(site: TestServer, cfg: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--config", str(cfg), "try", site.page("/story", UNDATED))
    assert rc == 0
    warnings = [ln.split(None, 1)[1] for ln in out.splitlines() if ln.startswith("warning")]
    assert any(w.startswith("no date found") for w in warnings), out
    assert any("'Example News' looks like the site's name" in w for w in warnings), out
    assert "published  -" in out


@pytest.mark.parametrize("case", ["robots", "pdf", "json", "ftp", "404", "refused",
                                  "unknown-source"])
def test_bad_input_is_one_line_and_exit_2(case: str, site: TestServer, cfg: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg.write_text(cfg.read_text().replace("respect_robots = false", "respect_robots = true"))
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    argv = {
        "robots": [conflict_page(site).replace("/news/", "/private/")],
        "pdf": [site.add("/report.pdf", b"%PDF-1.7 ...", ctype="application/pdf")],
        "json": [site.add("/api", '{"title": "x"}', ctype="text/plain")],
        "ftp": ["ftp://example.com/article"],
        "404": [site.url("/missing")],
        "refused": [f"http://127.0.0.1:{free_port()}/article"],
        "unknown-source": ["--source", "nope"],
    }[case]
    expected = {"robots": "disallowed by robots.txt", "pdf": "application/pdf",
                "json": "not an HTML page (a JSON document)", "ftp": "not an http(s) URL",
                "404": "HTTP 404", "refused": "connection failed",
                "unknown-source": "unknown source 'nope'"}[case]
    rc, out, err = run(capsys, "--config", str(cfg), "try", *argv)
    assert rc == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("feedsvc try: "), err
    assert expected in err


def test_source_html_listing(site: TestServer, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    names = serve_sample_site(site)
    cfg = write_config(tmp_path, sources=f"""
        [[source]]
        id = "listing"
        kind = "html"
        url = "{site.url('/latest')}"
        links = "article h2 a"
        timezone = "Europe/Kyiv"
        """)
    rc, out, err = run(capsys, "--config", str(cfg), "try", "--source", "listing",
                       "--limit", "2")
    assert rc == 0, err
    assert f"way        html listing {site.url('/latest')}, links 'article h2 a'" in out
    assert f"links      {len(names)} article links found" in out
    assert "[1]" in out and "[2]" in out and "[3]" not in out
    first = EXPECTED[names[0]]["title"]
    assert f"  title      {first}" in out
    fetched = [h.path for h in site.log if h.path.startswith("/news/")]
    assert len(fetched) == 2  # only the pages shown were fetched


def test_source_feed(site: TestServer, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    names = serve_sample_site(site)
    cfg = write_config(tmp_path, sources=f"""
        [[source]]
        id = "rss"
        kind = "feed"
        url = "{site.url('/feed.xml')}"
        """)
    rc, out, err = run(capsys, "--config", str(cfg), "try", "--source", "rss", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["way"] == f"feed {site.url('/feed.xml')}"
    assert doc["links"] == len(names)
    assert [p["title"] for p in doc["pages"]] == [EXPECTED[n]["title"] for n in names[:3]]
    assert not any(h.path.startswith("/news/") for h in site.log)  # entries, not pages


def test_url_and_kind_for_a_source_not_in_the_config(
        site: TestServer, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serve_sample_site(site)
    site.page("/", '<html><head><link rel="alternate" type="application/rss+xml" '
                   'href="/feed.xml"></head><body><a href="/about">About</a></body></html>')
    rc, out, err = run(capsys, "--config", str(cfg), "try", "--url", site.url("/"),
                       "--kind", "site", "--limit", "1")
    assert rc == 0, err
    assert f"way        feed {site.url('/feed.xml')}" in out
    assert "[1]" in out and "[2]" not in out
    rc, out, err = run(capsys, "--config", str(cfg), "try", "--url", site.url("/latest"),
                       "--kind", "html")
    assert rc == 2 and out == ""
    assert err == ("feedsvc try: options: source[0](try): kind 'html' needs `links` "
                   "(CSS selector of article links)\n")


def test_the_archive_is_never_touched(site: TestServer, tmp_path: Path, cfg: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "feedsvc.sqlite3"
    url = conflict_page(site)
    assert run(capsys, "--config", str(cfg), "try", url)[0] == 0
    assert not db.exists()  # no database created
    assert main(["--config", str(cfg), "db", "upgrade"]) == 0
    before = db.read_bytes()
    serve_sample_site(site)
    cfg.write_text(cfg.read_text().replace("http://127.0.0.1:9/latest", site.url("/latest")))
    assert run(capsys, "--config", str(cfg), "try", url)[0] == 0
    rc, out, _ = run(capsys, "--config", str(cfg), "try", "--source", "news")
    assert rc == 0 and f"links      {len(EXPECTED)} article links found" in out
    assert db.read_bytes() == before


def test_short_body_warning(site: TestServer, cfg: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    filler = "<p>" + " ".join(f"word{i}" for i in range(300)) + "</p>"
    url = site.page("/2024/05/01/long", f"<html><head><title>A long page about budgets"
                    f"</title></head><body><h1>A long page about budgets</h1>"
                    f"<p class='lead'>Only this short lead paragraph.</p>{filler}</body></html>")
    rc, out, _ = run(capsys, "--config", str(cfg), "try", "--select", "content=p.lead", url)
    assert rc == 0
    assert "warning    the body (5 words) is much shorter than the page's visible text" in out


def test_explain_agrees_with_classify() -> None:
    from feedsvc.config import TopicConfig
    from feedsvc.topics import Classifier
    from feedsvc.types import ArticleData

    c = Classifier((TopicConfig(slug="grid", any=["blackout*"], all=["Kyiv"]),
                    TopicConfig(slug="war", any=["missile*"], none=["video game"]),
                    TopicConfig(slug="culture", categories=["Culture"])))
    art = ArticleData(url="http://x/a", title="Blackouts in Kyiv after missile strikes",
                      categories=("culture",))
    assert c.explain(art, ()) == (("culture", "category: culture"),
                                  ("grid", "blackout* + Kyiv"), ("war", "missile*"))
    assert c.classify(art, ()) == ("culture", "grid", "war")


def test_source_sitemap(site: TestServer, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    names = serve_sample_site(site)
    locs = "".join(f"<url><loc>{site.base}/news/{n.split('-', 1)[1][:-5]}</loc></url>"
                   for n in names[:4])
    site.add("/sitemap.xml", '<?xml version="1.0"?><urlset xmlns='
             f'"http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>',
             ctype="application/xml")
    cfg = write_config(tmp_path, sources=f"""
        [[source]]
        id = "map"
        kind = "sitemap"
        url = "{site.url('/sitemap.xml')}"
        """)
    rc, out, err = run(capsys, "--config", str(cfg), "try", "--source", "map", "--json",
                       "--limit", "1")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["way"] == f"sitemap {site.url('/sitemap.xml')}"
    assert doc["links"] == 4 and len(doc["pages"]) == 1
    assert doc["pages"][0]["title"] in {EXPECTED[n]["title"] for n in names[:4]}
