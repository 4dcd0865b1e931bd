"""Article extraction: the 30 bundled sample pages, content hygiene, hostile input, dates."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from conftest import EXPECTED, SAMPLE

from feedsvc import dates
from feedsvc.config import Selectors
from feedsvc.errors import ParseError
from feedsvc.extract import extract, page_bytes
from feedsvc.types import ArticleData

KYIV = ZoneInfo("Europe/Kyiv")
UTC_ZONE = ZoneInfo("UTC")
SITE = "https://sample.feedsvc.example/"
PAGE_URL = "https://news.example.com/news/story-1"
PAGES = sorted(EXPECTED)

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_illegal(text: str) -> list[str]:
    return _NOT_XML_CHAR.findall(text)


@cache
def sample(name: str) -> ArticleData:
    """A sample page extracted the way the ``files`` source does it."""
    path = SAMPLE / name
    return extract(path.read_bytes(), path.resolve().as_uri(), tz=KYIV)


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def text_of(html: str) -> str:
    if not html.strip():
        return ""
    return " ".join(lxml.html.fromstring(f"<div>{html}</div>").text_content().split())


def norm(s: str) -> str:
    return " ".join(s.split())


# Distinct paragraphs (general extraction drops repeated text, so never repeat one).
PARAS = (
    "The city council met on Tuesday to approve repairs of the northern water main.",
    "Engineers said the work would take three weeks and cost less than planned.",
    "Residents of the affected districts will receive water from tanker trucks.",
    "The mayor thanked the crews who worked through the night to find the leak.",
)


def page(*, title: str | None = "Council approves water main repairs", head: str = "",
         body: str | None = None, lang: str = "en", charset: str | None = "utf-8") -> str:
    """A small, ordinary article page."""
    meta = f'<meta charset="{charset}">' if charset else ""
    t = f"<title>{title}</title>" if title is not None else ""
    h1 = f"<h1>{title}</h1>" if title is not None else ""
    if body is None:
        body = "".join(f"<p>{p}</p>" for p in PARAS)
    return (f'<!DOCTYPE html><html lang="{lang}"><head>{meta}{t}{head}</head>'
            f"<body><article>{h1}{body}</article></body></html>")


def run(html: str | bytes, *, tz: ZoneInfo = KYIV, url: str = PAGE_URL,
        **kw: object) -> ArticleData:
    body = html.encode("utf-8") if isinstance(html, str) else html
    return extract(body, url, tz=tz, **kw)  # type: ignore[arg-type]


# -- 1. the sample pages against EXPECTED.json ----------------------------------------
@pytest.mark.parametrize("name", PAGES)
def test_sample_page_metadata(name: str) -> None:
    exp = EXPECTED[name]
    art = sample(name)

    assert art.url == exp["url"]
    assert art.title == exp["title"]
    if exp["published"] is None:
        assert art.published is None
        assert exp["kyiv_day"] is None
    else:
        assert art.published is not None
        assert art.published.utcoffset() == timedelta(0)
        assert art.published == utc(exp["published"])
        assert dates.local_day(art.published, KYIV) == exp["kyiv_day"]
    assert art.language == exp["lang"]
    assert set(art.categories) | set(art.tags) == set(exp["categories"])


# -- 2. content hygiene on the sample pages -------------------------------------------
def _source_tree(name: str) -> lxml.html.HtmlElement:
    raw = (SAMPLE / name).read_bytes()
    enc = EXPECTED[name]["encoding"]
    return lxml.html.document_fromstring(raw.decode(enc))


def _texts(tree: lxml.html.HtmlElement, css: str) -> list[str]:
    return [t for t in (norm(el.text_content()) for el in tree.cssselect(css)) if t]


@pytest.mark.parametrize("name", PAGES)
def test_sample_content_keeps_article_paragraphs(name: str) -> None:
    tree = _source_tree(name)
    paragraphs = _texts(tree, ".article-body p")
    assert paragraphs, "sample page without paragraphs"
    content = text_of(sample(name).content_html)
    for p in paragraphs:
        assert p in content


@pytest.mark.parametrize("name", PAGES)
def test_sample_content_has_no_page_furniture(name: str) -> None:
    tree = _source_tree(name)
    html = sample(name).content_html
    content = text_of(html)
    assert "<script" not in html.lower()
    assert "_paq" not in html and "matomo" not in html
    assert "track.example" not in html
    # navigation, footer, "Read also" list and share widget
    for text in (_texts(tree, "footer p") + _texts(tree, ".read-also h2")
                 + _texts(tree, ".read-also li") + _texts(tree, ".share span")):
        assert text not in content
    in_body = set(tree.xpath("//*[contains(@class,'article-body')]//a/@href"))
    for href in (tree.xpath("//nav//a/@href") + tree.xpath("//footer//a/@href")
                 + tree.xpath("//*[contains(@class,'read-also')]//a/@href")):
        if href in in_body:
            continue  # the story itself links there too
        absolute = SITE + href.lstrip("/")
        assert f'href="{absolute}"' not in html, f"navigation link {href} leaked"
    assert "t.me/share" not in html and "x.com/intent" not in html and "mailto:" not in html
    assert "Telegram" not in content


@pytest.mark.parametrize("name", PAGES)
def test_sample_content_urls_are_absolute(name: str) -> None:
    tree = _source_tree(name)
    html = sample(name).content_html
    frag = lxml.html.fromstring(f"<div>{html}</div>")
    refs = frag.xpath("//@href | //@src")
    in_source = tree.xpath("//*[contains(@class,'article-body')]//*[self::a or self::img]")
    assert len(refs) == len(in_source)
    for ref in refs:
        assert ref.startswith(SITE), ref


@pytest.mark.parametrize("name", PAGES)
def test_sample_content_images_resolved(name: str) -> None:
    tree = _source_tree(name)
    html = sample(name).content_html
    frag = lxml.html.fromstring(f"<div>{html}</div>")
    got = frag.xpath("//img/@src")
    wanted = []
    for img in tree.cssselect(".article-body img"):
        real = img.get("data-src") or img.get("src")
        wanted.append(SITE + real.lstrip("/"))
    assert got == wanted
    assert not any(src.startswith("data:") for src in got)


def test_lazy_loaded_sample_images_use_data_src() -> None:
    lazy = [n for n in PAGES if b'data-src="' in (SAMPLE / n).read_bytes()]
    assert len(lazy) >= 2  # the sample set does exercise lazy loading
    for name in lazy:
        slug = EXPECTED[name]["url"].rsplit("/", 1)[1]
        assert f'<img src="{SITE}img/{slug}.jpg"' in sample(name).content_html


# -- 3. bad input ---------------------------------------------------------------------
BROKEN = {
    "unclosed-tags": (
        "<html><head><title>Council approves water main repairs</title></head><body>"
        "<div class='story'><h1>Council approves water main repairs"
        f"<p>{PARAS[0]}<p>{PARAS[1]}<p><b>{PARAS[2]}<p><i>{PARAS[3]}"
    ),
    "stray-closing-div": (
        "<html><head><title>Council approves water main repairs</title></head><body>"
        "</div></div><article><h1>Council approves water main repairs</h1></span>"
        f"<p>{PARAS[0]}</p></div><p>{PARAS[1]}</p></td><p>{PARAS[2]}</p></div>"
        f"<p>{PARAS[3]}</p></article></div></body></html></div>"
    ),
    "truncated-mid-tag": (
        "<html><head><title>Council approves water main repairs</title></head><body>"
        "<article><h1>Council approves water main repairs</h1>"
        + "".join(f"<p>{p}</p>" for p in PARAS) + '<p><img src="/img/a.jpg" alt="the w'
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_html_still_gives_title_and_body(kind: str) -> None:
    art = run(BROKEN[kind])
    assert art.title == "Council approves water main repairs"
    content = text_of(art.content_html)
    for p in PARAS[:3]:
        assert p in content


def test_page_without_date_has_no_published() -> None:
    art = run(page())
    assert art.title == "Council approves water main repairs"
    assert art.published is None


CONTROL_TITLE = "Bad\x01ti\x02tle\x08 with\x0b con\x1btrols end"


@pytest.mark.parametrize("where", ["title-tag", "og-title", "h1", "json-ld"])
def test_control_characters_removed_from_title(where: str) -> None:
    t = CONTROL_TITLE
    if where == "title-tag":
        html = f"<html><head><meta charset='utf-8'><title>{t}</title></head><body>{PARAS[0]}"
    elif where == "og-title":
        html = page(title="Plain", head=f"<meta property='og:title' content='{t}'>")
    elif where == "h1":
        html = f"<html><head><meta charset='utf-8'></head><body><h1>{t}</h1><p>{PARAS[0]}</p>"
    else:
        ld = json.dumps({"@type": "NewsArticle", "headline": t})
        html = page(title="Plain", head=f'<script type="application/ld+json">{ld}</script>')
    art = run(html)
    assert art.title == "Badtitle with controls end"
    assert xml_illegal(art.title) == []


def test_nul_character_removed_from_title() -> None:
    html = page(title="Water\x00 main repairs")
    art = run(html)
    assert xml_illegal(art.title) == []
    assert art.title == "Water main repairs"  # dropped, not shown as a "\ufffd" box


def test_lone_surrogate_removed_from_title() -> None:
    # JSON escapes are how a lone surrogate really reaches Python text from a page.
    ld = '{"@type": "NewsArticle", "headline": "Broken \\ud800 surrogate\\udfff title"}'
    art = run(page(title="Plain", head=f'<script type="application/ld+json">{ld}</script>'))
    assert art.title == "Broken surrogate title"
    assert xml_illegal(art.title) == []


@pytest.mark.parametrize("where", ["title-tag", "og-title", "json-ld"])
def test_title_with_controls_and_surrogates_is_xml_legal(where: str) -> None:
    nasty = "News\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x1b\ufffe\uffff &#xd800; item"
    if where == "title-tag":
        html = (f"<html><head><meta charset='utf-8'><title>{nasty}</title></head>"
                f"<body><p>{PARAS[0]}</p>")
        body = html.encode("utf-8")
    elif where == "og-title":
        html = page(title="Plain", head=f'<meta property="og:title" content="{nasty}">')
        body = html.encode("utf-8")
    else:
        ld = ('{"@type": "NewsArticle", "headline": "News\\u0000\\u0001\\u0008\\u000b'
              '\\u001b\\ud800\\ufffe item"}')
        body = page(title="Plain",
                    head=f'<script type="application/ld+json">{ld}</script>').encode()
    art = extract(body, PAGE_URL, tz=KYIV)
    assert xml_illegal(art.title) == []
    assert art.title.startswith("News") and art.title.endswith("item")
    assert xml_illegal(art.summary) == [] and xml_illegal(art.content_html) == []


def test_ascii_page_with_nul_bytes_served_as_utf8_stays_readable() -> None:
    body = (b"<html><head><title>Bad\x00ti\x01tle</title></head>"
            b"<body><h1>X\x00Y\x01Z</h1></body></html>")
    art = extract(body, PAGE_URL, tz=KYIV, declared_charset="utf-8")
    assert art.title.isascii(), f"decoded as another charset: {art.title!r}"
    assert art.title == "XYZ"


UK_TITLE = "Мешканці Харкова отримають сорок нових автобусів"
UK_PARAS = (
    "Місто отримає сорок нових автобусів до кінця року, повідомили в міській раді Харкова.",
    "Перші десять машин уже вийшли на маршрути в Салтівському та Індустріальному районах.",
    "Нові автобуси придбали за кошти міжнародного кредиту, решту доставлять до грудня.",
)


def uk_page(charset: str | None) -> str:
    return page(title=UK_TITLE, lang="uk", charset=charset,
                body="".join(f"<p>{p}</p>" for p in UK_PARAS))


def assert_ukrainian(art: ArticleData) -> None:
    assert art.title == UK_TITLE
    content = text_of(art.content_html)
    for p in UK_PARAS:
        assert p in content


def test_windows_1251_page_with_declaration() -> None:
    body = uk_page("windows-1251").encode("cp1251")
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset="windows-1251"))


def test_windows_1251_page_without_any_declaration() -> None:
    body = uk_page(None).encode("cp1251")
    assert b"charset" not in body
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset=None))


def test_windows_1251_sample_page_without_meta_charset() -> None:
    name = "19-meshkantsi-kharkova-otrymaiut-novi-avtobusy.html"
    raw = (SAMPLE / name).read_bytes().replace(b'<meta charset="windows-1251">', b"")
    assert b"charset" not in raw
    art = extract(raw, (SAMPLE / name).resolve().as_uri(), tz=KYIV, declared_charset=None)
    assert art.title == EXPECTED[name]["title"]
    assert "Харкові зріс майже на третину" in text_of(art.content_html)


def test_utf8_page_served_with_wrong_charset_header() -> None:
    body = uk_page("utf-8").encode("utf-8")
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset="windows-1251"))


def test_utf8_sample_page_served_as_windows_1251() -> None:
    name = "12-enerhetyka-hotuietsia-do-zymy.html"
    path = SAMPLE / name
    art = extract(path.read_bytes(), path.resolve().as_uri(), tz=KYIV,
                  declared_charset="windows-1251")
    assert art.title == EXPECTED[name]["title"]
    assert set(art.categories) | set(art.tags) == set(EXPECTED[name]["categories"])


@pytest.mark.parametrize("declared", [None, "windows-1251"])
def test_utf8_bom_page(declared: str | None) -> None:
    body = b"\xef\xbb\xbf" + uk_page(None).encode("utf-8")
    art = extract(body, PAGE_URL, tz=KYIV, declared_charset=declared)
    assert_ukrainian(art)
    assert "\ufeff" not in art.title and "\ufeff" not in art.content_html


def test_utf8_bom_page_with_a_broken_byte_stays_utf8() -> None:
    # the BOM wins over a declared charset even when a byte further on is not UTF-8
    body = b"\xef\xbb\xbf" + uk_page(None).encode("utf-8").replace(
        b"</body>", b"<p>\xff</p></body>")
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset="windows-1251"))


def test_utf8_page_with_control_bytes_keeps_its_text() -> None:
    # control bytes in a non-ASCII UTF-8 page are deleted from the bytes (the fast path):
    # the letters around them, two-byte Cyrillic among them, stay whole
    body = uk_page("utf-8").encode("utf-8")
    mangled = body.replace("Харкова".encode(), "Хар\x01кова\x00".encode()).replace(
        "Місто".encode(), "Мі\x1bсто".encode())
    assert page_bytes(mangled, "utf-8") == body  # exactly the control bytes are gone
    art = extract(mangled, PAGE_URL, tz=KYIV, declared_charset="utf-8")
    assert_ukrainian(art)
    assert xml_illegal(art.content_html) == [] and xml_illegal(art.summary) == []


def test_malformed_json_ld_falls_back_to_meta_tags() -> None:
    broken_ld = ('{"@type": "NewsArticle", "headline": "Headline from JSON-LD", '
                 '"datePublished": "2020-01-01T00:00:00Z", "articleSection": "LD",}')
    head = (f'<script type="application/ld+json">{broken_ld}</script>'
            '<meta property="og:title" content="Headline from OpenGraph">'
            '<meta property="article:published_time" content="2026-11-19T14:10:00+02:00">'
            '<meta property="article:section" content="Politics">'
            '<meta property="article:tag" content="Sanctions">'
            '<meta name="author" content="Pavlo Honchar">')
    art = run(page(title="Headline from the title tag", head=head))
    assert art.title == "Headline from OpenGraph"
    assert art.published == datetime(2026, 11, 19, 12, 10, tzinfo=UTC)
    assert art.categories == ("Politics",)
    assert art.tags == ("Sanctions",)
    assert art.authors == ("Pavlo Honchar",)


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_empty_body_raises_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        extract(body, PAGE_URL, tz=KYIV)


def test_page_without_any_title_raises_parse_error() -> None:
    html = page(title=None)
    assert "<title>" not in html and "<h1>" not in html
    with pytest.raises(ParseError) as info:
        run(html)
    assert info.value.url == PAGE_URL


def test_page_without_any_title_takes_its_urls_words() -> None:
    # no <title>, no og:title, no <h1> (thelocal.se's pages in bench/realworld): the
    # URL's last segment of three words or more is a better title than losing the page
    html = page(title=None)
    url = "https://news.example.com/20200428/meet-the-engineer-who-rebuilt-the-bridge"
    assert run(html, url=url).title == "Meet the engineer who rebuilt the bridge"


def test_operator_selectors_win_over_json_ld_and_meta() -> None:
    ld = json.dumps({"@type": "NewsArticle", "headline": "Headline from JSON-LD",
                     "datePublished": "2024-01-01T10:00:00Z"})
    html = (
        '<html><head><meta charset="utf-8"><title>Title tag</title>'
        f'<script type="application/ld+json">{ld}</script>'
        '<meta property="og:title" content="Headline from OpenGraph">'
        '<meta property="article:published_time" content="2024-02-02T10:00:00Z">'
        "</head><body><h1>Headline from h1</h1>"
        '<div class="op-title">Headline chosen by the operator</div>'
        '<span class="op-date">2024-03-03T12:00:00+00:00</span>'
        f'<div class="op-body"><p>{PARAS[0]}</p><p>{PARAS[1]}</p></div>'
        f'<div class="elsewhere"><p>{PARAS[2]}</p><p>{PARAS[3]}</p></div>'
        "</body></html>"
    )
    sel = Selectors(title=".op-title", published=".op-date", content=".op-body")
    art = run(html, select=sel)
    assert art.title == "Headline chosen by the operator"
    assert art.published == datetime(2024, 3, 3, 12, 0, tzinfo=UTC)
    content = text_of(art.content_html)
    assert PARAS[0] in content and PARAS[1] in content
    assert PARAS[2] not in content and PARAS[3] not in content


def test_operator_published_selector_reads_datetime_attribute_in_tz() -> None:
    html = page(head='<meta property="article:published_time" content="2020-01-01T00:00:00Z">',
                body='<p class="when"><time datetime="2026-11-18T13:20:00">yesterday</time></p>'
                     + "".join(f"<p>{p}</p>" for p in PARAS))
    art = run(html, select=Selectors(published=".when time"))
    assert art.published == datetime(2026, 11, 18, 11, 20, tzinfo=UTC)


TIME_PAGE = page(body='<p class="byline"><time datetime="2026-11-18T13:20:00">'
                      "18 November 2026, 13:20</time></p>"
                      + "".join(f"<p>{p}</p>" for p in PARAS))


def test_offsetless_time_element_read_in_source_zone() -> None:
    art = run(TIME_PAGE, tz=KYIV)
    assert art.published == datetime(2026, 11, 18, 11, 20, tzinfo=UTC)  # Kyiv is UTC+2
    assert art.published.utcoffset() == timedelta(0)
    assert dates.local_day(art.published, KYIV) == "2026-11-18"


def test_offsetless_time_element_depends_on_zone() -> None:
    kyiv = run(TIME_PAGE, tz=KYIV).published
    in_utc = run(TIME_PAGE, tz=UTC_ZONE).published
    assert in_utc == datetime(2026, 11, 18, 13, 20, tzinfo=UTC)
    assert kyiv is not None and in_utc - kyiv == timedelta(hours=2)


def test_scripts_and_event_handlers_never_reach_content() -> None:
    body = (
        f"<p>{PARAS[0]}</p>"
        "<script>alert(1)</script>"
        f'<p onclick="alert(2)" onmouseover="alert(5)">{PARAS[1]}</p>'
        f'<p><a href="javascript:alert(3)">a bad link</a> and '
        f'<a href="/news/ok" onclick="steal()">a good link</a>. {PARAS[2]}</p>'
        f'<p><img src="/img/photo.jpg" onerror="alert(4)" alt="photo"> {PARAS[3]}</p>'
    )
    art = run(page(body=body))
    html = art.content_html
    low = html.lower()
    assert "<script" not in low
    assert "alert(" not in low and "steal()" not in low
    assert "onclick" not in low and "onerror" not in low and "onmouseover" not in low
    assert "javascript:" not in low
    content = text_of(html)
    for p in PARAS:
        assert p in content
    assert 'href="https://news.example.com/news/ok"' in html


def test_srcset_without_src_resolves_to_widest_absolute_url() -> None:
    body = (f"<p>{PARAS[0]}</p>"
            '<figure><img srcset="a.jpg 300w, b.jpg 1200w" alt="the leak"></figure>'
            f"<p>{PARAS[1]}</p><p>{PARAS[2]}</p>")
    art = run(page(body=body))
    frag = lxml.html.fromstring(f"<div>{art.content_html}</div>")
    assert frag.xpath("//img/@src") == ["https://news.example.com/news/b.jpg"]


def test_relative_links_in_the_body_resolve_against_the_page() -> None:
    # a footnote link and a sibling page: against the article's URL, not the site's
    # home page (trafilatura, given a URL, resolves links against scheme and host only)
    body = (f'<p>{PARAS[0]}<a href="#note-1">[1]</a></p>'
            f'<p>{PARAS[1]} <a href="story-2">The next step</a>.</p>'
            f'<p>{PARAS[2]} <a href="../about/water.html">About the water main</a>.</p>'
            f'<p id="note-1">{PARAS[3]}</p>')
    art = run(page(body=body), url="https://news.example.com/news/2026/story-1")
    hrefs = lxml.html.fromstring(f"<div>{art.content_html}</div>").xpath("//a/@href")
    assert hrefs == ["https://news.example.com/news/2026/story-1#note-1",
                     "https://news.example.com/news/2026/story-2",
                     "https://news.example.com/news/about/water.html"]


# -- 4. human-text dates --------------------------------------------------------------
@pytest.mark.parametrize("text", ["31 May, 2024 Friday", "31 травня 2024"], ids=["en", "uk"])
def test_human_dates(text: str) -> None:
    dt = dates.parse(text, KYIV, fuzzy=True)
    assert dt is not None
    assert dt.utcoffset() == timedelta(0)
    assert dates.local_day(dt, KYIV) == "2024-05-31"


@pytest.mark.parametrize("text", ["lorem ipsum 42 dolor", "room 101, floor 3",
                                  "99/99/9999", "no date here at all"])
def test_garbage_text_is_not_a_date(text: str) -> None:
    assert dates.parse(text, KYIV, fuzzy=True) is None


def test_iso_date_only_is_local_midnight() -> None:
    dt = dates.parse("2024-11-18", KYIV, fuzzy=True)
    assert dt == datetime(2024, 11, 18, tzinfo=KYIV)
    assert dt == datetime(2024, 11, 17, 22, 0, tzinfo=UTC)
    assert dt.utcoffset() == timedelta(0)
    assert dates.parse("2024-11-18", UTC_ZONE, fuzzy=True) == datetime(2024, 11, 18, tzinfo=UTC)


def test_koi8_u_page_with_declaration() -> None:
    body = uk_page("koi8-u").encode("koi8_u")
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset="koi8-u"))
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset=None))  # from <meta>


def test_windows_1251_page_that_declares_utf8() -> None:
    """Bytes in one encoding, a declaration of another: the bytes win."""
    body = uk_page("utf-8").encode("cp1251")
    assert_ukrainian(extract(body, PAGE_URL, tz=KYIV, declared_charset="utf-8"))


# -- 5. real-page failure classes (issue 9): tests/data/pages/ ----------------------------
PAGE_DIR = Path(__file__).parent / "data" / "pages"
BRIDGE = (
    "The regional council voted on Tuesday evening to rebuild the old river bridge",
    "Engineers found that two of the five supporting pillars had cracked",
    "A temporary footbridge for pedestrians and cyclists is expected to open",
)


def page_file(name: str, url: str = PAGE_URL) -> ArticleData:
    return extract((PAGE_DIR / name).read_bytes(), url, tz=KYIV)


@pytest.mark.parametrize("name", ["form-wrapped.html", "ad-class-wrappers.html"])
def test_article_inside_form_or_ad_named_wrapper_is_kept(name: str) -> None:
    # one <form> around the whole page (ASP.NET sites); wrappers whose classes contain
    # "ad" (Page-ad-margins, non-ad-column, ad_body) hold the article itself
    content = text_of(page_file(name).content_html)
    for p in BRIDGE:
        assert p in content


def test_read_also_block_and_photo_credit_dropped_after_extraction() -> None:
    art = page_file("read-also.html")
    content = text_of(art.content_html)
    assert BRIDGE[0] in content and BRIDGE[2] in content
    assert "Read also" not in content
    assert "Council elects a new mayor" not in content
    assert "Photo: Jan Example" not in content
    assert "https://news.example.com/img/bridge.jpg" in art.content_html  # the image stays


def test_related_teasers_dropped_article_text_after_them_kept() -> None:
    # measured on bench/realworld: "Mehr zum Thema" as a linked paragraph followed by
    # link-only teasers, a related heading as the first item of its own list, a
    # heading followed by a teaser picture and a linked headline, a "back to top" line
    content = text_of(page_file("related-teasers.html").content_html)
    for p in BRIDGE:
        assert p in content
    assert "Traffic will be diverted through the eastern ring road" in content
    assert "What comes next" in content  # a real heading after the block stays
    assert "The council promised to publish a detailed timetable" in content
    for leak in ("Mehr zum Thema", "Brückenbau", "Neue Fähre", "Fernwärme", "Related coverage",
                 "Council elects a new mayor", "Weitere Artikel", "Hafenfest",
                 "Zurück nach oben"):
        assert leak not in content, leak


def test_teasers_trailing_the_article_dropped() -> None:
    # a heading over linked headlines, a job ad's link, their pictures: what follows
    # the last paragraph of text and only points elsewhere (bench/realworld)
    art = page_file("teaser-tail.html")
    content = text_of(art.content_html)
    for p in BRIDGE:
        assert p in content
    assert "the council said" in " ".join(content.replace(",", "").split())
    for leak in ("Neuheit", "Fähre fährt", "Hafenfest", "DEN RICHTIGEN FINDEN", "H.E.L.P."):
        assert leak not in content, leak
    assert "https://news.example.com/img/bridge.jpg" in art.content_html
    assert "/img/t1.jpg" not in art.content_html and "/img/ad.jpg" not in art.content_html


def test_article_ending_in_pictures_or_text_with_a_link_keeps_its_end() -> None:
    art = page_file("picture-tail.html")
    content = text_of(art.content_html)
    assert BRIDGE[2] in content
    assert "interview with the city engineer" in content
    assert "https://news.example.com/img/bridge.jpg" in art.content_html


def test_json_ld_headline_entities_decoded() -> None:
    assert page_file("title-entities.html").title == "Council’s ‘bridge plan’ approved"


def test_site_name_suffix_trimmed_from_title() -> None:
    assert page_file("title-site-suffix.html").title == "Senate passes the bridge funding bill"


def test_truncated_json_ld_headline_loses_to_full_title() -> None:
    assert page_file("title-truncated-headline.html").title == (
        "Council approves the long-awaited repairs of the old river bridge after a "
        "two-year dispute")


def test_logo_h1_is_not_the_title() -> None:
    assert page_file("title-logo-h1.html").title == "Bridge repairs approved"


def test_title_found_when_every_declared_title_is_the_site_name() -> None:
    # <title>, og:title, twitter:title and the logo <h1> all name the magazine; the
    # headline is in an element whose class says it is the title (iconmagazine.de)
    url = "https://magazine.example.de/story/interview-mit-der-brueckenbauerin/"
    assert page_file("title-only-site-name.html", url).title == "Davor und Danach"
    # no such element: the story's URL names it, better than the magazine's name
    html = (PAGE_DIR / "title-only-site-name.html").read_text("utf-8")
    headline = re.search(r'<div class="editorial-module.*?</div></div>', html)
    assert headline is not None
    assert run(html.replace(headline.group(0), ""), url=url).title == \
        "Interview mit der brueckenbauerin"


def test_page_title_given_as_application_name_stays_the_title() -> None:
    # msn.com gives each page's title as its application-name: not a site name, so no
    # widget's or section's "title" element replaces it
    assert page_file("title-as-application-name.html").title == \
        "Student halls too full to be safe, experts warn"
    # handball.ch: the same, with the site's name as a suffix; the <h1> is the headline
    html = (PAGE_DIR / "title-as-application-name.html").read_text("utf-8")
    suffixed = html.replace("experts warn</title>", "experts warn - Example News</title>")
    suffixed = suffixed.replace('experts warn">', 'experts warn - Example News">')
    suffixed = suffixed.replace("<article>", "<article><h1>Student halls too full to be "
                                "safe, experts warn</h1>")
    assert suffixed.count("Example News") == 2
    assert run(suffixed).title == "Student halls too full to be safe, experts warn"


def test_menus_sidebars_and_footers_are_dropped_before_extraction() -> None:
    from feedsvc.extract import drop_furniture

    doc = lxml.html.document_fromstring(
        "<html><body><nav><a href='/'>Home</a></nav>before<div><p>Article text.</p>"
        "<aside class='related'><a href='/b'>Other story</a></aside>after aside</div>"
        "<footer>Imprint</footer>end</body></html>")
    body = doc.find("body")
    drop_furniture(body)
    assert body.text_content() == "beforeArticle text.after asideend"  # tails kept


def test_an_unclosed_nav_around_the_whole_page_keeps_the_article() -> None:
    # fifplay.com, rhein-neckar-loewen.de: a <nav> never closed holds everything after
    # it; dropping it as page furniture would leave nothing
    content = text_of(page_file("unclosed-nav.html").content_html)
    for p in BRIDGE:
        assert p in content

