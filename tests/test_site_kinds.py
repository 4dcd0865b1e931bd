"""The ``site`` source kind against a real HTTP server on 127.0.0.1: discovery in each
of its modes (its own feed, robots.txt sitemaps, article links on the page)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from conftest import EXPECTED, TestServer, serve_sample_site, slug
from kinds import NAMES, NS, page_hits, page_urls, refresher, source, stored, url_entry, urlset

from feedsvc.sources import looks_like_article


# -- site -----------------------------------------------------------------------------
def test_site_uses_its_own_feed(site: TestServer, tmp_path: Path, store_for) -> None:
    names = serve_sample_site(site, NAMES[:5])
    site.add("/", f"""<html><head><title>Sample News</title>
<link rel="alternate" type="application/rss+xml" title="Comments Feed" href="/comments/feed/">
<link rel="alternate" hreflang="uk" href="/uk/">
<link rel="alternate" type="application/rss+xml" title="Sample News" href="/feed.xml">
</head><body><div><a href="/news/{slug(NAMES[9])}">Not in the feed</a></div></body></html>""")
    r = refresher(tmp_path, store_for, source("site", site.url("/")))
    [first] = r.refresh()
    assert first.new == 5, first
    assert stored(r) == page_urls(site, names)
    assert all("<p>" in a.content_html for a in r.store.latest(10))  # fulltext = true
    assert site.hits("/comments/feed/") == 0 and site.hits(f"/news/{slug(NAMES[9])}") == 0

    pages = len(page_hits(site))
    [second] = r.refresh()
    assert second.outcome == "unchanged" and second.new == 0, second
    feed_req = [h for p, h in site.requests if p == "/feed.xml"][-1]
    assert feed_req.get("If-None-Match") == '"feed-1"'  # the feed's own validator
    assert len(page_hits(site)) == pages


def test_site_uses_robots_sitemaps_without_a_feed(site: TestServer, tmp_path: Path,
                                                  store_for) -> None:
    names = serve_sample_site(site, NAMES[:4])
    site.add("/", f"""<html><head><title>Sample News</title></head><body>
<div><a href="/news/{slug(NAMES[9])}">A link on the page, unused</a></div></body></html>""")
    site.add("/robots.txt", f"User-agent: *\nAllow: /\nSitemap: {site.base}/sitemap_index.xml\n",
             ctype="text/plain")
    site.add("/sitemap_index.xml", f'<?xml version="1.0"?><sitemapindex {NS}>'
             f"<sitemap><loc>{site.base}/post-sitemap.xml</loc></sitemap>"
             f"<sitemap><loc>{site.base}/category-sitemap.xml</loc></sitemap>"
             "</sitemapindex>", ctype="application/xml", headers={"ETag": '"idx-1"'})
    site.add("/post-sitemap.xml", urlset(
        [url_entry(u) for u in sorted(page_urls(site, names))]
        + [url_entry(f"{site.base}/about-us/"), url_entry(f"{site.base}/tag/kharkiv/"),
           url_entry(f"{site.base}/wp-content/uploads/2026/11/photo.jpg"),
           url_entry("https://elsewhere.example/news/some-other-site-story")]),
             ctype="application/xml")
    site.add("/category-sitemap.xml", urlset([url_entry(f"{site.base}/category/news/")]),
             ctype="application/xml")
    r = refresher(tmp_path, store_for, source("site", site.url("/")))
    [first] = r.refresh()
    assert first.new == 4 and first.skipped == 0, first
    assert stored(r) == page_urls(site, names)
    for path in ("/category-sitemap.xml", "/about-us/", "/tag/kharkiv/",
                 f"/news/{slug(NAMES[9])}"):
        assert site.hits(path) == 0, path

    [second] = r.refresh()
    assert second.outcome == "unchanged", second
    index_req = [h for p, h in site.requests if p == "/sitemap_index.xml"][-1]
    assert index_req.get("If-None-Match") == '"idx-1"'
    assert site.hits("/post-sitemap.xml") == 1  # the index answered 304


def test_site_falls_back_to_article_links_on_the_page(site: TestServer, tmp_path: Path,
                                                      store_for) -> None:
    names = serve_sample_site(site, NAMES[4:10])  # includes 07, whose JSON-LD is broken
    a, b, c, d, e, f = (slug(n) for n in names)

    def home(extra: str = "") -> str:
        return f"""<!DOCTYPE html><html><head><title>Sample News</title>
<link rel="stylesheet" href="/static/site.css"></head><body>
<header class="site"><a href="/">Logo</a><nav><a href="/news/">News</a>
  <a href="/news/{f}">Pinned in the menu</a></nav></header>
<main>
  <article><header><h2><a href="/news/{a}?utm_source=home#top">A</a></h2></header></article>
  <article><h2><a href="{site.base}/news/{b}">B</a></h2>
    <a href="/tag/kharkiv">Kharkiv</a> <a href="/category/politics">Politics</a>
    <a href="/author/newsroom">Newsroom</a></article>
  <div class="teaser"><a href="/news/{c}">C</a><img src="/img/c.jpg"></div>
  <ul><li><a href="/news/{d}">D</a></li>{extra}</ul>
  <a href="/static/img/photo-of-the-day.jpg">Photo</a>
  <a href="https://elsewhere.example/news/another-site-story">Elsewhere</a>
  <a href="/about">About</a> <a href="/uk/">Українською</a> <a href="/page/2">More</a>
</main>
<footer><a href="/news/{f}">Also pinned</a><a href="/privacy/policy-terms-of-use">Privacy</a>
</footer></body></html>"""

    site.add("/", home(), headers={"ETag": '"home-1"'})
    r = refresher(tmp_path, store_for, source("site", site.url("/")))
    [first] = r.refresh()
    assert first.new == 4 and first.skipped == 0, first
    assert stored(r) == {f"{site.base}/news/{s}" for s in (a, b, c, d)}
    requested = {p for p, _ in site.requests}
    assert requested == {"/", "/robots.txt"} | {f"/news/{s}" for s in (a, b, c, d)}
    broken = next(x for x in r.store.latest(10) if x.url.endswith(slug(NAMES[6])))
    assert broken.title == EXPECTED[NAMES[6]]["title"]  # malformed JSON-LD, still stored
    assert broken.published == datetime.fromisoformat(EXPECTED[NAMES[6]]["published"])

    # Same home page: one conditional request, nothing else.
    count = len(site.requests)
    [second] = r.refresh()
    assert second.outcome == "unchanged", second
    assert [p for p, _ in site.requests[count:]] == ["/"]
    assert site.requests[count][1].get("If-None-Match") == '"home-1"'

    # A changed home page with one new story: only that one is fetched.
    site.add("/", home(f'<li><a href="/news/{e}">E</a></li>'), headers={"ETag": '"home-2"'})
    count = len(site.requests)
    [third] = r.refresh()
    assert third.new == 1, third
    assert [p for p, _ in site.requests[count:] if p.startswith("/news/")] == [f"/news/{e}"]


def test_site_with_nothing_to_read_is_a_clear_error(site: TestServer, tmp_path: Path,
                                                    store_for) -> None:
    site.add("/", "<html><head><title>Parked</title></head><body><p>Soon</p>"
                  '<a href="/about">About</a></body></html>')
    r = refresher(tmp_path, store_for, source("site", site.url("/")))
    [result] = r.refresh()
    assert result.outcome == "error"
    assert "no feed link, no robots.txt sitemap" in (result.error or "")


@pytest.mark.parametrize(("path", "expected"), [
    ("/news/some-story", True),
    ("/2026/11/24/story", True),
    ("/kyiv-metro-extends-night-service", True),
    ("/123456", True),
    ("/world/europe/story-123456.html", True),
    ("/uk/news/kyiv-story", True),
    ("/", False),
    ("/news/", False),
    ("/about", False),
    ("/about-us", False),
    ("/uk/economy", False),
    ("/2026", False),
    ("/tag/kharkiv", False),
    ("/category/world/europe", False),
    ("/author/jane-doe-smith", False),
    ("/static/img/big-photo-of-day.jpg", False),
    ("/files/annual-report-2026.pdf", False),
    ("/page/2", False),
])
def test_article_url_heuristic(path: str, expected: bool) -> None:
    home = "https://news.example/"
    assert looks_like_article(f"https://news.example{path}", home) is expected
    assert looks_like_article(f"https://www.news.example{path}", home) is expected
    assert not looks_like_article(f"https://other.example{path}", home)

