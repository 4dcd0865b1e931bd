"""``feedsvc try``: what feedsvc would store from one page or one source, stored nowhere.

Owns the dry run: one article page fetched exactly as a refresh fetches it (the same
:class:`~feedsvc.fetch.Fetcher`, User-Agent, robots.txt and limits, through
:func:`feedsvc.sources.pages.get_page`) and extracted by :func:`feedsvc.extract.
extract_page`, summarized as a :class:`PageTrial`: the stored fields, the date evidence
that won and the candidates that lost (:mod:`feedsvc.datefind`), the topics it would
join and the rule that matched (:meth:`feedsvc.topics.Classifier.explain`), its word
count and first lines, and warnings. And one source's discovery (:func:`try_source`):
the source kind's own reader run against a store that holds nothing and is never
opened, showing which way it took, how many article links it found, and the first few
pages as :class:`PageTrial`. Text and JSON renderings for the command are here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import lxml.html
from lxml import etree

from feedsvc import urls
from feedsvc.config import Config, SourceConfig
from feedsvc.datefind import DateCandidate, DateFinding
from feedsvc.edits import body_text
from feedsvc.errors import FetchError, ParseError
from feedsvc.extract import decode, extract_page, is_site_name, parse_html
from feedsvc.fetch import Fetcher, Response
from feedsvc.sources import Context, read
from feedsvc.sources.base import HTML_ACCEPT
from feedsvc.text import clean_text, xml_safe
from feedsvc.topics import Classifier
from feedsvc.types import ArticleData, SourceState, Validators

LEAD_LINES = 3  # first lines of the body shown
LEAD_WIDTH = 160  # characters of each
SHORT_BODY = 0.25  # warn when the body has fewer words than this share of the page's
SHORT_BODY_MIN = 200  # …and the page shows at least this many words
_BLOCKS = ("p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figcaption")


@dataclass(frozen=True)
class PageTrial:
    """One article as feedsvc would store it, and why."""

    fetched: str  # the page's final URL (after redirects)
    article: ArticleData  # what would be stored (url: its canonical URL)
    dates: DateFinding | None  # the page's date evidence; None: not read from a page
    topics: tuple[tuple[str, str], ...]  # (topic slug, the rule that matched)
    words: int  # of the body text
    lead: tuple[str, ...]  # the body's first lines, as text
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceTrial:
    """What reading one source found, stored nowhere."""

    source: SourceConfig
    way: str  # e.g. "feed http://…/feed.xml", "html listing … links 'h2 a'"
    links: int  # article links (or feed entries) the source lists
    pages: tuple[PageTrial, ...]  # the first few
    notes: tuple[str, ...] = field(default=())  # what failed on its own


# -- one page ---------------------------------------------------------------------------
def _context(config: Config, fetcher: Fetcher | _Recorder) -> Context:
    return Context(config=config, fetcher=fetcher,  # type: ignore[arg-type]
                   known=lambda _urls: {})


def _refuse_non_html(resp: Response) -> None:
    """A body that is plainly not an HTML page, whatever its Content-Type says."""
    head = resp.body[:1024].lstrip()
    if head.startswith(b"%PDF-"):
        raise ParseError(resp.url, "not an HTML page (a PDF document)")
    if head[:1] in (b"{", b"["):
        try:
            json.loads(resp.body)
        except ValueError:
            return
        raise ParseError(resp.url, "not an HTML page (a JSON document)")


def try_page(url: str, config: Config, src: SourceConfig) -> PageTrial:
    """Fetch and extract ``url`` as a refresh of ``src`` would; store nothing."""
    if not urls.is_http(url):
        raise FetchError(url, "not an http(s) URL: only http and https pages are fetched")
    fetcher = Fetcher(config.fetch)
    try:
        resp = _get(url, config, fetcher)
    finally:
        fetcher.close()
    return summarize(resp, config, src)


def _get(url: str, config: Config, fetcher: Fetcher) -> Response:
    from feedsvc.sources.pages import get_page

    resp = get_page(Validators(url), _context(config, fetcher))
    _refuse_non_html(resp)
    return resp


def summarize(resp: Response, config: Config, src: SourceConfig,
              stored: ArticleData | None = None) -> PageTrial:
    """The trial of one fetched page; ``stored``: the article as the source would save
    it, when that is more than the page (a feed's title, a sitemap's date)."""
    tz = ZoneInfo(src.timezone)
    article, dates = extract_page(resp.body, resp.url, tz=tz, select=src.select,
                                  declared_charset=resp.charset)
    text = decode(resp.body, resp.charset)
    warnings: list[str] = []
    final = stored or article
    if dates.published is None and final.published is None:
        warnings.append("no date found: the article would be dated when feedsvc first "
                        "saw it")
    elif stored is not None and stored.published != dates.published_utc:
        warnings.append(f"the published date comes from the {src.kind}, not the page "
                        f"(the page says {_iso(dates.published_utc) or 'nothing'})")
    words = len(body_text(final.content_html).split())
    visible = _visible_words(text, resp.url)
    if words == 0:
        warnings.append("no body text extracted (set a content selector?)")
    elif visible >= SHORT_BODY_MIN and words < visible * SHORT_BODY:
        warnings.append(f"the body ({words} words) is much shorter than the page's "
                        f"visible text ({visible} words): set a content selector?")
    if is_site_name(final.title, text, resp.url):
        warnings.append(f"the title {final.title!r} looks like the site's name, not a "
                        "headline (set a title selector?)")
    topics = Classifier(config.topics).explain(final, (src.id,))
    return PageTrial(resp.url, final, dates, topics, words, _lead(final.content_html),
                     tuple(warnings))


def _visible_words(text: str, url: str) -> int:
    try:
        doc = parse_html(xml_safe(text), url)
    except ParseError:
        return 0
    body = doc.find("body")
    if body is None:
        return 0
    for el in list(body.iter("script", "style", "noscript", "template")):
        el.drop_tree()
    return len(body.text_content().split())


def _lead(content_html: str) -> tuple[str, ...]:
    if not content_html.strip():
        return ()
    try:
        root = lxml.html.fragment_fromstring(content_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ()
    lines = [clean_text(el.text_content()) for el in root.iter(*_BLOCKS)]
    lines = [x for x in lines if x] or [clean_text(root.text_content())]
    return tuple(x if len(x) <= LEAD_WIDTH else x[:LEAD_WIDTH - 1] + "…"
                 for x in lines[:LEAD_LINES] if x)


# -- one source -------------------------------------------------------------------------
class _Recorder:
    """The fetcher, keeping the article pages it fetched (to show their date evidence)."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self.pages: dict[str, Response] = {}

    def get(self, url: str, **kwargs: Any) -> Response:
        resp = self.fetcher.get(url, **kwargs)
        if kwargs.get("accept") == HTML_ACCEPT:
            self.pages[url] = resp
        return resp

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fetcher, name)


def try_source(src: SourceConfig, config: Config, *, limit: int = 3) -> SourceTrial:
    """Read ``src`` as a refresh would, against an archive that holds nothing, fetching
    only the first ``limit`` article pages; store nothing."""
    recorder = _Recorder(Fetcher(config.fetch))
    listed: dict[str, int] = {}  # URL → its position in the listing

    def known(candidates: Sequence[str]) -> dict[str, str]:
        """Every listed URL past the first ``limit`` passes for archived: not fetched."""
        return {u: u for u in candidates if listed.setdefault(u, len(listed)) >= limit}

    ctx = Context(config=config, fetcher=recorder, known=known)  # type: ignore[arg-type]
    way = _way(src)
    found: list[tuple[ArticleData, str | None]] = []
    notes: list[str] = []
    entries = 0
    try:
        for piece in read(src, SourceState(src.id), ctx):
            way = piece.via or way
            notes.extend(piece.failures)
            asked = {c.article_url: c.validators.url for c in piece.checks}
            entries += len(piece.articles)
            for art in piece.articles:
                if len(found) < limit:
                    found.append((art, asked.get(art.url)))
    finally:
        recorder.fetcher.close()
    trials = []
    for art, page_url in found:
        resp = recorder.pages.get(page_url) if page_url else None
        trials.append(summarize(resp, config, src, stored=art) if resp is not None
                      else _entry_trial(art, config, src))
    return SourceTrial(src, way, len(listed) or entries, tuple(trials), tuple(notes))


def _way(src: SourceConfig) -> str:
    if src.kind == "html":
        return f"html listing {src.url}, links {src.links!r}"
    if src.kind == "feed":
        return f"feed {src.url}" + (" (full text from each page)" if src.fulltext else "")
    return f"{src.kind} {src.url}"


def _entry_trial(art: ArticleData, config: Config, src: SourceConfig) -> PageTrial:
    """An article the source gave without fetching its page (a feed's entry)."""
    words = len(body_text(art.content_html).split())
    warnings = () if art.published else (
        "no date in the entry: the article would be dated when feedsvc first saw it",)
    return PageTrial(art.url, art, None, Classifier(config.topics).explain(art, (src.id,)),
                     words, _lead(art.content_html), warnings)


# -- rendering --------------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _candidate(c: DateCandidate) -> dict[str, Any]:
    return {"kind": c.kind, "where": c.where, "raw": c.raw, "moment": c.moment.isoformat(),
            "day": c.day, "updated": c.updated}


def page_json(t: PageTrial) -> dict[str, Any]:
    a = t.article
    d = t.dates
    return {
        "url": a.url, "fetched": t.fetched, "title": a.title,
        "published": _iso(a.published), "updated": _iso(a.updated),
        "published_evidence": _candidate(d.published) if d and d.published else None,
        "updated_evidence": _candidate(d.updated) if d and d.updated else None,
        "date_losers": [_candidate(c) for c in d.losers] if d else [],
        "date_note": d.note if d else "",
        "authors": list(a.authors), "categories": list(a.categories), "tags": list(a.tags),
        "image": a.image, "language": a.language, "summary": a.summary,
        "topics": [{"topic": slug, "rule": rule} for slug, rule in t.topics],
        "words": t.words, "lead": list(t.lead), "warnings": list(t.warnings),
    }


def source_json(t: SourceTrial) -> dict[str, Any]:
    return {"source": t.source.id, "kind": t.source.kind, "url": t.source.url,
            "way": t.way, "links": t.links, "notes": list(t.notes),
            "pages": [page_json(p) for p in t.pages]}


def _said(c: DateCandidate) -> str:
    return f"{c.kind} {c.where} {c.raw!r}"


def page_text(t: PageTrial, indent: str = "") -> str:
    a = t.article
    d = t.dates
    rows: list[tuple[str, str]] = [("url", a.url)]
    if t.fetched != a.url:
        rows.append(("fetched", t.fetched))
    rows.append(("title", a.title))
    for name, moment, won in (("published", a.published, d.published if d else None),
                              ("updated", a.updated, d.updated if d else None)):
        value = _iso(moment) or "-"
        if won is not None:
            value += f"  from {_said(won)}"
        elif moment is not None and d is None:
            value += "  from the feed entry"
        rows.append((name, value))
    if d is not None:
        if d.note:
            rows.append(("date note", d.note))
        for c in d.losers:
            what = "updated" if c.updated else "published"
            rows.append(("lost", f"{_said(c)} = {c.day} ({what})"))
        if not d.candidates:
            rows.append(("lost", "(no other dates on the page)"))
    rows += [("authors", ", ".join(a.authors) or "-"),
             ("categories", ", ".join(a.categories) or "-"),
             ("tags", ", ".join(a.tags) or "-"),
             ("image", a.image or "-"),
             ("language", a.language or "-"),
             ("topics", ", ".join(f"{slug} (rule: {rule})" for slug, rule in t.topics)
              or "(none)"),
             ("words", str(t.words))]
    rows += [("body" if i == 0 else "", line) for i, line in enumerate(t.lead)]
    rows += [("warning", w) for w in t.warnings]
    return "\n".join(f"{indent}{k:<11}{v}".rstrip() for k, v in rows)


def source_text(t: SourceTrial) -> str:
    src = t.source
    out = [f"source     {src.id} ({src.kind}) {src.url}",
           f"way        {t.way}",
           f"links      {t.links} article link{'s' if t.links != 1 else ''} found"]
    out += [f"note       {n}" for n in t.notes]
    for i, p in enumerate(t.pages, 1):
        out += ["", f"[{i}]", page_text(p, "  ")]
    return "\n".join(out)
