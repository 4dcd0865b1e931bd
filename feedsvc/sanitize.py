"""Article HTML cleaning: what a feed reader may safely show.

Resolves lazy-loaded images (``data-src``, ``srcset``), removes tracking pixels,
share widgets, "Read also" lists, scripts and styles, makes every URL absolute, then
sanitizes with nh3 (an allow-list: no scripts, no event handlers, no styles).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

import lxml.html
import nh3
from lxml import etree

from feedsvc.text import xml_safe

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl",
    "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "li", "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
}
_ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "time": {"datetime"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
_DROP_TAGS = ("script", "style", "noscript", "iframe", "form", "button", "svg", "template",
              "nav", "aside", "footer", "header")
_NOISE_CLASS = re.compile(
    r"(^|[\s_-])(share|sharing|social|read-?also|related|advert|ads?|banner|promo|"
    r"subscribe|newsletter|comments?)([\s_-]|$)",
    re.IGNORECASE,
)
_LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-url", "data-lazy")
_PLACEHOLDER = re.compile(r"^(data:|about:blank)|(blank|spacer|placeholder|pixel)\.(gif|png)",
                          re.IGNORECASE)


def _best_from_srcset(srcset: str) -> str | None:
    best, best_w = None, -1.0
    for part in srcset.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        w = 0.0
        if len(bits) > 1 and bits[1][:-1].replace(".", "", 1).isdigit():
            w = float(bits[1][:-1])
        if w > best_w:
            best, best_w = bits[0], w
    return best


def _fix_image(img: etree._Element) -> bool:
    """Resolve lazy loading; return False when the image is a tracker/placeholder."""
    src = (img.get("src") or "").strip()
    if not src or _PLACEHOLDER.search(src):
        lazy = next((img.get(a) for a in _LAZY_ATTRS if img.get(a)), None)
        if not lazy:
            srcset = img.get("data-srcset") or img.get("srcset")
            lazy = _best_from_srcset(srcset) if srcset else None
        if not lazy:
            return False
        img.set("src", lazy.strip())
    w, h = img.get("width", ""), img.get("height", "")
    return not (w.strip() in ("0", "1") and h.strip() in ("0", "1"))


# a short block that only introduces other articles, or credits a photo
_BOILERPLATE = re.compile(
    r"^\W*(read (also|more)|see also|related( (articles?|posts?|stories|content|tutorials|"
    r"reading|coverage))?|more (on|about) (this|the topic)|you (may|might) (also )?like|"
    r"recommended( (for you|reading))?|more from [\w .-]{1,40}|"
    r"lesen sie (auch|mehr)|mehr zum thema|weitere themen|siehe auch|empfohlene beiträge|"
    r"weitere (beiträge|artikel|nachrichten|meldungen)( [\w .-]{1,40})?|mehr kolumnen|"
    r"videos? zum thema|das (könnte|dürfte) (sie|dich) auch interessieren|"
    r"à lire aussi|lire aussi|a lire aussi|sur le même sujet|"
    r"leer (también|más)|lee también|noticias relacionadas|leia (também|mais)|"
    r"leggi anche|czytaj (też|także|również)|powiązane( tematy)?|więcej informacji|"
    r"читайте (також|также)|дивіться також|смотрите также|"
    r"(foto|fotos|bild|photo|photos|image|crédits? photos?|credit|quelle|source)\s*:.{0,80}"
    r")\W*$",
    re.IGNORECASE)
# a line that only navigates (no article text, nothing after it belongs to it)
_NAV_LINE = re.compile(
    r"^\W*(zurück (nach oben|zum (seitenanfang|newsroom|anfang)|zur übersicht)|"
    r"back to (top|the top)|artikel bewerten|rate this article|nach oben)\W*$",
    re.IGNORECASE)
_CREDIT_START = ("foto", "bild", "photo", "image", "crédit", "credit", "quelle", "source")
_INTRO_TAGS = ("p", "h2", "h3", "h4", "h5", "h6", "strong", "b", "div", "span", "li", "a")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def _words(el: etree._Element) -> str:
    return " ".join(el.text_content().split())


def _link_share(el: etree._Element) -> float:
    """Share of an element's text that sits inside links (1.0 for a teaser list)."""
    total = len(_words(el))
    if not total:
        return 1.0
    return sum(len(_words(a)) for a in el.iter("a")) / total


def _teaser(el: etree._Element) -> bool:
    """A block that only points at other pages: a list, a picture, or mostly links."""
    if not isinstance(el.tag, str):
        return False
    if el.tag in ("ul", "ol", "figure", "img"):
        return True
    return _link_share(el) >= 0.6


def _whole_block(el: etree._Element, root: etree._Element) -> etree._Element:
    """The outermost ancestor (below ``root``) whose text is exactly ``el``'s: the
    ``<p>`` around ``<p><a>Mehr zum Thema</a></p>``."""
    text = _words(el)
    while True:
        parent = el.getparent()
        if parent is None or parent is root or _words(parent) != text:
            return el
        el = parent


def _attached(el: etree._Element, root: etree._Element) -> bool:
    while el is not None and el is not root:
        el = el.getparent()
    return el is root


def drop_boilerplate(root: etree._Element) -> None:
    """Remove "Read also"/related blocks (the heading and the teasers after it),
    navigation lines and photo-credit lines from extracted article HTML, in place.

    A related block is its heading plus what follows it that only points elsewhere:
    lists, pictures, paragraphs that are mostly links (measured on bench/realworld:
    teasers come as lists, as linked headings and as link-only paragraphs). A heading
    that is the first item of a list takes the whole list with it. Article text after
    the block (a paragraph that is not mostly links) stays."""
    for el in list(root.iter(*_INTRO_TAGS)):
        if el is root or not _attached(el, root):
            continue
        text = _words(el)
        if not text or len(text) > 120:
            continue
        if _NAV_LINE.match(text):
            _whole_block(el, root).drop_tree()
            continue
        if not _BOILERPLATE.match(text):
            continue
        block = _whole_block(el, root)
        if block.getparent() is None:
            continue
        if text.lower().startswith(_CREDIT_START):
            block.drop_tree()
            continue
        parent = block.getparent()
        if block.tag == "li" and parent is not None and parent is not root \
                and parent.tag in ("ul", "ol") and parent.index(block) == 0:
            parent.drop_tree()
            continue
        nxt = block.getnext()
        while nxt is not None and _teaser(nxt) and (
                nxt.tag not in _HEADINGS or _link_share(nxt) >= 0.9):
            following = nxt.getnext()
            nxt.drop_tree()
            nxt = following
        block.drop_tree()


_WRAPPERS = ("div", "section", "article", "main")
_PICTURES = ("img", "figure", "picture", "br", "hr")


def _content_box(root: etree._Element) -> etree._Element:
    """The element whose children are the article's blocks: ``root``, or the wrapper
    it only holds."""
    box = root
    while True:
        kids = [c for c in box if isinstance(c.tag, str)]
        if len(kids) != 1 or kids[0].tag not in _WRAPPERS or (box.text or "").strip() \
                or (kids[0].tail or "").strip():
            return box
        box = kids[0]


def _points_elsewhere(el: etree._Element) -> bool:
    """A link block: mostly link text, or a list whose every item is a link (a teaser
    item may hold its headline beside an empty link around its picture)."""
    if any(_words(a) for a in el.iter("a")) and _link_share(el) >= 0.6:
        return True
    items = [li for li in el if isinstance(li.tag, str)] if el.tag in ("ul", "ol") else []
    return bool(items) and all(li.tag == "li" and next(li.iter("a"), None) is not None
                               and len(_words(li)) <= 150 for li in items)


def drop_teaser_tail(root: etree._Element) -> None:
    """Remove what trails an article and only points at other pages, in place: the
    run of link blocks (linked headlines, lists of links, link-only paragraphs), their
    pictures and the short headings over them ("Neuheit", "Alle Nachrichten") after the
    last paragraph of text. Measured on bench/realworld: sites that are not news sites'
    templates end their article this way, and general extraction keeps it.

    Pictures before the run's first block are the article's own and stay; a run
    without a link block or heading (pictures ending an article) stays, and so does
    everything when the run would leave less than a paragraph of article text."""
    box = _content_box(root)
    kids = [c for c in box if isinstance(c.tag, str)]
    run: list[etree._Element] = []
    linked = False
    for el in reversed(kids):
        if (el.tail or "").strip():  # loose text after it is article text
            break
        text = _words(el)
        if el.tag in _PICTURES or not text:
            run.append(el)
        elif _points_elsewhere(el):
            run.append(el)
            linked = True
        elif len(text) <= 80 and (el.tag in _HEADINGS if not linked
                                  else el.tag in _HEADINGS or not text.endswith(".")):
            run.append(el)  # the heading over the teasers, or one with nothing under it
            linked = True
        else:
            break
    while run and (run[-1].tag in _PICTURES or not _words(run[-1])):
        run.pop()  # the article's own last picture, before the first teaser
    if not linked:
        return
    kept = sum(len(_words(c)) for c in kids if not any(c is r for r in run))
    if kept < 200:
        return
    for el in run:
        el.drop_tree()


def prepare(root: etree._Element, base_url: str) -> None:
    """Remove page furniture from an lxml (sub)tree in place and absolutize its URLs."""
    for el in list(root.iter(*_DROP_TAGS)):
        if el is not root and el.getparent() is not None:
            el.drop_tree()
    for el in list(root.iter()):
        if el is root or not isinstance(el.tag, str) or el.getparent() is None:
            continue
        if _noise(f"{el.get('class', '')} {el.get('id', '')}"):
            el.drop_tree()
    for img in list(root.iter("img")):
        if not _fix_image(img) and img.getparent() is not None:
            img.drop_tree()
    _absolutize(root, base_url)


@lru_cache(maxsize=8192)
def _noise(cls: str) -> bool:
    """Whether a "class id" string names a share widget, an ad, a related list…"""
    return bool(_NOISE_CLASS.search(cls))


_URL_ATTR = {"a": "href", "img": "src", "blockquote": "cite", "q": "cite"}  # the URL
# attributes sanitizing keeps (_ALLOWED_ATTRS)


def _absolutize(root: etree._Element, base_url: str) -> None:
    """Make the URLs that sanitizing keeps absolute, in place; drop one that cannot be
    resolved (a malformed IPv6 host, say)."""
    for el in root.iter(*_URL_ATTR):
        attr = _URL_ATTR[el.tag]
        value = el.get(attr)
        if value is None:
            continue
        try:
            resolved = urljoin(base_url, value.strip())
        except ValueError:
            del el.attrib[attr]
            continue
        if resolved != value:
            el.set(attr, resolved)


_CREDIT_TOKEN = re.compile(r"^(\w+[-_])?(credits?|copyright|caption|photo-?credit|"
                           r"image-?credit|figcaption|bildunterschrift|imagecaption)([-_].*)?$",
                           re.IGNORECASE)


def drop_captions(root: etree._Element) -> None:
    """Remove image captions and credits (``<figcaption>``, ``.credit``, ``.caption``)
    from a page, in place: general extraction keeps them as article text."""
    found = [el for el in root.iter() if el.tag == "figcaption"
             or ((cls := el.get("class")) and _credit_class(cls))]
    for el in found:
        if el is not root and el.getparent() is not None and _attached(el, root) \
                and len(" ".join(el.text_content().split())) < 300:
            el.drop_tree()


@lru_cache(maxsize=8192)
def _credit_class(cls: str) -> bool:
    """Whether a class attribute names a caption or credit (memoized: a site's pages
    repeat their class names)."""
    return any(_CREDIT_TOKEN.match(t) for t in cls.split())


def prepare_images(root: etree._Element) -> None:
    """Resolve lazy images and drop trackers/placeholders, in place (URLs are made
    absolute later, by :func:`clean_html`, on the much smaller article)."""
    for img in list(root.iter("img")):
        if not _fix_image(img) and img.getparent() is not None:
            img.drop_tree()


def fast_html_parser(**options: Any) -> lxml.html.HTMLParser:
    """An ``lxml.html`` parser whose elements are all plain ``HtmlElement`` (no form,
    input or label classes, which feedsvc never uses), looked up in C: the stock
    parser asks a Python function for the class of every element Python touches
    (~1,000 calls a page; 4% of an article's extraction, bench/ingest)."""
    parser = lxml.html.HTMLParser(**options)
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction, entity=lxml.html.HtmlEntity))
    return parser


_FRAGMENT_PARSER = fast_html_parser()


def clean_html(html: str, base_url: str) -> str:
    """Sanitized, absolutized HTML for a feed's content element."""
    if not html or not html.strip():
        return ""
    try:
        frag = lxml.html.fragment_fromstring(html, create_parent="div",
                                             parser=_FRAGMENT_PARSER)
    except (etree.ParserError, ValueError):
        return ""
    prepare(frag, base_url)
    drop_boilerplate(frag)
    drop_teaser_tail(frag)
    raw = "".join(
        [frag.text or ""] + [lxml.html.tostring(c, encoding="unicode") for c in frag]
    )
    cleaned = nh3.clean(
        xml_safe(raw),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return cleaned.strip()

