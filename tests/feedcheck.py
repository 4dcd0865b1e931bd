"""Validators for served feeds: feedparser (bozo), jing + atom.rnc, JSON Feed schema, and
the rules the W3C Feed Validation Service enforces beyond those schemas.

The schemas are copies kept in ``tests/schemas/`` (see its README for their sources), so a
clone of the repository validates with nothing beside it. The rules (:func:`atom_rules`,
:func:`rss_rules`, :func:`json_rules`, :func:`opml_rules`) are checked by
:func:`parse_ok` and :func:`json_feed_valid` on every feed the tests fetch from feedsvc:

- every ``atom:entry`` has an ``atom:author`` or the feed has one (RFC 4287 §4.1.1);
- a ``media:group`` holds more than one ``media:content`` (one is a bare
  ``media:content``);
- dates are ordered: entry ``published`` <= entry ``updated`` <= feed ``updated``
  (Atom); item ``pubDate`` <= ``lastBuildDate`` (RSS); ``date_published`` <=
  ``date_modified`` (JSON Feed);
- RSS ``managingEditor`` is an e-mail address;
- every OPML outline has ``text``; one of ``type="rss"`` has ``title``, ``xmlUrl`` and
  ``htmlUrl`` too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import jsonschema
import pytest
from lxml import etree

SCHEMAS = Path(__file__).resolve().parent / "schemas"
ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"


def parse_ok(body: bytes) -> feedparser.FeedParserDict:
    """Parse a served Atom or RSS feed: well-formed (no bozo) and within the rules."""
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    if parsed.version.startswith("atom"):
        atom_rules(body)
    elif parsed.version.startswith("rss"):
        rss_rules(body)
    return parsed


def _xml(body: bytes) -> etree._Element:
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))


def _iso(text: str | None, what: str) -> datetime:
    assert text, f"missing {what}"
    when = datetime.fromisoformat(text.strip())
    assert when.tzinfo is not None, f"{what} without a time zone: {text}"
    return when


def _rfc822(text: str | None, what: str) -> datetime:
    assert text, f"missing {what}"
    return parsedate_to_datetime(text.strip())


def media_rules(root: etree._Element) -> None:
    """No ``media:group`` with fewer than two ``media:content`` (Atom and RSS)."""
    for group in root.iter(f"{MEDIA}group"):
        n = len(group.findall(f"{MEDIA}content"))
        assert n > 1, f"media:group with {n} media:content: use a bare media:content"


def atom_rules(body: bytes) -> None:
    """RFC 4287's author rule, bare ``media:content``, ordered dates (one Atom feed)."""
    feed = _xml(body)
    assert feed.tag == f"{ATOM}feed", feed.tag
    feed_updated = _iso(feed.findtext(f"{ATOM}updated"), "feed updated")
    feed_author = feed.find(f"{ATOM}author") is not None
    for author in feed.iter(f"{ATOM}author"):
        assert (author.findtext(f"{ATOM}name") or "").strip(), "atom:author without a name"
    for entry in feed.iterfind(f"{ATOM}entry"):
        ident = entry.findtext(f"{ATOM}id")
        assert feed_author or entry.find(f"{ATOM}author") is not None, (
            f"Missing entry element: author (entry {ident}, and no feed-level author)")
        updated = _iso(entry.findtext(f"{ATOM}updated"), f"updated of {ident}")
        published = entry.findtext(f"{ATOM}published")
        if published is not None:
            assert _iso(published, f"published of {ident}") <= updated, (
                f"entry {ident}: published {published} is later than updated {updated}")
        assert updated <= feed_updated, (
            f"entry {ident}: updated {updated} is later than the feed's {feed_updated}")
    media_rules(feed)


def rss_rules(body: bytes) -> None:
    """Bare ``media:content``, an e-mail ``managingEditor``, pubDate <= lastBuildDate."""
    rss = _xml(body)
    channel = rss.find("channel")
    assert rss.tag == "rss" and channel is not None, rss.tag
    editor = channel.findtext("managingEditor")
    assert editor is None or "@" in editor, f"managingEditor is not an e-mail: {editor}"
    built = channel.findtext("lastBuildDate")
    last = _rfc822(built, "lastBuildDate") if built is not None else None
    for item in channel.iterfind("item"):
        pub = item.findtext("pubDate")
        if pub is not None and last is not None:
            assert _rfc822(pub, "pubDate") <= last, (
                f"item {item.findtext('guid')}: pubDate {pub} is later than "
                f"lastBuildDate {built}")
    media_rules(channel)


def json_rules(doc: dict) -> None:
    """JSON Feed: each item is covered by authors (its own or the feed's) with a name,
    and its ``date_published`` is not later than its ``date_modified``."""
    for author in doc.get("authors", []) + [a for i in doc["items"]
                                            for a in i.get("authors", [])]:
        assert author.get("name"), f"author without a name: {author}"
    for item in doc["items"]:
        assert doc.get("authors") or item.get("authors"), f"item {item['id']} has no author"
        if "date_published" in item and "date_modified" in item:
            published = _iso(item["date_published"], "date_published")
            modified = _iso(item["date_modified"], "date_modified")
            assert published <= modified, (
                f"item {item['id']}: date_published {published} is later than "
                f"date_modified {modified}")


def opml_rules(body: bytes) -> etree._Element:
    """OPML 2.0 subscription list: every outline has ``text``; a feed (``type="rss"``)
    has ``title``, ``xmlUrl`` and ``htmlUrl`` too. Returns the parsed document."""
    opml = _xml(body)
    assert opml.tag == "opml" and opml.get("version") == "2.0", opml.tag
    assert (opml.findtext("head/title") or "").strip(), "OPML without a head/title"
    for outline in opml.iter("outline"):
        assert (outline.get("text") or "").strip(), f"outline without text: {outline.attrib}"
        if outline.get("type") == "rss":
            for attr in ("title", "xmlUrl", "htmlUrl"):
                assert (outline.get(attr) or "").strip(), (
                    f"rss outline {outline.get('text')!r} without {attr}")
    return opml


def need_jing() -> str:
    jing = shutil.which("jing")
    if jing is None:
        if os.environ.get("CI"):
            pytest.fail("jing is not installed (.ci/run installs it)")
        pytest.skip("jing not installed (apt-get install jing)")
    return jing


def atom_valid(*bodies: bytes) -> None:
    """Validate Atom documents against tests/schemas/atom.rnc with jing (one run), and
    against the rules the schema cannot express."""
    for body in bodies:
        atom_rules(body)
    jing = need_jing()
    schema = SCHEMAS / "atom.rnc"
    assert schema.exists(), f"missing {schema}"
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, body in enumerate(bodies):
            p = Path(tmp) / f"feed{i}.atom"
            p.write_bytes(body)
            files.append(str(p))
        proc = subprocess.run([jing, "-c", str(schema), *files], capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def json_feed_valid(body: bytes) -> dict:
    """Validate against JSON Feed 1.1 (whose $refs point into the 1.0 schema)."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    v1 = json.loads((SCHEMAS / "jsonfeed-1.schema.json").read_text("utf-8"))
    v11 = json.loads((SCHEMAS / "jsonfeed-1.1.schema.json").read_text("utf-8"))
    registry = Registry().with_resources([
        (uri, Resource.from_contents(v1, default_specification=DRAFT4))
        for uri in ("feed-1", "https://json.schemastore.org/feed-1")
    ])
    doc = json.loads(body)
    jsonschema.Draft4Validator(v11, registry=registry).validate(doc)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    json_rules(doc)
    return doc
