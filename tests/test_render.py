"""Feed documents as the W3C Feed Validation Service reads them, beyond what the RELAX NG
and JSON schemas see: feed-level authors, bare ``media:content``, ordered dates, OPML
outlines; and the validators themselves, which ship with the tests."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import feedcheck
import pytest
from feedcheck import parse_ok
from flask.testing import FlaskClient
from lxml import etree

from feedsvc import render
from feedsvc.render import FeedDoc
from feedsvc.types import Article

TESTS = Path(__file__).resolve().parent


def test_validators_ship_with_the_tests() -> None:
    """A clone with nothing beside it has every schema the validators read, and no test
    reads files outside the repository (a team folder, the machine's /etc)."""
    assert feedcheck.SCHEMAS.resolve().parent == TESTS
    for name in ("atom.rnc", "jsonfeed-1.schema.json", "jsonfeed-1.1.schema.json"):
        assert (feedcheck.SCHEMAS / name).is_file(), name
    outside = re.compile(r"""\.\./[s]hared|"[s]hared"|(Path|open)\(\s*['"]/etc/""")
    for path in TESTS.glob("*.py"):
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            assert not outside.search(line), f"{path.name}:{n}: {line.strip()}"


def test_every_imported_package_is_a_declared_dependency() -> None:
    """A clone installs what feedsvc imports: every third-party module imported anywhere
    in feedsvc/ comes from a distribution pinned in pyproject.toml's dependencies."""
    root = TESTS.parent
    declared = {_dist(d) for d in tomllib.loads((root / "pyproject.toml").read_text(
        "utf-8"))["project"]["dependencies"]}
    modules: dict[str, str] = {}
    for path in sorted((root / "feedsvc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                     and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "feedsvc":
                    modules.setdefault(top, str(path.relative_to(root)))
    providers = packages_distributions()
    missing = {m: where for m, where in modules.items()
               if not {_dist(d) for d in providers.get(m, [m])} & declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def _dist(requirement: str) -> str:
    """PEP 503 name of a requirement string (``psycopg[binary]==3.3.9`` -> ``psycopg``)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


# -- the validator's rules, checked on documents built to break them ----------------
def _atom(feed_author: str = "", entry: str = "", updated: str = "2026-11-02T00:00:00Z") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
 <id>urn:x:feed</id><title>t</title><updated>{updated}</updated>{feed_author}
 <entry><id>urn:x:1</id><title>e</title><updated>2026-11-01T12:00:00Z</updated>
  <published>2026-11-01T10:00:00Z</published>{entry}</entry>
</feed>""".encode()


def test_feedcheck_enforces_the_atom_rules_the_schema_cannot() -> None:
    author = "<author><name>Service</name></author>"
    feedcheck.atom_rules(_atom(feed_author=author))
    feedcheck.atom_rules(_atom(entry=author))
    with pytest.raises(AssertionError, match="Missing entry element: author"):
        feedcheck.atom_rules(_atom())
    one = '<media:group><media:content url="http://x.example/i.jpg"/></media:group>'
    with pytest.raises(AssertionError, match="bare media:content"):
        feedcheck.atom_rules(_atom(feed_author=author, entry=one))
    two = one.replace("</media:group>", '<media:content url="http://x.example/j.jpg"/>'
                      "</media:group>")
    feedcheck.atom_rules(_atom(feed_author=author, entry=two))
    with pytest.raises(AssertionError, match="later than the feed's"):
        feedcheck.atom_rules(_atom(feed_author=author, updated="2026-11-01T11:00:00Z"))
    late = _atom(feed_author=author).replace(b"T10:00:00Z</published>",
                                             b"T13:00:00Z</published>")
    with pytest.raises(AssertionError, match="published .* is later than updated"):
        feedcheck.atom_rules(late)


def test_feedcheck_enforces_rss_json_and_opml_rules() -> None:
    rss = b"""<rss version="2.0"><channel><title>t</title><link>http://x.example/</link>
<description>d</description>%s<lastBuildDate>Sun, 01 Nov 2026 12:00:00 +0000</lastBuildDate>
<item><guid>g</guid><pubDate>%s</pubDate></item></channel></rss>"""
    feedcheck.rss_rules(rss % (b"", b"Sun, 01 Nov 2026 11:00:00 +0000"))
    with pytest.raises(AssertionError, match="later than lastBuildDate"):
        feedcheck.rss_rules(rss % (b"", b"Sun, 01 Nov 2026 13:00:00 +0000"))
    with pytest.raises(AssertionError, match="not an e-mail"):
        feedcheck.rss_rules(rss % (b"<managingEditor>Service</managingEditor>",
                                   b"Sun, 01 Nov 2026 11:00:00 +0000"))
    item = {"id": "1", "date_published": "2026-11-01T12:00:00Z",
            "date_modified": "2026-11-01T11:00:00Z"}
    with pytest.raises(AssertionError, match="date_published .* is later"):
        feedcheck.json_rules({"authors": [{"name": "S"}], "items": [item]})
    with pytest.raises(AssertionError, match="has no author"):
        feedcheck.json_rules({"items": [item | {"date_modified": item["date_published"]}]})
    opml = ('<opml version="2.0"><head><title>t</title></head><body>'
            '<outline text="All" type="rss" xmlUrl="http://x.example/f" %s/></body></opml>')
    feedcheck.opml_rules((opml % 'title="All" htmlUrl="http://x.example/"').encode())
    with pytest.raises(AssertionError, match="without htmlUrl"):
        feedcheck.opml_rules((opml % 'title="All"').encode())
    with pytest.raises(AssertionError, match="without title"):
        feedcheck.opml_rules((opml % 'htmlUrl="http://x.example/"').encode())


# -- render: feed-level author, bare media:content ----------------------------------
T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _article(**kw: Any) -> Article:
    fields: dict[str, Any] = dict(
        id=1, guid="https://news.example/a", url="https://news.example/a", source_id="s",
        title="A story", summary="Summary.", content_html="<p>Body.</p>", authors=(),
        published=T, updated=T + timedelta(hours=1), first_seen=T, image=None,
        image_width=None, image_height=None, language=None, categories=(), tags=())
    return Article(**(fields | kw))


def _doc(*articles: Article, **kw: Any) -> FeedDoc:
    return FeedDoc(title="News archive: Energy", subtitle="", self_url="http://h/feeds/x.atom",
                   feed_id="http://h/feeds/x.atom", alternate_url="http://h/",
                   articles=articles, **kw)


def test_every_feed_has_a_feed_level_author_covering_entries_without_byline() -> None:
    doc = _doc(_article(), _article(id=2, guid="g2", url="https://news.example/b",
                                    authors=("Olena Petrenko",)),
               author="News archive")
    feed = etree.fromstring(render.atom(doc))
    [author] = feed.findall(f"{feedcheck.ATOM}author")
    assert author.findtext(f"{feedcheck.ATOM}name") == "News archive"
    assert author.findtext(f"{feedcheck.ATOM}uri") == "http://h/"
    entries = feed.findall(f"{feedcheck.ATOM}entry")
    assert [e.findtext(f"{feedcheck.ATOM}author/{feedcheck.ATOM}name") for e in entries] == [
        None, "Olena Petrenko"]
    feedcheck.atom_rules(render.atom(doc))
    # RSS wants an e-mail in managingEditor: none is invented.
    rss = render.rss(doc)
    feedcheck.rss_rules(rss)
    assert b"managingEditor" not in rss and b"<dc:creator>Olena Petrenko" in rss
    out = feedcheck.json_feed_valid(render.json_feed(doc))
    assert out["authors"] == [{"name": "News archive", "url": "http://h/"}]
    # Without an author of its own, a feed is authored under its title.
    untitled = etree.fromstring(render.atom(_doc(_article())))
    assert untitled.findtext(f"{feedcheck.ATOM}author/{feedcheck.ATOM}name") == (
        "News archive: Energy")


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_one_lead_image_is_a_bare_media_content(fmt: str) -> None:
    body = render.RENDERERS[fmt](_doc(_article(image="https://news.example/i.jpg",
                                               image_width=1200, image_height=675)))
    root = etree.fromstring(body)
    assert not list(root.iter(f"{feedcheck.MEDIA}group"))
    [content] = root.iter(f"{feedcheck.MEDIA}content")
    assert content.getparent().tag in (f"{feedcheck.ATOM}entry", "item")
    assert dict(content.attrib) == {"url": "https://news.example/i.jpg", "medium": "image",
                                    "width": "1200", "height": "675"}
    feedcheck.media_rules(root)


# -- the sample archive: digest dates, OPML (client: conftest) -----------------------
def test_digest_entries_are_dated_by_their_day_s_articles(client: FlaskClient) -> None:
    """published (the day's newest article) <= updated (its newest change) <= the
    feed's updated; never the end of the day, which is later than all of them."""
    feed = etree.fromstring(client.get("/feeds/digest.atom").data)
    feed_updated = datetime.fromisoformat(feed.findtext(f"{feedcheck.ATOM}updated") or "")
    entries = feed.findall(f"{feedcheck.ATOM}entry")
    assert len(entries) == 7
    for e in entries:
        day = (e.findtext(f"{feedcheck.ATOM}id") or "").rsplit("/", 1)[1]
        arts = [a for a in parse_ok(client.get(f"/feeds/day/{day}.atom").data).entries]
        published = datetime.fromisoformat(e.findtext(f"{feedcheck.ATOM}published") or "")
        updated = datetime.fromisoformat(e.findtext(f"{feedcheck.ATOM}updated") or "")
        assert published == max(datetime.fromisoformat(a.published) for a in arts)
        assert updated == max(datetime.fromisoformat(a.updated) for a in arts)
        assert published <= updated <= feed_updated
    for fmt in ("rss", "json"):
        body = client.get(f"/feeds/digest.{fmt}").data
        parse_ok(body) if fmt == "rss" else feedcheck.json_feed_valid(body)


def test_opml_lists_every_feed_with_title_and_html_url(client: FlaskClient) -> None:
    opml = feedcheck.opml_rules(client.get("/feeds.opml").data)
    feeds = {o.get("xmlUrl"): o for o in opml.iter("outline") if o.get("type") == "rss"}
    everything = feeds["http://localhost/feeds/all.atom"]
    assert everything.get("title") == everything.get("text") == "All articles"
    assert everything.get("htmlUrl") == "http://localhost/"
    digest = feeds["http://localhost/feeds/digest.atom"]
    assert digest.get("title") and digest.get("htmlUrl") == "http://localhost/"
    for url in feeds:
        r = client.get(url.removeprefix("http://localhost"))
        assert r.status_code == 200, url
        parse_ok(r.data)
