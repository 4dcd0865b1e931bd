"""Article pages → :class:`ArticleData`: decoding, metadata, body.

One parse per page. Fields come from, in order: the operator's CSS selectors, JSON-LD
(``NewsArticle``, ``Article``...), OpenGraph / ``article:*`` / ``<meta>`` tags,
``<time datetime>``, then general extraction (trafilatura, ``fast=True``) for the body.
Dates keep their offsets; offset-less dates are read in the source's time zone.
"""

from __future__ import annotations

import codecs
import functools
import html
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
from lxml import etree

from feedsvc import urls
from feedsvc.config import Selectors
from feedsvc.datefind import DateFinding, find_dates
from feedsvc.errors import ParseError
from feedsvc.sanitize import clean_html, drop_captions, fast_html_parser, prepare_images
from feedsvc.text import clean_text, xml_safe
from feedsvc.types import ArticleData

if TYPE_CHECKING:  # trafilatura is imported lazily: it is slow to import
    from trafilatura.settings import Extractor

_ARTICLE_TYPES = {
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "backgroundnewsarticle", "reviewnewsarticle", "blogposting",
    "liveblogposting", "report", "socialmediaposting", "webpage",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)""", re.I)
_WRAPPER = re.compile(r"^\s*<html>\s*<body>|</body>\s*</html>\s*$")


# bytes XML 1.0 forbids in UTF-8 text: C0 controls but tab, LF and CR (no byte of a
# multi-byte sequence is below 0x80, so deleting these bytes deletes exactly those
# characters); U+FFFE and U+FFFF are left to the slow path
_C0_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))


def page_bytes(body: bytes, declared: str | None = None) -> bytes:
    """Bytes of an HTML page → the same page as XML-safe UTF-8 bytes, ready to parse.

    :func:`decode`'s rules, without its round trip through ``str`` for the common page
    that already is UTF-8 (or ASCII): decoding, dropping illegal characters and encoding
    again cost ~1 ms of an 80 KB page (bench/ingest); deleting control bytes costs a
    twentieth of that."""
    bom = body.startswith(codecs.BOM_UTF8)
    if bom:
        body = body[len(codecs.BOM_UTF8):]
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return text_bytes(decode(body, declared))
    if not body.isascii():
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:  # the BOM still wins: UTF-8 with replacements
            return text_bytes(body.decode("utf-8", "replace") if bom
                              else decode(body, declared))
        if "\ufffe" in text or "\uffff" in text:
            return text_bytes(text)
    # one memchr a control byte: a twelfth of what translate's per-byte loop costs, and
    # pages hardly ever hold one
    if any(c in body for c in _C0_BYTES):
        return body.translate(None, _C0_BYTES)
    return body


def text_bytes(text: str) -> bytes:
    """Text of a page → XML-safe UTF-8 bytes (NULs, controls, lone surrogates dropped)."""
    return xml_safe(text).encode("utf-8")


def decode(body: bytes, declared: str | None = None) -> str:
    """Bytes of an HTML page → text, whatever it declares or really uses.

    A BOM wins; then valid UTF-8 with non-ASCII bytes (a page that *is* UTF-8 despite a
    wrong header); then the declared charset (HTTP header, then ``<meta>``); then a guess.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(enc, "replace")
    if body.isascii():
        return body.decode("ascii")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    candidates = [declared]
    m = _META_CHARSET.search(body[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore"))
    for enc in candidates:
        if not enc:
            continue
        try:
            codecs.lookup(enc)
        except LookupError:
            continue
        if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
            continue  # it is not valid UTF-8 (checked above)
        return body.decode(enc, "replace")
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    return str(best) if best is not None else body.decode("utf-8", "replace")


def parse_html(text: str | bytes, url: str) -> etree._Element:
    """Parse a page (text, or UTF-8 bytes) leniently (broken HTML is normal); refuse
    what is not HTML at all."""
    if not text.strip():
        raise ParseError(url, "empty page")
    try:
        doc = lxml.html.document_fromstring(
            text.encode("utf-8") if isinstance(text, str) else text,
            parser=_PARSER, base_url=url)
    except (etree.ParserError, ValueError) as e:
        raise ParseError(url, f"not HTML: {e}") from e
    return doc


_PARSER = fast_html_parser(encoding="utf-8", remove_comments=True)


def _jsonld_objects(doc: etree._Element) -> Iterator[dict[str, Any]]:
    for script in doc.iter("script"):
        if script.get("type") != "application/ld+json":
            continue
        raw = (script.text or "").strip()
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue  # malformed JSON-LD: other sources of metadata still count
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                yield item
                if "@graph" in item:
                    stack.append(item["@graph"])


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type", ())
    return {str(x).lower() for x in (t if isinstance(t, list) else [t])}


def _jsonld_article(doc: etree._Element) -> dict[str, Any]:
    best: dict[str, Any] = {}
    for obj in _jsonld_objects(doc):
        kinds = _types(obj)
        if kinds & _ARTICLE_TYPES and (obj.get("headline") or obj.get("datePublished")):
            if "webpage" in kinds and best:
                continue
            best = obj
            if "webpage" not in kinds:
                break
    return best


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for it in items:
        name = it.get("name") if isinstance(it, dict) else it
        if isinstance(name, str) and clean_text(name):
            out.append(clean_text(name))
    return tuple(out)


def _keywords(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(k for k in (clean_text(x) for x in value.split(",")) if k)
    if isinstance(value, list):
        return tuple(clean_text(str(x)) for x in value if clean_text(str(x)))
    return ()


def _image(value: Any) -> tuple[str | None, int | None, int | None]:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value, None, None
    if isinstance(value, dict):
        url = value.get("url") or value.get("contentUrl")
        return (url if isinstance(url, str) else None, _int(value.get("width")),
                _int(value.get("height")))
    return None, None, None


def _int(value: Any) -> int | None:
    try:
        n = int(str(value).strip().removesuffix("px"))
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def _meta(doc: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in doc.iter("meta"):
        key = (m.get("property") or m.get("name") or m.get("itemprop") or "").strip().lower()
        content = m.get("content")
        if key and content is not None:
            out.setdefault(key, []).append(content.strip())
    return out


def _select(doc: etree._Element, css: str | None) -> list[etree._Element]:
    if not css:
        return []
    try:
        return doc.cssselect(css)
    except Exception:  # cssselect errors on odd pseudo-classes at runtime
        return []


def _select_text(doc: etree._Element, css: str | None, attrs: tuple[str, ...] = ()) -> str:
    for el in _select(doc, css):
        for a in attrs:
            if el.get(a):
                return el.get(a)
        text = clean_text(el.text_content())
        if text:
            return text
    return ""


def _first(*values: Any) -> str:
    for v in values:
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, str) and clean_text(v):
            return clean_text(v)
    return ""


def canonical_url(doc: etree._Element, page_url: str, meta: dict[str, list[str]]) -> str:
    """The page's canonical URL (``<link rel=canonical>``, ``og:url``), normalized."""
    canonical = [el.get("href") for el in doc.iter("link")
                 if el.get("rel") == "canonical" and el.get("href") is not None]
    for href in canonical + meta.get("og:url", []):
        try:
            return urls.normalize(urls.absolute(page_url, href))
        except ValueError:
            continue
    return urls.normalize(page_url) if urls.is_http(page_url) else page_url


def extract(body: bytes, page_url: str, *, tz: ZoneInfo, select: Selectors | None = None,
            declared_charset: str | None = None) -> ArticleData:
    """Extract one article from the bytes of its page."""
    return _extract(page_bytes(body, declared_charset), page_url, tz=tz, select=select)[0]


def extract_page(body: bytes, page_url: str, *, tz: ZoneInfo,
                 select: Selectors | None = None,
                 declared_charset: str | None = None) -> tuple[ArticleData, DateFinding]:
    """:func:`extract`, plus the date evidence behind the article's dates."""
    return _extract(page_bytes(body, declared_charset), page_url, tz=tz, select=select)


def extract_text(text: str, page_url: str, *, tz: ZoneInfo,
                 select: Selectors | None = None) -> ArticleData:
    """Extract one article from the decoded text of its page."""
    return _extract(text_bytes(text), page_url, tz=tz, select=select)[0]


def _extract(data: bytes, page_url: str, *, tz: ZoneInfo,
             select: Selectors | None) -> tuple[ArticleData, DateFinding]:
    sel = select or Selectors()
    doc = parse_html(data, page_url)  # XML-safe UTF-8 (page_bytes, text_bytes)
    meta = _meta(doc)
    ld = _jsonld_article(doc)
    url = canonical_url(doc, page_url, meta)

    title = _select_text(doc, sel.title) or page_title(doc, ld, meta, page_url)
    if not title:
        raise ParseError(page_url, "no title found (not an article page?)")

    found = find_dates(
        doc, page_url if urls.is_http(page_url) else url, tz, ld=ld, meta=meta,
        selected=(_select_text(doc, sel.published, ("datetime", "content")),
                  _select_text(doc, sel.updated, ("datetime", "content"))))
    published, updated = found.published_utc, found.updated_utc
    authors = (
        ((_select_text(doc, sel.author),) if _select_text(doc, sel.author) else ())
        or _names(ld.get("author"))
        or tuple(clean_text(a) for a in meta.get("author", []) + meta.get("article:author", [])
                 if clean_text(a) and not a.startswith("http"))
    )
    summary = _first(_select_text(doc, sel.summary), ld.get("description"),
                     meta.get("og:description"), meta.get("description"))
    image, width, height = _image(ld.get("image"))
    if sel.image:
        found = _select(doc, sel.image)
        if found:
            image = found[0].get("src") or found[0].get("content") or image
    image = image or _first(meta.get("og:image"), meta.get("twitter:image")) or None
    width = width or _int(_first(meta.get("og:image:width")))
    height = height or _int(_first(meta.get("og:image:height")))
    if image:
        image = urls.absolute(url if urls.is_http(url) else page_url, image)
        if not urls.is_http(image):
            image, width, height = None, None, None

    categories = _keywords(ld.get("articleSection")) or tuple(
        clean_text(c) for c in meta.get("article:section", []) if clean_text(c))
    tags = _keywords(ld.get("keywords")) or tuple(
        clean_text(t) for t in meta.get("article:tag", []) + meta.get("news_keywords", [])
        if clean_text(t))
    lang = (doc.get("lang") or ld.get("inLanguage") or _first(meta.get("og:locale")) or None)
    if isinstance(lang, str):
        lang = lang.replace("_", "-").split("-")[0].lower()[:8] or None
    else:
        lang = None

    base = url if urls.is_http(url) else page_url
    content = _content(doc, sel, base, page_url)
    if not summary and content:
        summary = clean_text(lxml.html.fromstring(content).text_content())[:300] if content else ""
    return ArticleData(
        url=url, title=title, published=published, updated=updated, authors=authors,
        summary=summary, content_html=content, image=image, image_width=width,
        image_height=height, language=lang, categories=_dedupe(categories),
        tags=_dedupe(tags),
    ), found


_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:·•»«›‹/]{1,2}\s+")
_ELLIPSIS = ("…", "...")


def _unescaped(value: Any) -> str:
    """Plain text of a title candidate: entities decoded (``&#8216;``, ``&nbsp;``, even
    double-escaped), tags dropped, whitespace normalized."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return ""
    text = value
    for _ in range(2):
        if "&" not in text:
            break
        text = html.unescape(text)
    if "<" in text:
        text = re.sub(r"<[^>]{0,200}>", " ", text)
    return clean_text(text)


def _site_names(doc: etree._Element, ld: dict[str, Any], meta: dict[str, list[str]],
                page_url: str) -> set[str]:
    names = {_unescaped(n).lower() for n in meta.get("og:site_name", []) +
             meta.get("application-name", []) + meta.get("twitter:site", [])}
    publisher = ld.get("publisher")
    if isinstance(publisher, dict):
        names.add(_unescaped(publisher.get("name")).lower())
    host = urlsplit(page_url).hostname or ""
    host = host.removeprefix("www.")
    if host:
        names |= {host, host.split(".")[0]}
    # a "name" of more than six words is the page's own title, which some sites also
    # give as application-name or og:site_name (bench/realworld)
    return {n.lstrip("@") for n in names if n and len(n.split()) <= 6}


def _is_site_name(part: str, sites: set[str]) -> bool:
    low = part.lower().strip()
    squashed = re.sub(r"[^\w]", "", low)
    return any(low == s or squashed == re.sub(r"[^\w]", "", s) or
               (len(s) > 3 and squashed and squashed in re.sub(r"[^\w]", "", s))
               for s in sites)


def is_site_name(text: str, page_html: str, page_url: str) -> bool:
    """Whether ``text`` (e.g. an extracted title) is only the site's name, as
    :func:`page_title` judges it (``og:site_name``, the JSON-LD publisher, the host)."""
    doc = parse_html(xml_safe(page_html), page_url)
    sites = _site_names(doc, _jsonld_article(doc), _meta(doc), page_url)
    return bool(text) and _is_site_name(text, sites)


def _strip_site(title: str, sites: set[str]) -> str:
    """"Headline | TheHill" → "Headline" when a part is the site's name."""
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    if _is_site_name(parts[-1], sites):
        return _strip_site(_TITLE_SEPARATORS.split(title, maxsplit=len(parts) - 2)[0]
                           if len(parts) > 2 else parts[0], sites) or title
    if _is_site_name(parts[0], sites):
        rest = title[title.index(parts[1], len(parts[0])):]
        return rest or title
    return title


_HEADLINE_CLASS = re.compile(r"(?:^|[\s_-])(?:title|headline|heading)(?:[\s_-]|$)",
                             re.IGNORECASE)
_FURNITURE = ("nav", "header", "footer", "aside")


def _headline_element(doc: etree._Element, sites: set[str]) -> str:
    """The first element whose class names a title or headline ("title-text",
    "entry-title", "headline") holding a short line that is not the site's name: the
    headline of a page whose metadata and ``<h1>`` only name the site."""
    body = doc.find("body")
    if body is None:
        return ""
    for el in body.iter():
        cls = el.get("class")
        if not cls or not _HEADLINE_CLASS.search(cls) \
                or any(a.tag in _FURNITURE for a in el.iterancestors()):
            continue
        text = clean_text(el.text_content())
        if 10 <= len(text) <= 200 and not _is_site_name(text, sites):
            return text
    return ""


def _slug_title(page_url: str) -> str:
    """"/story/interview-mit-sharon-stone/" → "Interview mit sharon stone": the last
    path segment of words, when it has at least three."""
    segment = next((p for p in reversed(urlsplit(page_url).path.split("/")) if p), "")
    segment = re.sub(r"\.[a-z0-9]{2,5}$", "", unquote(segment), flags=re.IGNORECASE)
    words = [w for w in re.split(r"[-_+]+", segment) if w]
    if len(words) < 3 or sum(w.isdigit() for w in words) > len(words) // 2:
        return ""
    text = clean_text(" ".join(words))
    return text[:1].upper() + text[1:]


def page_title(doc: etree._Element, ld: dict[str, Any], meta: dict[str, list[str]],
               page_url: str) -> str:
    """The article's headline: JSON-LD ``headline``, og/twitter title, ``<h1>``, ``<title>``;
    entities decoded, the site's name trimmed, the longest when one is a truncation of
    another, never a logo ``<h1>`` (the site's name, or an image alone). When the page
    names only the site (or nothing at all): a title-classed element's line, else the
    URL's last segment of three words or more; "" when there is none of these."""
    sites = _site_names(doc, ld, meta, page_url)
    h1 = ""
    for el in doc.iter("h1"):
        text = clean_text(el.text_content())
        if any(a.tag in ("nav", "aside", "footer") for a in el.iterancestors()):
            continue  # a menu's or a widget's heading
        if text and not _is_site_name(text, sites):
            h1 = text
            break
    head = _unescaped(doc.findtext(".//title"))
    candidates = [_unescaped(ld.get("headline")), _unescaped(meta.get("og:title")),
                  _unescaped(meta.get("twitter:title")), h1, head]
    stripped = [_strip_site(c, sites) if c else "" for c in candidates]
    title = next((c for c in stripped if c and not _is_site_name(c, sites)), "")
    if not title:  # every title the page gives is (like) the site's name
        first = next((c for c in candidates if c), "")
        if len(first.split()) > 4:
            return first  # a headline the site also gives as its og:site_name
        # a name, "ICON Magazine": the headline is elsewhere (bench/realworld)
        return _headline_element(doc, sites) or _slug_title(page_url) or first
    if h1 and h1 != title and len(h1) >= 10 and h1.lower() in title.lower():
        title = h1  # the page's own headline, without a kicker or site name around it
    if title.endswith(_ELLIPSIS) or title == stripped[0]:
        stem = title.rstrip("…. ").lower()
        longer = [c for c in stripped[1:] if c and len(c) > len(title)
                  and c.lower().startswith(stem) and title.endswith(_ELLIPSIS)]
        if longer:
            title = longer[0]
    return title


def _dedupe(items: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return tuple(seen)


def drop_furniture(body: etree._Element) -> None:
    """Remove ``<nav>``, ``<footer>`` and ``<aside>`` blocks from a page, in place (their
    tails stay), unless one holds the article: an ``<article>``, ``<main>`` or ``<h1>``
    inside it (a ``<nav>`` left unclosed wraps the whole page: fifplay.com,
    rhein-neckar-loewen.de). trafilatura deletes such blocks itself before it extracts,
    but only after its prune expressions (regular expressions over every block's class
    and id) have run through them: on news pages' menus, sidebars and footers, a third of
    its time (bench/ingest). On bench/realworld 4 bodies of 884 change, none for the
    worse."""
    for el in list(body.iter("nav", "footer", "aside")):
        if el.getparent() is not None and el.find(".//article") is None \
                and el.find(".//main") is None and el.find(".//h1") is None:
            el.drop_tree()


# precision first (what bench/realworld measures best); recall when it finds nothing.
# Fast mode (no comparison with readability/jusText), then the full mode only for a body
# under FULL_BELOW_WORDS words: on bench/realworld the same snippets kept and excluded
# as the full mode on every page (0.924 / 0.926) at the same speed (its pages are short);
# on long articles (bench/ingest) the full mode's comparison is skipped: 0.39x -> 0.46x.
FULL_BELOW_WORDS = 500


@functools.cache
def _extractor(*, fast: bool, precision: bool) -> Extractor:
    """trafilatura's options for one mode, made once: building them (a dozen config
    reads) on every call cost ~0.1 ms a call. trafilatura takes a shared Extractor
    (``options=``) and never changes it."""
    from trafilatura.settings import Extractor

    return Extractor(output_format="html", fast=fast, precision=precision, images=True,
                     links=True, formatting=True, comments=False, tables=True)


def _content(doc: etree._Element, sel: Selectors, base: str, page_url: str) -> str:
    if sel.content:
        found = _select(doc, sel.content)
        if found:
            html = "".join(lxml.html.tostring(el, encoding="unicode") for el in found)
            return clean_html(html, base)
    body = doc.find("body")
    if body is None:
        return ""
    # trafilatura sees the page as it is (measured on real pages, bench/realworld: every
    # furniture-pruning rule tried lost more article text than it removed boilerplate),
    # minus image captions/credits, which it would keep as article text
    drop_furniture(body)
    drop_captions(body)
    prepare_images(body)
    import trafilatura  # imported lazily: it is slow to import
    from trafilatura.htmlprocessing import build_html_output

    wrapper = _PARSER.makeelement("html")  # its elements keep the C class lookup
    wrapper.append(body)
    # bare_extraction + build_html_output is what extract(output_format="html") does,
    # minus the Simhash fingerprint it computes for every non-text output (more than
    # half of the call on a pruned news page; feedsvc never reads it). No url=: given
    # one, trafilatura resolves every link of the page against the site's scheme and host
    # alone ("#note-1" → the home page); clean_html resolves those it keeps against the
    # page (−4% of extract's instructions, bench/ingest; links only on 124 of 1,629
    # bench/realworld pages change, each to the right target)
    found = trafilatura.bare_extraction(wrapper, options=_extractor(fast=True,
                                                                 precision=True))
    if not found or found.body is None \
            or len(" ".join(found.body.itertext()).split()) < FULL_BELOW_WORDS:
        # a short or empty body: trafilatura's full mode (its own extraction compared
        # with readability's and jusText's) recovers what the fast one missed
        found = trafilatura.bare_extraction(wrapper, options=_extractor(fast=False,
                                                                     precision=True))
    if not found or found.body is None:
        # precision found nothing: a page is an article, so take what recall finds
        found = trafilatura.bare_extraction(wrapper, options=_extractor(fast=True,
                                                                     precision=False))
    if not found or found.body is None:
        return ""
    html = unicodedata.normalize("NFC", build_html_output(found))
    return clean_html(_WRAPPER.sub("", html), base)
