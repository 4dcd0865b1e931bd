"""An article page's publication and update dates, as a ranked vote of evidence.

Owns the choice of *which* date on a page is the article's: the operator's selector,
then the article's own structured data (JSON-LD of this article, microdata, ``<meta>``:
``article:published_time``, Dublin Core, ``date``…), then ``<time>``/date elements near
the headline or byline and outside nav/aside/footer/embeds/teasers, then the URL path
(``/2019/10/22/``), then htmldate (its fast search, else its extensive one) as the
arbiter when the cheap evidence disagrees and the fallback when there is none. What the
page shows its readers outranks its metadata in named cases (measured on
bench/realworld, each with a test page): a date labelled as the publication, the day a
republished page names (``<meta name="date">``) or alone shows, a day-only meta date one
day off a byline with a time. Every such choice is logged with both dates. Reading one
date string is :mod:`feedsvc.dates`' job.

The result, :class:`DateFinding`, says which evidence won and keeps every candidate
that lost (``feedsvc try`` prints them; the tests check them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import islice
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from lxml import etree

from feedsvc import dates
from feedsvc.text import clean_text

log = logging.getLogger(__name__)

# evidence kinds, strongest first (the rank is the index)
SELECTOR, JSON_LD, MICRODATA, META, ELEMENT, URL, HTMLDATE = (
    "selector", "json-ld", "microdata", "meta", "element", "url", "htmldate")
RANKS = (SELECTOR, JSON_LD, MICRODATA, META, ELEMENT, URL, HTMLDATE)


@dataclass(frozen=True)
class DateCandidate:
    """One date the page offers, with where it was found."""

    kind: str  # one of RANKS
    where: str  # e.g. "article:published_time", "time[datetime]", "/2019/10/22/"
    raw: str  # the text as the page writes it
    moment: datetime  # aware, in the offset the page gives (the source's zone if none)
    updated: bool = False  # an update/modification date, not the publication date

    @property
    def day(self) -> str:
        """The calendar day as the page writes it."""
        return self.moment.date().isoformat()


@dataclass(frozen=True)
class DateFinding:
    """The dates chosen for one article page, and the evidence behind them."""

    published: DateCandidate | None  # the winner (None: no date; first-seen is used)
    updated: DateCandidate | None  # the page's own update date, kept apart
    candidates: tuple[DateCandidate, ...] = ()  # everything found, winners included
    note: str = ""  # why the winner won when the evidence disagreed

    @property
    def published_utc(self) -> datetime | None:
        return _utc(self.published)

    @property
    def updated_utc(self) -> datetime | None:
        return _utc(self.updated)

    @property
    def published_day(self) -> str | None:
        """The publication day as the page writes it (in its own offset)."""
        return self.published.day if self.published else None

    @property
    def evidence(self) -> str | None:
        """Which evidence won, e.g. ``"json-ld datePublished"``."""
        return f"{self.published.kind} {self.published.where}" if self.published else None

    @property
    def losers(self) -> tuple[DateCandidate, ...]:
        return tuple(c for c in self.candidates
                     if c is not self.published and c is not self.updated)


def _utc(c: DateCandidate | None) -> datetime | None:
    return c.moment.astimezone(UTC).replace(microsecond=0) if c else None


# -- structured data --------------------------------------------------------------------
_META_PUBLISHED = (
    "article:published_time", "og:published_time", "og:article:published_time",
    "datepublished", "datecreated", "dc.date.issued", "dcterms.issued", "dc.date.created",
    "dcterms.created", "dc.date", "dcterms.date", "citation_publication_date",
    "citation_date", "publish-date", "publish_date", "publishdate", "published_time",
    "pubdate", "article.published", "parsely-pub-date", "sailthru.date", "date",
    "article_date_original", "originalpublicationdate", "cxenseparse:recs:publishtime",
    "og:pubdate", "published-date", "release_date", "created", "dc.created",
    "last-modified-original", "sw-pubdate",
)
_META_UPDATED = (
    "article:modified_time", "og:updated_time", "og:article:modified_time",
    "datemodified", "dc.date.modified", "dcterms.modified", "last-modified",
    "lastmod", "article.updated", "modified",
)


_ITEMPROP = etree.XPath("//*[@itemprop]")


def _structured(doc: etree._Element, ld: dict[str, Any], meta: dict[str, list[str]],
                tz: ZoneInfo, dayfirst: bool) -> list[DateCandidate]:
    out: list[DateCandidate] = []
    for key, upd in (("datePublished", False), ("dateCreated", False),
                     ("dateModified", True)):
        raw = ld.get(key)
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if isinstance(raw, str):
            _add(out, JSON_LD, key, raw, tz, updated=upd, dayfirst=dayfirst)
    for el in _ITEMPROP(doc):  # (an XPath testing the values is twice as slow)
        if el.get("itemprop") not in ("datePublished", "dateCreated", "dateModified"):
            continue
        if el.tag == "meta" and el.getparent() is not None and el.getparent().tag == "head":
            continue  # a <meta itemprop> in <head> is read with the other meta tags
        if _excluded(el):
            continue
        raw = el.get("content") or el.get("datetime") or clean_text(el.text_content())
        prop = el.get("itemprop")
        _add(out, MICRODATA, f"itemprop={prop}", raw, tz, updated=prop == "dateModified",
             fuzzy=True, dayfirst=dayfirst)
    for names, upd in ((_META_PUBLISHED, False), (_META_UPDATED, True)):
        for name in names:
            for raw in meta.get(name, ()):
                _add(out, META, name, raw, tz, updated=upd, dayfirst=dayfirst)
    return out


def _add(out: list[DateCandidate], kind: str, where: str, raw: str | None, tz: ZoneInfo,
         *, updated: bool = False, fuzzy: bool = False,
         dayfirst: bool = False) -> DateCandidate | None:
    raw = clean_text(raw)
    if not raw or len(raw) > 200:
        return None
    # page text is read by our own patterns only: dateparser on every date-ish element
    # costs more than the body extraction (the operator's selector may use it)
    moment = dates.parse_local(raw, tz, fuzzy=fuzzy, slash_dayfirst=dayfirst,
                               general=kind == SELECTOR)
    if moment is None or (kind == ELEMENT and moment.astimezone(UTC) > _now() + _SLACK):
        return None  # a date element in the future is an event, not this article
    c = DateCandidate(kind=kind, where=where, raw=raw, moment=moment, updated=updated)
    out.append(c)
    return c


_SLACK = timedelta(days=2)


def _now() -> datetime:
    from feedsvc.clock import now

    return now()


# -- date elements near the headline -----------------------------------------------------
_DATE_CLASS = re.compile(
    r"date|time|publish|posted|byline|dateline|meta|stamp|datum|fecha|data|дата|info",
    re.IGNORECASE)
_EXCLUDED_TAGS = {"nav", "aside", "footer", "blockquote", "iframe", "form", "noscript",
                  "select", "option", "li", "a"}
_EXCLUDED_CLASS = re.compile(
    r"related|recent|teaser|sidebar|widget|comment|embed|twitter|instagram|facebook|"
    r"popular|trending|footer|menu|navigation|breadcrumb|newsletter|more-|-more|"
    r"archive|calendar|promo|advert|banner|card|listing|latest|weather|cookie|"
    r"(?:^|[\s_-])nav",
    re.IGNORECASE)
# an <aside> that is the article's own byline box, not a sidebar (alpin.de)
_META_BOX = re.compile(r"^(meta|byline|article-meta|entry-meta|post-meta)\b", re.IGNORECASE)
_UPDATED_WORDS = re.compile(
    r"updated|modified|aktualisiert|geändert|änderung|mis à jour|actualizado|aggiornato|"
    r"оновлено|обновлено|bijgewerkt|last edit", re.IGNORECASE)
_PUBLISHED_CLASS = re.compile(r"posted|published|pubdate|publish-?date|date-?publi",
                              re.IGNORECASE)
_UPDATED_CLASS = re.compile(r"updated|modified|dateModified", re.IGNORECASE)
# a line of plain text that says it is the publication date ("Veröffentlicht am 16.08.2019")
_PUBLISHED_LABEL = re.compile(
    r"^\W{0,3}(?:published|posted|first published|publication date|date published|"
    r"written|veröffentlicht|erschienen|erscheinungsdatum|publiziert|erstellt|publié|"
    r"publication|"
    r"publicado|publicación|pubblicato|pubblicazione|gepubliceerd|geplaatst|"
    r"opublikowano|publicerad|publiceret|publisert|julkaistu|опубликовано|"
    r"datum(?=\s*:)|date(?=\s*:)|"
    r"опубліковано)\b(?:\s+(?:on|am|le|el|il|op|den|в))?\s*:?\s*"
    r"(?:[^\W\d_]{2,10}\.?,?\s+){0,2}\d",
    re.IGNORECASE)
_PUBLISHED_LABEL_AT = re.compile(_PUBLISHED_LABEL.pattern.removeprefix("^"), re.IGNORECASE)
# a short line that opens with the date, by the headline ("02.02.2022 10:16 Uhr - …")
_DATE_FIRST = re.compile(
    r"^\W{0,2}(?:\d{1,2}\.\s?\d{1,2}\.\s?(?:19|20)\d\d|(?:19|20)\d\d-\d\d-\d\d|"
    r"\d{1,2}/\d{1,2}/(?:19|20)\d\d|\d{1,2}\.?\s+[^\W\d_]{3,10}\.?\s+(?:19|20)\d\d|"
    r"[^\W\d_]{3,10}\.?\s+\d{1,2},?\s+(?:19|20)\d\d)(?!\d)")
# a press release's dateline opening its first paragraph: "Karlsruhe, (12.11.2021)."
_DATELINE = re.compile(
    r"^[A-ZÄÖÜ][^\W\d_]+(?:[ -][A-ZÄÖÜ][^\W\d_]+){0,2}\s*,?\s*\(\d{1,2}\.\s?\d{1,2}\.\s?"
    r"(?:19|20)\d\d\)")
_CLASS_TAGS = {"span", "div", "p", "abbr", "small", "em", "strong", "header", "ul", "dd",
               "h4", "h5", "h6", "i", "b"}
_DIGIT = re.compile(r"\d")
_TEXT_TAGS = {"p", "div", "span", "small", "em", "strong", "b", "i", "dd", "h2", "h3",
              "h4", "h5", "h6", "header", "address"}


def _excluded(el: etree._Element) -> bool:
    """Inside page furniture, an embedded post or another article's teaser."""
    node = el.getparent()
    depth = 0
    while node is not None and depth < 30:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag == "body" or (tag in ("article", "main")
                             and not _EXCLUDED_CLASS.search(node.get("class", ""))):
            return False
        if tag in _EXCLUDED_TAGS and not (tag == "aside"
                                          and _META_BOX.search(node.get("class", ""))):
            return True
        if _names_furniture(f"{node.get('class', '')} {node.get('id', '')}"):
            return True
        node = node.getparent()
        depth += 1
    return False


def _text_line(el: etree._Element, pos: int, headline: int | None,
               h1: etree._Element | None) -> tuple[str, str] | None:
    """(text, where) when ``el`` is a short line of plain text that is a date: labelled
    as the publication date anywhere, or opening with a full date just under the
    headline. Its own text only: the line, not the block around it."""
    own = el.text or ""
    if len(el) and len(own) <= 300:  # (a longer text is a paragraph whatever follows)
        own = " ".join([own, *(c.tail or "" for c in el)])
    if headline is not None and headline < pos <= headline + 60 and "(" in own[:80] \
            and (dateline := _DATELINE.match(clean_text(own[:80]))):
        return dateline.group(0), f"{el.tag} (dateline)"
    if len(own) > 300 or not _DIGIT.search(own):
        return None  # the date is in a child (read there), or this is a paragraph
    text = clean_text(el.text_content()) if len(el) else clean_text(own)
    if len(text) > 100:
        return None
    if _PUBLISHED_LABEL.search(text):
        return text, f"{el.tag} (labelled)"
    if h1 is not None and headline is not None and _DATE_FIRST.search(text) and (
            headline < pos <= headline + 10
            or (headline - 6 <= pos <= headline + 40 and _inside(el, h1.getparent()))):
        return text, f"{el.tag} (by the headline)"
    return None


def _inside(el: etree._Element, box: etree._Element | None) -> bool:
    return box is not None and any(a is box for a in el.iterancestors())


def _elements(doc: etree._Element, tz: ZoneInfo, dayfirst: bool,
              headline: int | None = None) -> list[tuple[int, DateCandidate]]:
    """(document position, candidate) for every date element outside furniture."""
    out: list[tuple[int, DateCandidate]] = []
    body = doc.find("body")
    if body is None:
        return out
    h1 = next(islice(body.iter(), headline, None), None) if headline is not None else None
    nodes = body.iter()
    pos = -1
    for el in nodes:
        pos += 1
        tag = el.tag
        if not isinstance(tag, str) or tag in ("script", "style"):
            continue
        if tag in ("nav", "footer", "aside") and _furniture_block(el):
            skip = sum(1 for _ in el.iterdescendants())
            next(islice(nodes, skip, skip), None)  # past its descendants (counted)
            pos += skip
            continue
        if tag == "time":
            raw = el.get("datetime") or clean_text(el.text_content())
            where = "time[datetime]" if el.get("datetime") else "time"
        elif tag in _CLASS_TAGS and (named := _date_class(el)) is not None:
            raw = el.get("title") if tag == "abbr" and el.get("title") else \
                clean_text(el.text_content())
            if not raw or len(raw) > 120 or not _DIGIT.search(raw):
                continue
            where = f"{tag}.{named.split()[0]}"
            if _PUBLISHED_CLASS.search(named):  # "meta__row--posted", "published-date"
                where += " (labelled)"
        elif tag in _TEXT_TAGS and (line := _text_line(el, pos, headline, h1)):
            raw, where = line
        else:
            continue
        cls = f"{el.get('class', '')} {el.get('id', '')}"
        if _excluded(el):
            continue
        text = clean_text(el.text_content()) + " " + cls
        parent = el.getparent()
        if parent is not None:
            text += " " + clean_text(parent.text or "")[:40]
        upd = bool(_UPDATED_CLASS.search(cls) or _UPDATED_WORDS.search(text))
        said = _UPDATED_WORDS.search(raw)
        if upd and said and not _UPDATED_CLASS.search(cls) \
                and (digit := re.search(r"\d", raw)) and digit.start() < said.start():
            upd = False  # "January 19, 2020 / 12:25 PM / Updated 8 hours ago": the date
            # comes first, the update after it
        if upd and (label := _published_part(raw)) is not None:
            raw, upd = label, False  # "Letzte Änderung: 31.10.2023 Erschienen am: 01.11.2023"
        found: list[DateCandidate] = []
        if _add(found, ELEMENT, where, raw, tz, updated=upd, fuzzy=True, dayfirst=dayfirst):
            out.append((pos, found[0]))
    return out


def _furniture_block(el: etree._Element) -> bool:
    """A ``<nav>``, ``<footer>`` or ``<aside>`` whose every element :func:`_excluded`
    would refuse: not an article's byline box, and no ``<article>`` or ``<main>`` in it
    (an unclosed ``<nav>`` can hold the whole page). Its elements are then not read at
    all: menus and footers are half of a news page's elements (bench/ingest)."""
    if el.tag == "aside" and _META_BOX.search(el.get("class", "")):
        return False
    return el.find(".//article") is None and el.find(".//main") is None


def _date_class(el: etree._Element) -> str | None:
    """The element's "class id" when it names a date ("meta__date", "byline"), or None."""
    c, i = el.get("class"), el.get("id")
    if not c and not i:
        return None
    cls = f"{c or ''} {i or ''}"
    return cls if _names_date(cls) else None


@lru_cache(maxsize=8192)
def _names_date(cls: str) -> bool:
    """Whether a "class id" string names a date (memoized: a site's pages repeat their
    class names, and the pattern is long)."""
    return bool(cls.strip() and _DATE_CLASS.search(cls))


@lru_cache(maxsize=8192)
def _names_furniture(cls: str) -> bool:
    return bool(_EXCLUDED_CLASS.search(cls))


def _published_part(raw: str) -> str | None:
    """The part of a line with an update date that the page labels as the publication
    date ("Written: 2023-11-07 15:03 / Updated: …", "Letzte Änderung: … Erschienen am:
    01.11.2023"), or None."""
    for m in re.finditer(r"\b(?=\w)", raw):
        if _PUBLISHED_LABEL_AT.match(raw, m.start()):
            return raw[m.start():]
    return None


def _headline_position(doc: etree._Element) -> int | None:
    body = doc.find("body")
    if body is None:
        return None
    for pos, el in enumerate(body.iter()):
        if el.tag == "h1" and not _excluded(el):
            return pos
    return None


def _nearest(found: list[tuple[int, DateCandidate]], headline: int | None,
             *, updated: bool) -> DateCandidate | None:
    pool = [(p, c) for p, c in found if c.updated == updated]
    if not pool:
        return None
    if headline is None:
        return pool[0][1]

    def distance(item: tuple[int, DateCandidate]) -> float:
        p = item[0]
        return (p - headline) if p >= headline else (headline - p) * 3 + 50

    pos, best = min(pool, key=distance)
    # a byline's own <time datetime> says the same day more precisely
    return next((c for p, c in pool if pos < p <= pos + 12 and c.where == "time[datetime]"
                 and c.day == best.day), best)


# -- the URL ------------------------------------------------------------------------------
_URL_DATE = re.compile(
    r"(?<!\d)((?:19|20)\d\d)([/_.-]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)")


def url_date(url: str, tz: ZoneInfo) -> DateCandidate | None:
    """A full date in the URL path (``/2019/10/22/``, ``/2019-10-22-``, ``/20191022``)."""
    if not url:
        return None
    path = unquote(urlsplit(url).path)
    m = _URL_DATE.search(path)
    if not m:
        return None
    try:
        moment = datetime(int(m.group(1)), int(m.group(3)), int(m.group(4)), tzinfo=tz)
    except ValueError:
        return None
    if moment.astimezone(UTC) > _now() + _SLACK:
        return None
    return DateCandidate(kind=URL, where=m.group(0), raw=m.group(0), moment=moment)


# -- htmldate -----------------------------------------------------------------------------
def _htmldate(doc: etree._Element, url: str | None, tz: ZoneInfo,
              *, extensive: bool = True) -> DateCandidate | None:
    import htmldate  # imported lazily: only when the cheap evidence does not settle it

    htmldate_log = logging.getLogger("htmldate")
    htmldate_log.setLevel(logging.CRITICAL)
    try:
        found = htmldate.find_date(doc, url=url, extensive_search=extensive,
                                   original_date=True)
    except Exception as e:  # a third-party heuristic must never fail a page
        log.debug("htmldate failed on %s: %s", url, e)
        return None
    if not found:
        return None
    try:
        d = date.fromisoformat(found)
    except ValueError:
        return None
    moment = datetime(d.year, d.month, d.day, tzinfo=tz)
    if moment.astimezone(UTC) > _now() + _SLACK:
        return None
    return DateCandidate(kind=HTMLDATE, where="extensive" if extensive else "fast",
                         raw=found, moment=moment)


# -- the vote -----------------------------------------------------------------------------
def find_dates(doc: etree._Element, url: str, tz: ZoneInfo, *,
               ld: dict[str, Any] | None = None, meta: dict[str, list[str]] | None = None,
               selected: tuple[str, str] = ("", ""),
               use_htmldate: bool = True) -> DateFinding:
    """Weigh every date on the page; ``selected`` is (published, updated) text from the
    operator's selectors. Reads ``doc`` only (call it before the body is pruned)."""
    ld = ld or {}
    meta = meta or {}
    dayfirst = slash_dayfirst(doc, ld, meta)
    cands: list[DateCandidate] = []
    sel_pub = _add(cands, SELECTOR, "published", selected[0], tz, fuzzy=True,
                   dayfirst=dayfirst)
    sel_upd = _add(cands, SELECTOR, "updated", selected[1], tz, fuzzy=True, updated=True,
                   dayfirst=dayfirst)
    structured = _structured(doc, ld, meta, tz, dayfirst)
    cands += structured
    headline = _headline_position(doc)
    elements = _elements(doc, tz, dayfirst, headline)
    cands += [c for _, c in elements]
    in_url = url_date(url, tz)
    if in_url:
        cands.append(in_url)

    near = _nearest(elements, headline, updated=False)
    near_upd = _nearest(elements, headline, updated=True)
    own = next((c for c in structured if not c.updated), None)
    own_upd = next((c for c in structured if c.updated), None)
    updated = sel_upd or own_upd or near_upd

    note = ""
    winner: DateCandidate | None
    if sel_pub:
        winner = sel_pub
    elif own:
        winner = own
        for rival in (in_url, near):
            shown = _as_written(own, rival) if rival else None
            if shown:  # the same moment, on the day the page shows (its own offset)
                winner = shown
                cands.append(shown)
                break
        rivals = [c for c in (in_url, near) if c and abs(_days(c, own)) > 1]
        shown_instead = _shown_instead(own, own_upd, near, elements) \
            if winner is own else None
        if shown_instead is None and winner is own:
            shown_instead = _labelled_instead(own, elements) or \
                _declared_update(own, own_upd, structured) or (
                _only_update_shown(own, near_upd, elements) if near is None else None)
        if shown_instead:
            winner, note = shown_instead
        elif rivals and use_htmldate:
            arbiter = _htmldate(doc, url, tz, extensive=False) or _htmldate(doc, url, tz)
            if arbiter:
                cands.append(arbiter)
            if arbiter and arbiter.day != own.day and any(
                    r.day == arbiter.day for r in rivals) \
                    and not any(c.day == own.day and c.where != "time[datetime]"
                                for _, c in elements):
                winner = next(r for r in rivals if r.day == arbiter.day)
                note = (f"{own.kind} {own.where} says {own.day}; {winner.kind} "
                        f"{winner.where} and htmldate say {winner.day}")
            else:
                note = (f"kept {own.kind} {own.where} ({own.day}) against "
                        + ", ".join(f"{r.kind} {r.day}" for r in rivals))
    elif near or in_url:
        winner = near or in_url
        if near and in_url and abs(_days(near, in_url)) > 1:
            winner = in_url
            note = f"the URL says {in_url.day}, a date element {near.day}"
    elif near_upd:  # "Updated: 31 May, 2024 Friday" is the only date the page shows
        winner = near_upd
        note = f"only an update date on the page: {near_upd.where} {near_upd.raw!r}"
    else:
        winner = (_htmldate(doc, url, tz, extensive=False) or _htmldate(doc, url, tz)) \
            if use_htmldate else None
        if winner:
            cands.append(winner)
    if winner and updated and updated.moment < winner.moment:
        updated = None  # an "update" before the publication is a misread
    if note:
        log.info("%s: dates disagree: %s", url, note)
    return DateFinding(published=winner, updated=updated, candidates=tuple(cands),
                       note=note)


# Dublin Core's plain ``date`` is "a date in the lifecycle of the resource": CMSs fill it
# with the record's creation or last change as readily as with the day it was issued
_LIFECYCLE_DATES = ("dc.date", "dcterms.date")


def _shown_instead(own: DateCandidate, own_upd: DateCandidate | None,
                   near: DateCandidate | None,
                   elements: list[tuple[int, DateCandidate]]) -> tuple[DateCandidate, str] | None:
    """The date by the headline, and why, when it outranks the structured ``own``:

    - ``own`` is only a Dublin Core lifecycle date and the page shows another day;
    - the page shows its structured update day as its date (a republished article: its
      readers, and its archive, file it under the day it shows), and no date element
      anywhere shows ``own``'s day.
    """
    if near is None or near.updated or near.day == own.day:
        return None
    if ":" not in own.raw and ":" in near.raw and abs(_days(near, own)) == 1:
        return near, (f"{own.kind} {own.where} is a day without a time ({own.day}); "
                      f"{near.kind} {near.where} by the headline shows {near.raw!r}")
    if own.kind == META and own.where in _LIFECYCLE_DATES and abs(_days(near, own)) > 1:
        return near, (f"{own.kind} {own.where} ({own.day}) is a lifecycle date; "
                      f"{near.kind} {near.where} by the headline shows {near.day}")
    if own_upd is not None and own_upd.day == near.day and own_upd.moment > own.moment \
            and not any(c.day == own.day for _, c in elements):
        return near, (f"{near.kind} {near.where} by the headline shows the update day "
                      f"{near.day} ({own_upd.kind} {own_upd.where}), not {own.kind} "
                      f"{own.where} {own.day}")
    return None


def _labelled_instead(own: DateCandidate, elements: list[tuple[int, DateCandidate]]
                      ) -> tuple[DateCandidate, str] | None:
    """A date the page labels for its readers as the publication date ("Erscheinungsdatum
    25.01.2022"), days away from ``own``, and no visible date for ``own``'s day."""
    labelled = [c for _, c in elements if not c.updated and (
        _PUBLISHED_LABEL.search(c.raw) or c.where.endswith("(labelled)"))]
    if not labelled or any(c.day == own.day and c.where != "time[datetime]"
                           for _, c in elements):
        return None
    c = labelled[0]
    if abs(_days(c, own)) <= 1 or any(o.day != c.day for o in labelled):
        return None
    return c, (f"{c.kind} {c.where} labels {c.day} as the publication date, not "
               f"{own.kind} {own.where} {own.day}")


def _only_update_shown(own: DateCandidate, near_upd: DateCandidate | None,
                       elements: list[tuple[int, DateCandidate]]
                       ) -> tuple[DateCandidate, str] | None:
    """The page shows its readers only an "Updated …" date, later than the structured
    ``own``, and ``own``'s day nowhere: readers, and the archive, file it under the day
    it shows (measured on bench/realworld: republished guides and explainers)."""
    if near_upd is None or near_upd.moment <= own.moment \
            or any(c.day == own.day for _, c in elements):
        return None
    return near_upd, (f"the page shows only {near_upd.kind} {near_upd.where} "
                      f"{near_upd.raw!r} ({near_upd.day}), not {own.kind} {own.where} "
                      f"{own.day}")


_DATE_FIELDS = ("date", "dc.date", "dcterms.date", "dc.date.issued")


def _declared_update(own: DateCandidate, own_upd: DateCandidate | None,
                     structured: list[DateCandidate]) -> tuple[DateCandidate, str] | None:
    """The structured update day, when the page's own plain date field (``<meta
    name="date">``, Dublin Core) names it as the page's date: a republished article."""
    if own_upd is None or own_upd.day == own.day or own_upd.moment < own.moment:
        return None
    for c in structured:
        if c.kind == META and not c.updated and c.where in _DATE_FIELDS \
                and c.day == own_upd.day:
            return c, (f"{c.kind} {c.where} names the update day {c.day} "
                       f"({own_upd.kind} {own_upd.where}), not {own.kind} {own.where} "
                       f"{own.day}")
    return None


_US_ENGLISH_NOT = ("en-gb", "en-au", "en-nz", "en-ie", "en-in", "en-za", "en-uk")


def slash_dayfirst(doc: etree._Element, ld: dict[str, Any],
                   meta: dict[str, list[str]]) -> bool:
    """Whether ``03/02/2022`` on this page is 3 February: everywhere but in US English
    (and pages that do not say their language)."""
    lang = doc.get("lang") or doc.get("xml:lang") or ld.get("inLanguage") \
        or next(iter(meta.get("og:locale", ())), "")
    if not isinstance(lang, str) or not lang.strip():
        return False
    lang = lang.strip().lower().replace("_", "-")
    return not lang.startswith("en") or lang.startswith(_US_ENGLISH_NOT)


def _as_written(own: DateCandidate, rival: DateCandidate) -> DateCandidate | None:
    """``own`` (written in UTC) shown on ``rival``'s day, one day apart: a page writes
    its structured dates in UTC and shows its readers their local day. The moment is
    unchanged; only the offset it is shown in (so its calendar day) moves."""
    if own.moment.utcoffset() != timedelta(0) or abs(_days(rival, own)) != 1 \
            or ":" not in own.raw:  # a date without a time is a day, not a UTC moment
        return None
    utc = own.moment
    minutes = utc.hour * 60 + utc.minute
    if rival.moment.date() < utc.date():
        offset = -(minutes // 60 + 1) * 60
    else:
        offset = (24 * 60 - minutes + 59) // 60 * 60
    if abs(offset) > 14 * 60:
        return None
    shown = utc.astimezone(timezone(timedelta(minutes=offset)))
    if shown.date() != rival.moment.date():
        return None
    return replace(own, moment=shown,
                   where=f"{own.where} (on the day {rival.kind} {rival.where} shows)")


def _days(a: DateCandidate, b: DateCandidate) -> int:
    return (a.moment.date() - b.moment.date()).days
