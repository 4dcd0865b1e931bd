"""Sitemaps: the documents (:mod:`feedsvc.sources.sitemapdoc`) and the ``sitemap``
source kind against a real HTTP server on 127.0.0.1: urlsets, Google News sitemaps,
indexes (gzipped children), a 50,000-URL sitemap, malformed and hostile (XXE)
sitemaps, and the page's canonical URL as the article's identity."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import EXPECTED, TestServer, serve_sample_site, slug
from kinds import NAMES, NS, page_hits, page_urls, refresher, source, stored, url_entry, urlset

from feedsvc.sources import MAX_NEW


# -- sitemap --------------------------------------------------------------------------
def test_sitemap_urlset_stores_pages_and_rereads_conditionally(site: TestServer, tmp_path: Path,
                                                              store_for) -> None:
    names = serve_sample_site(site, NAMES[:5])
    items = [url_entry(f"{site.base}/news/{slug(n)}", EXPECTED[n]["published"]) for n in names]
    site.add("/sitemap.xml", urlset(items), ctype="application/xml",
             headers={"ETag": '"sm-1"'})
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml")))
    [first] = r.refresh()
    assert first.outcome == "new" and first.new == 5, first
    assert stored(r) == page_urls(site, names)
    art = next(a for a in r.store.latest(10) if a.url.endswith(slug(names[0])))
    assert art.title == EXPECTED[names[0]]["title"] and "<p>" in art.content_html

    pages = len(page_hits(site))
    [second] = r.refresh()
    assert second.outcome == "unchanged", second
    assert site.requests[-1] == ("/sitemap.xml", site.requests[-1][1])
    assert site.requests[-1][1].get("If-None-Match") == '"sm-1"'
    assert len(page_hits(site)) == pages  # nothing fetched again
    assert r.store.source_state("src").not_modified == 1


def test_text_sitemap_is_one_url_a_line(site: TestServer, tmp_path: Path, store_for) -> None:
    names = serve_sample_site(site, NAMES[:2])
    site.add("/sitemap.txt", "\n".join(sorted(page_urls(site, names))) + "\n",
             ctype="text/plain")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.txt")))
    [result] = r.refresh()
    assert result.new == 2 and stored(r) == page_urls(site, names)


def test_news_sitemap_fills_in_what_the_page_lacks(site: TestServer, tmp_path: Path,
                                                  store_for) -> None:
    dated, undated, naive = NAMES[0], NAMES[28], NAMES[29]  # 29 and 30 carry no date
    serve_sample_site(site, [dated, undated, naive])

    def news(when: str, title: str, keywords: str = "") -> str:
        return (f"<news:news><news:publication><news:name>Sample</news:name>"
                f"<news:language>en</news:language></news:publication>"
                f"<news:publication_date>{when}</news:publication_date>"
                f"<news:title>{title}</news:title>"
                f"<news:keywords>{keywords}</news:keywords></news:news>")

    site.add("/news-sitemap.xml", urlset([
        url_entry(f"{site.base}/news/{slug(dated)}",
             news="" + news("2026-11-01T00:00:00Z", "Sitemap title")),
        url_entry(f"{site.base}/news/{slug(undated)}",
             news=news("2026-11-24T18:30:00+02:00", "Bookshops", "Books, Kyiv , ")
             + f"<image:image><image:loc>{site.base}/img/shop.jpg</image:loc></image:image>"),
        url_entry(f"{site.base}/news/{slug(naive)}",
             news=news("2026-11-24T12:00:00", "Park")),  # no offset: the source's zone
    ]), ctype="application/xml")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/news-sitemap.xml")))
    [result] = r.refresh()
    assert result.new == 3, result
    arts = {a.url.rsplit("/", 1)[1]: a for a in r.store.latest(10)}

    own = arts[slug(dated)]  # the page's own values win
    assert own.published == datetime.fromisoformat(EXPECTED[dated]["published"])
    assert own.title == EXPECTED[dated]["title"]

    filled = arts[slug(undated)]  # no date on the page: the sitemap's publication date
    assert filled.published == datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
    assert filled.title == EXPECTED[undated]["title"]
    assert filled.tags == ("Books", "Kyiv")
    assert filled.image == f"{site.base}/img/shop.jpg"
    assert arts[slug(naive)].published == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Kyiv


def test_sitemap_index_follows_children_including_gzipped(site: TestServer, tmp_path: Path,
                                                         store_for) -> None:
    names = serve_sample_site(site, NAMES[:6])
    plain, zipped = names[:3], names[3:]
    site.add("/sitemaps/a.xml", urlset([url_entry(f"{site.base}/news/{slug(n)}") for n in plain]),
             ctype="application/xml")
    site.add("/sitemaps/b.xml.gz", gzip.compress(urlset(
        [url_entry(f"{site.base}/news/{slug(n)}") for n in zipped]).encode()),
             ctype="application/x-gzip")
    site.add("/sitemap-index.xml", f'<?xml version="1.0"?><sitemapindex {NS}>'
             f"<sitemap><loc>{site.base}/sitemaps/a.xml</loc>"
             "<lastmod>2026-11-20</lastmod></sitemap>"
             "<sitemap><loc>/sitemaps/b.xml.gz</loc><lastmod>2026-11-24</lastmod></sitemap>"
             f"<sitemap><loc>{site.base}/sitemaps/missing.xml</loc></sitemap>"
             "</sitemapindex>", ctype="application/xml")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap-index.xml")))
    [result] = r.refresh()
    assert result.new == 6 and stored(r) == page_urls(site, names)
    # A missing child is noted, not fatal; the newest child was read first.
    assert result.skipped == 1 and "missing.xml" in (result.error or "")
    order = [p for p, _ in site.requests if p.startswith("/sitemaps/")]
    assert order == ["/sitemaps/b.xml.gz", "/sitemaps/a.xml", "/sitemaps/missing.xml"]


def test_gzip_bomb_is_capped_at_max_bytes(site: TestServer, tmp_path: Path,
                                          store_for) -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 3_000_000 + b"</urlset>")
    assert len(bomb) < 10_000
    site.add("/sitemap.xml.gz", bomb, ctype="application/x-gzip")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml.gz")),
                   fetch='max_bytes = "1MB"')
    [result] = r.refresh()
    assert result.outcome == "error" and "exceeds max_bytes" in (result.error or "")


def _tiny_page(base: str, i: int, when: datetime) -> bytes:
    return (f'<!DOCTYPE html><html lang="en"><head><title>Story {i}</title>'
            f'<link rel="canonical" href="{base}/a/story-{i}"></head><body><article>'
            f'<h1>Story number {i}</h1><time datetime="{when.isoformat()}">x</time>'
            f'<div class="body"><p>Body of story {i}.</p></div></article></body></html>'
            ).encode()


def test_huge_sitemap_fetches_only_the_newest_batch(site: TestServer, tmp_path: Path,
                                                    store_for) -> None:
    # The test server writes headers and body separately; without TCP_NODELAY each of
    # the 400 page requests waits ~40 ms for a delayed ACK (a test-server artifact).
    site.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    total = 50_000
    start = datetime(2026, 10, 1, tzinfo=UTC)
    when = [start + timedelta(minutes=i) for i in range(total)]
    # Oldest first in the document: the reader must sort, not take the head.
    body = urlset([url_entry(f"{site.base}/a/story-{i}", when[i].strftime("%Y-%m-%dT%H:%M:%SZ"))
                    for i in range(total)]).encode()
    site.add("/sitemap.xml", body, ctype="application/xml", headers={"ETag": '"big-1"'})
    for i in range(total - 2 * MAX_NEW, total):
        site.add(f"/a/story-{i}", _tiny_page(site.base, i, when[i]))
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml"),
                                                '[source.select]\ncontent = ".body"'),
                   fetch='max_bytes = "20MB"')

    started = time.monotonic()
    [first] = r.refresh()
    took = time.monotonic() - started
    assert first.new == MAX_NEW and first.skipped == 0, first
    newest = {f"{site.base}/a/story-{i}" for i in range(total - MAX_NEW, total)}
    assert stored(r) == newest
    assert sum(1 for p, _ in site.requests if p.startswith("/a/")) == MAX_NEW
    assert took < 30, f"{took:.1f}s"  # a few seconds here; generous for slow machines

    # Not caught up: no validators kept, so the next refresh reads it all and backfills.
    assert r.store.source_state("src").validators is None
    [second] = r.refresh()
    assert second.new == MAX_NEW
    assert site.requests[-MAX_NEW - 1][1].get("If-None-Match") is None
    assert r.store.count_articles() == 2 * MAX_NEW
    assert sum(1 for p, _ in site.requests if p.startswith("/a/")) == 2 * MAX_NEW


MALFORMED = [
    ("<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</body></html>",
     "text/html", "HTML page"),
    ("<html><head><title>Home</title></head><body><p>Hi</p></body></html>",
     "text/html", "root element <html> (an HTML page?)"),
    ('<?xml version="1.0"?><urlset><url><loc>http://x/a</loc></url', "application/xml",
     "malformed XML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe", "image/png", "neither XML nor"),
    ('<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "application/xml",
     "root element <rss>"),
    (b"\x1f\x8b\x08\x00broken-gzip", "application/x-gzip", "corrupt gzip"),
]


def test_malformed_sitemap_is_a_clear_error_and_loses_nothing(site: TestServer, tmp_path: Path,
                                                             store_for) -> None:
    names = serve_sample_site(site, NAMES[:3])
    site.add("/sitemap.xml", urlset([url_entry(u) for u in sorted(page_urls(site, names))]),
             ctype="application/xml")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml")))
    assert r.refresh()[0].new == 3

    for n, (body, ctype, message) in enumerate(MALFORMED, 1):
        site.add("/sitemap.xml", body, ctype=ctype)
        [broken] = r.refresh()
        assert broken.outcome == "error", broken
        assert "not a sitemap" in (broken.error or "") and message in (broken.error or "")
        state = r.store.source_state("src")
        assert message in (state.last_error or "") and state.failures == n
        assert r.store.count_articles() == 3


def test_xxe_and_entity_tricks_leak_nothing(site: TestServer, tmp_path: Path,
                                            store_for) -> None:
    secret_file = tmp_path / "secret.txt"  # a local file the entity points at
    secret = "local-file-secret-5be1e0"
    secret_file.write_text(secret + "\n", "utf-8")
    site.add("/secret", "TOP-SECRET-FROM-SSRF", ctype="text/plain")
    [name] = serve_sample_site(site, [NAMES[28]])
    site.add("/sitemap.xml", f"""<?xml version="1.0"?>
<!DOCTYPE urlset [
  <!ENTITY xxe SYSTEM "{secret_file.as_uri()}">
  <!ENTITY ssrf SYSTEM "{site.base}/secret">
  <!ENTITY lol "lollollollollollollollollollol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<urlset {NS}>
  <url><loc>{site.base}/news/&xxe;</loc></url>
  <url><loc>{site.base}/news/&ssrf;</loc></url>
  <url><loc>{site.base}/news/{slug(name)}</loc><news:news>
    <news:publication_date>2026-11-24T10:00:00Z</news:publication_date>
    <news:title>&xxe;&lol3;</news:title><news:keywords>&ssrf;</news:keywords>
  </news:news></url>
</urlset>""", ctype="application/xml")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml")))
    [result] = r.refresh()
    assert result.new == 1, result
    assert site.hits("/secret") == 0  # no request made by the XML parser
    assert [p for p, _ in site.requests if p.startswith("/news/")] == [f"/news/{slug(name)}"]
    [art] = r.store.latest(10)
    text = repr(art)
    assert secret not in text and "TOP-SECRET" not in text and "lollol" not in text
    assert art.title == EXPECTED[name]["title"] and art.tags == ()


def test_article_with_malformed_jsonld_is_still_stored(site: TestServer, tmp_path: Path,
                                                       store_for) -> None:
    site.add("/news/broken-json-ld-story", f"""<!DOCTYPE html><html lang="en"><head>
<title>Broken JSON-LD story | Sample</title>
<link rel="canonical" href="{site.base}/news/broken-json-ld-story">
<meta property="article:published_time" content="2026-11-23T09:00:00+02:00">
<script type="application/ld+json">{{"@context": "https://schema.org",
 "@type": "NewsArticle", "headline": "Never closed", "datePublished": </script>
</head><body><article><h1>Broken JSON-LD story</h1>
<p>The structured data of this page is cut off, the article is not.</p></article>
</body></html>""")
    site.add("/sitemap.xml", urlset([url_entry(f"{site.base}/news/broken-json-ld-story")]),
             ctype="application/xml")
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml")))
    [result] = r.refresh()
    assert result.new == 1 and result.skipped == 0, result
    [art] = r.store.latest(10)
    assert art.title == "Broken JSON-LD story"
    assert art.published == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert "cut off" in art.content_html




# -- identity: the page's canonical URL decides ------------------------------------------
def test_sitemap_urls_do_not_override_the_pages_canonical_identity(
        site: TestServer, tmp_path: Path, store_for) -> None:  # noqa: ANN001
    when = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    for i in range(3):  # the server answers /a/story-i whatever the query
        site.add(f"/a/story-{i}", _tiny_page(site.base, i, when + timedelta(hours=i)))
    site.add("/sitemap.xml", urlset([url_entry(f"{site.base}/a/story-{i}?src=sitemap")
                                      for i in range(3)]), ctype="application/xml")
    site.add("/latest", "".join(f'<article><h2><a href="/a/story-{i}">S</a></h2></article>'
                                for i in range(3)))
    r = refresher(tmp_path, store_for, source("sitemap", site.url("/sitemap.xml")) + f"""
        [[source]]
        id = "listing"
        kind = "html"
        url = "{site.url('/latest')}"
        links = "article h2 a"
        """)
    results = r.refresh()
    assert [x.new for x in results] == [3, 0], results
    canonical = {f"{site.base}/a/story-{i}" for i in range(3)}
    arts = r.store.latest(10)
    assert {a.url for a in arts} == canonical and {a.guid for a in arts} == canonical
    assert r.store.count_articles() == 3  # one article a story, in both sources' feeds
    assert len(r.store.latest(10, source="src")) == len(r.store.latest(10, source="listing")) == 3

    # The listed URLs are known now: a changed sitemap fetches no page again.
    pages = len([p for p, _ in site.requests if p.startswith("/a/")])
    site.add("/sitemap.xml", urlset([url_entry(f"{site.base}/a/story-{i}?src=sitemap",
                                           "2026-11-25") for i in range(3)]),
             ctype="application/xml")
    assert [x.outcome for x in r.refresh()] == ["unchanged", "unchanged"]
    assert len([p for p, _ in site.requests if p.startswith("/a/")]) == pages
    assert r.store.count_articles() == 3


# -- documents ------------------------------------------------------------------------------
def test_sitemap_documents_parse_to_entries_and_children() -> None:
    from zoneinfo import ZoneInfo

    from feedsvc.sources import sitemapdoc

    kyiv = ZoneInfo("Europe/Kyiv")
    doc = sitemapdoc.parse(urlset([
        url_entry("https://n.example/a?utm_source=x", "2026-11-20T10:00:00"),
        url_entry("https://n.example/b", news="<news:news><news:publication_date>2026-11-21"
             "T10:00:00Z</news:publication_date><news:title>B &amp; C</news:title>"
             "<news:keywords>x, y</news:keywords></news:news>"),
        url_entry("https://n.example/c")]).encode(), "https://n.example/s.xml", tz=kyiv,
        max_bytes=10**6)
    assert not doc.is_index
    a, b, c = doc.entries
    assert a.url == "https://n.example/a" and a.lastmod == datetime(2026, 11, 20, 8,
                                                                     tzinfo=UTC)
    assert (b.title, b.keywords, b.when) == ("B & C", ("x", "y"),
                                             datetime(2026, 11, 21, 10, tzinfo=UTC))
    assert [e.url for e in sitemapdoc.newest_first([a, b, c])] == [b.url, a.url, c.url]

    index = sitemapdoc.parse(gzip.compress(
        f'<?xml version="1.0"?><sitemapindex {NS}><sitemap><loc>/old.xml</loc>'
        "<lastmod>2026-01-01</lastmod></sitemap><sitemap><loc>/new.xml</loc>"
        "<lastmod>2026-11-01</lastmod></sitemap></sitemapindex>".encode()),
        "https://n.example/index.xml", tz=kyiv, max_bytes=10**6)
    assert index.is_index
    assert [c.url for c in sitemapdoc.children_newest_first(index.children)] == [
        "https://n.example/new.xml", "https://n.example/old.xml"]

    text = sitemapdoc.parse(b"https://n.example/x\n\nhttps://n.example/y\n",
                            "https://n.example/s.txt", tz=kyiv, max_bytes=10**6)
    assert [e.url for e in text.entries] == ["https://n.example/x", "https://n.example/y"]
