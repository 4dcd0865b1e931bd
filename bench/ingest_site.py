"""A generated news site on 127.0.0.1 for ``bench/ingest``: pages and their server.

``generate(folder, base, n)`` writes ``n`` realistic article pages (44–120 KB each:
header, nav, footer, JSON-LD ``NewsArticle`` with ``datePublished``, OpenGraph and
``article:*`` meta, 5–15 paragraphs in ``<article><div class="article-body">``, a
"Read also" aside, share widgets, lazy images, inline styles and scripts inflating the
size) plus listings of at most ``per_listing`` links each (``feedsvc.sources.base.MAX_LINKS``
is 500), deterministically (seeded).

``python bench/ingest_site.py FOLDER N PER_LISTING`` binds 127.0.0.1:0, generates the
pages for its own base URL, prints ``ready PORT`` and serves them from memory
(``ThreadingHTTPServer``, HTTP/1.1 keep-alive, gzip when accepted) until its stdin
closes (so it never outlives ``bench/ingest``) or it gets SIGTERM.

Listings and articles carry an ETag and answer ``If-None-Match`` with 304; ``GET
/__bench__/validators/off`` makes the server ignore validators (and send none), ``.../on``
restores them; ``GET /__bench__/stats`` returns request counts as JSON.
"""

from __future__ import annotations

import gzip
import json
import random
import signal
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LISTING = "/latest/{n}"
LINKS_SELECTOR = "section.latest article.teaser h2 a"

# -- text -----------------------------------------------------------------------------
_EN_SUBJECTS = [
    "The defense ministry", "Air force spokesperson Taras Kovalenko", "The city council",
    "The grid operator", "Foreign ministers", "EU ambassadors", "The central bank",
    "Regional officials in Kharkiv", "The national museum", "Organizers of the book fair",
    "Emergency services", "Energy minister Olha Shevchenko", "Analysts in Kyiv",
    "The state railway", "Local volunteers", "A senior diplomat", "Farmers in the south",
    "The prosecutor's office", "Doctors at the regional hospital", "Teachers in Lviv",
]
_EN_VERBS = [
    "said on Tuesday that", "confirmed that", "warned that", "told reporters that",
    "announced that", "expects that", "has denied reports that", "noted that",
    "wrote in a statement that", "argued that",
]
_EN_OBJECTS = [
    "new air defense systems would protect large cities this winter",
    "repairs to the power grid were ahead of schedule",
    "a fresh package of sanctions was being prepared in Brussels",
    "the summit in Vienna would focus on reconstruction funding",
    "shelling had damaged a substation on the outskirts of Kharkiv",
    "scheduled blackouts were unlikely before the end of the month",
    "the festival would go ahead despite the air raid alerts",
    "the museum had digitized more than ten thousand objects",
    "additional howitzers and missiles were on their way to the front",
    "grain exports through the Black Sea ports had risen again",
    "the theatre would reopen its main stage in December",
    "electricity imports from neighbouring countries had doubled",
    "negotiations over the new credit line were nearly complete",
    "the number of evacuated residents had fallen for a third week",
    "the budget for school shelters would be increased next year",
]
_EN_TAILS = [
    "", "", "", " according to preliminary data", " citing security reasons",
    " without giving further details", " despite the difficult situation",
    " in a briefing on Monday evening", " as the first frost arrived",
]
_UK_SUBJECTS = [
    "Міністерство оборони", "Речник Повітряних сил Тарас Коваленко", "Міська рада",
    "Оператор енергосистеми", "Посли ЄС", "Національний банк", "Обласна влада Харкова",
    "Національний музей", "Організатори книжкового ярмарку", "Рятувальники",
    "Міністерка енергетики Ольга Шевченко", "Аналітики у Києві", "Укрзалізниця",
]
_UK_VERBS = [
    "повідомили у вівторок, що", "підтвердили, що", "попередили, що",
    "заявили журналістам, що", "оголосили, що", "наголосили, що",
]
_UK_OBJECTS = [
    "нові системи протиповітряної оборони захистять великі міста цієї зими",
    "ремонт енергосистеми йде з випередженням графіка",
    "у Брюсселі готують новий пакет санкцій",
    "обстріл пошкодив підстанцію на околиці Харкова",
    "графіки відключень електроенергії найближчим часом не застосовуватимуть",
    "фестиваль відбудеться попри повітряні тривоги",
    "музей оцифрував понад десять тисяч експонатів",
    "експорт зерна через чорноморські порти знову зріс",
    "театр відкриє основну сцену в грудні",
]
_SECTIONS = ["Military", "Energy", "Politics", "Culture", "Economy", "Regions", "World"]
_AUTHORS = ["Olena Marchenko", "Andriy Bondar", "Iryna Tkachenko", "Maksym Lysenko",
            "Sofia Kravets", "Dmytro Hnatiuk", "Kateryna Melnyk", "Yurii Savchuk"]
_WORDS = ["update", "winter", "energy", "grid", "front", "city", "region", "mission",
          "support", "council", "report", "summit", "border", "repair", "school",
          "hospital", "market", "export", "railway", "volunteer"]


def _sentence(rng: random.Random, uk: bool) -> str:
    if uk:
        return (f"{rng.choice(_UK_SUBJECTS)} {rng.choice(_UK_VERBS)} "
                f"{rng.choice(_UK_OBJECTS)}.")
    return (f"{rng.choice(_EN_SUBJECTS)} {rng.choice(_EN_VERBS)} "
            f"{rng.choice(_EN_OBJECTS)}{rng.choice(_EN_TAILS)}.")


def _paragraph(rng: random.Random, uk: bool) -> str:
    return " ".join(_sentence(rng, uk) for _ in range(rng.randint(3, 7)))


def _title(rng: random.Random, uk: bool, i: int) -> str:
    obj = rng.choice(_UK_OBJECTS if uk else _EN_OBJECTS)
    head = obj[0].upper() + obj[1:]
    return f"{head} ({i})" if not uk else f"{head} — {i}"


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;")


def _css(rng: random.Random, kb: int) -> str:
    rules = []
    size = 0
    while size < kb * 1024:
        sel = f".{rng.choice(_WORDS)}-{rng.randint(1, 999)} .{rng.choice(_WORDS)}"
        rule = (f"{sel}{{margin:{rng.randint(0, 32)}px {rng.randint(0, 32)}px;"
                f"padding:{rng.randint(0, 16)}px;color:#{rng.randrange(16**6):06x};"
                f"font:{rng.randint(11, 22)}px/1.{rng.randint(2, 6)} Inter,Arial,sans-serif;"
                f"transition:opacity .{rng.randint(1, 9)}s ease-in-out}}\n")
        rules.append(rule)
        size += len(rule)
    return "".join(rules)


def _js(rng: random.Random, kb: int) -> str:
    parts = ["!function(w,d){'use strict';var cfg=w.__ADS__=w.__ADS__||{};"]
    size = len(parts[0])
    while size < kb * 1024:
        name = f"{rng.choice(_WORDS)}{rng.randint(100, 9999)}"
        part = (f"function {name}(e,t){{var n=d.querySelectorAll('.{rng.choice(_WORDS)}');"
                f"for(var i=0;i<n.length;i++){{n[i].setAttribute('data-slot','{name}');"
                f"cfg['{name}']={{size:[{rng.randint(100, 970)},{rng.randint(50, 250)}],"
                f"refresh:{rng.randint(15, 90)}}}}}return t}}\n")
        parts.append(part)
        size += len(part)
    parts.append("}(window,document);")
    return "".join(parts)


def _state_json(rng: random.Random, kb: int, titles: list[str]) -> str:
    items = []
    size = 0
    while size < kb * 1024:
        item = {"id": rng.randint(10**6, 10**7), "title": rng.choice(titles),
                "url": f"/news/{rng.randint(10**5, 10**6)}", "views": rng.randint(0, 99999),
                "section": rng.choice(_SECTIONS), "teaser": _sentence(rng, False)}
        items.append(item)
        size += len(json.dumps(item)) + 2
    return json.dumps({"page": {"type": "article"}, "mostRead": items}, ensure_ascii=False)


def article_path(i: int) -> str:
    return f"/news/2026/11/{i:05d}-story"


def article_page(i: int, base: str, all_titles: list[str]) -> tuple[str, str]:
    """(title, html) of article ``i``, deterministic, 44–120 KB."""
    rng = random.Random(1_000_003 * (i + 1))
    uk = i % 5 == 4  # one page in five in Ukrainian (Cyrillic: the UTF-8 decode path)
    title = _title(rng, uk, i)
    target = rng.randint(45, 119) * 1024
    url = base + article_path(i)
    section = rng.choice(_SECTIONS)
    author = rng.choice(_AUTHORS)
    day = 15 + i % 10
    published = f"2026-11-{day:02d}T{rng.randint(6, 22):02d}:{rng.randint(0, 59):02d}:00+02:00"
    modified = published.replace("+02:00", "+02:00")
    paragraphs = [_paragraph(rng, uk) for _ in range(rng.randint(5, 15))]
    summary = paragraphs[0].split(". ")[0].rstrip(".") + "."
    image = f"{base}/img/2026/11/{i:05d}.jpg"
    keywords = ", ".join(rng.sample(["Air defense", "Aid", "Sanctions", "Kharkiv", "Energy",
                                     "Grid", "Culture", "Economy", "Diplomacy"], 3))
    ld = {
        "@context": "https://schema.org", "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "headline": title, "description": summary, "image": [image],
        "datePublished": published, "dateModified": modified,
        "author": {"@type": "Person", "name": author},
        "publisher": {"@type": "Organization", "name": "Bench News",
                      "logo": {"@type": "ImageObject", "url": base + "/static/logo.png"}},
        "articleSection": section, "keywords": keywords, "inLanguage": "uk" if uk else "en",
    }
    crumbs = {"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": 1, "name": "Home", "item": base + "/"},
        {"@type": "ListItem", "position": 2, "name": section,
         "item": f"{base}/{section.lower()}/"}]}
    nav = "".join(f'<li class="nav-item"><a href="/{s.lower()}/">{s}</a></li>'
                  for s in _SECTIONS + ["Opinion", "Video", "Photo", "Podcasts", "About us"])
    ticker = "".join(f'<li><a href="{article_path(rng.randrange(len(all_titles)))}">'
                     f"{_esc(rng.choice(all_titles))}</a></li>" for _ in range(8))
    body_parts = []
    for k, p in enumerate(paragraphs):
        body_parts.append(f"<p>{_esc(p)}</p>")
        if k == 1:
            body_parts.append(
                f'<figure class="photo"><img src="/static/blank.gif" data-src="{image}" '
                f'alt="{_esc(title[:60])}" width="800" height="450">'
                f"<figcaption>Photo: {author}</figcaption></figure>")
        if k == 3:
            j = rng.randrange(len(all_titles))
            body_parts.append(
                f'<div class="read-also-inline"><strong>Read also:</strong> '
                f'<a href="{article_path(j)}">{_esc(all_titles[j])}</a></div>')
        if k == 4:
            body_parts.append(f"<h2>{_esc(_title(rng, uk, i + 7))}</h2>")
        if k == 5:
            body_parts.append(f"<blockquote><p>{_esc(_sentence(rng, uk))}</p></blockquote>")
        if k == 6:
            body_parts.append('<div class="advert ad-slot" data-slot="inread">'
                              '<span>Advertisement</span><div id="ad-inread-1"></div></div>')
    related = "".join(f'<li><a href="{article_path(j)}">{_esc(all_titles[j])}</a></li>'
                      for j in rng.sample(range(len(all_titles)), 5))
    teasers = "".join(
        f'<div class="teaser teaser-small"><a href="{article_path(j)}">'
        f'<img src="{base}/img/thumbs/{j:05d}.jpg" width="120" height="80" alt="">'
        f'<span class="teaser-title">{_esc(all_titles[j])}</span></a>'
        f'<time datetime="2026-11-{15 + j % 10:02d}T10:00:00+02:00">{15 + j % 10} Nov</time>'
        f"</div>" for j in rng.sample(range(len(all_titles)), 20))
    tags = "".join(f'<a href="/tag/{k.strip().lower()}/">{k.strip()}</a>'
                   for k in keywords.split(","))
    footer_links = "".join(f'<a href="/{w}/">{w.title()}</a> ' for w in _WORDS)

    def render(css_kb: int, js_kb: int, state_json: str) -> str:
        return f"""<!DOCTYPE html>
<html lang="{'uk' if uk else 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)} | Bench News</title>
<link rel="canonical" href="{url}">
<meta name="description" content="{_esc(summary)}">
<meta property="og:site_name" content="Bench News">
<meta property="og:type" content="article">
<meta property="og:title" content="{_esc(title)}">
<meta property="og:description" content="{_esc(summary)}">
<meta property="og:image" content="{image}">
<meta property="og:image:width" content="1200">
<meta property="og:image:height" content="630">
<meta property="og:url" content="{url}">
<meta property="article:published_time" content="{published}">
<meta property="article:modified_time" content="{modified}">
<meta property="article:section" content="{section}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="{_esc(title)}">
<link rel="preload" href="/static/fonts/inter.woff2" as="font" crossorigin>
<link rel="stylesheet" href="/static/css/main.{i % 7}.css">
<style>{_css(rng, css_kb)}</style>
<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>
<script type="application/ld+json">{json.dumps(crumbs)}</script>
<script>{_js(rng, js_kb // 2)}</script>
</head>
<body class="article-page section-{section.lower()}">
<header class="site-header">
<a class="logo" href="/"><img src="/static/logo.svg" alt="Bench News" width="140" height="32"></a>
<nav class="main-nav"><ul>{nav}</ul></nav>
<div class="ticker"><span>Breaking:</span><ul>{ticker}</ul></div>
</header>
<main class="content">
<div class="advert ad-top" id="ad-top"><span>Advertisement</span></div>
<article class="post">
<header class="article-header">
<div class="breadcrumbs"><a href="/">Home</a> › <a href="/{section.lower()}/">{section}</a></div>
<h1>{_esc(title)}</h1>
<p class="byline">By <span class="author">{author}</span> ·
<time datetime="{published}">{day} November 2026</time></p>
</header>
<div class="article-body">
{"".join(body_parts)}
</div>
<div class="tags">{tags}</div>
<div class="share social-share">
<a class="share-telegram" href="https://t.me/share/url?url={url}" rel="nofollow">Telegram</a>
<a class="share-x" href="https://x.com/intent/post?url={url}" rel="nofollow">X</a>
<a class="share-fb" href="https://www.facebook.com/sharer.php?u={url}" rel="nofollow">Facebook</a>
</div>
</article>
<aside class="read-also"><h2>Read also</h2><ul>{related}</ul></aside>
<aside class="sidebar most-read"><h2>Most read</h2>{teasers}</aside>
<div class="newsletter subscribe-box"><form action="/subscribe"><input name="email">
<button>Subscribe</button></form></div>
</main>
<footer class="site-footer">
<p>© Bench News. All rights reserved. Quoting is permitted with a link to the source.</p>
<p>{footer_links}</p>
</footer>
<script>window.__INITIAL_STATE__={state_json}</script>
<script>{_js(rng, js_kb - js_kb // 2)}</script>
<script src="/static/js/lazyload.min.js" defer></script>
<img src="https://track.example/p.gif?a={i}" width="1" height="1" alt="">
</body>
</html>
"""

    # fill to the target size with styles/scripts/state, as real pages are inflated
    base_len = len(render(0, 0, "{}").encode())
    filler = max(0, target - base_len + 1023) // 1024
    css_kb, js_kb = filler * 3 // 10, filler * 4 // 10
    state_kb = filler - css_kb - js_kb
    state_json = _state_json(rng, state_kb, all_titles).replace("</", "<\\/")
    return title, render(css_kb, js_kb, state_json)


def listing_page(n: int, base: str, items: list[tuple[int, str]]) -> str:
    teasers = "".join(
        f'<article class="teaser"><h2><a href="{article_path(i)}'
        f'{"?utm_source=home&utm_medium=list" if i % 3 == 0 else ""}">{_esc(t)}</a></h2>'
        f'<time datetime="2026-11-{15 + i % 10:02d}T10:00:00+02:00"></time></article>'
        for i, t in items)
    nav = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in _SECTIONS)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Latest news, page {n} | Bench News</title></head><body>"
            f'<header><nav><ul>{nav}</ul></nav></header>'
            f'<main><section class="latest"><h1>Latest news</h1>{teasers}</section></main>'
            f'<footer><a href="/about/">About</a></footer></body></html>')


def generate(folder: Path, base: str, n: int, per_listing: int) -> dict[str, Any]:
    """Write pages/NNNNN.html and listing-N.html into ``folder``; return the index."""
    pages = folder / "pages"
    pages.mkdir(parents=True, exist_ok=True)
    title_rng = random.Random(7)
    all_titles = [_title(title_rng, i % 5 == 4, i) for i in range(n)]
    titles = []
    for i in range(n):
        title, html = article_page(i, base, all_titles)
        titles.append(title)
        (pages / f"{i:05d}.html").write_text(html, "utf-8")
    listings = []
    for k, start in enumerate(range(0, n, per_listing), 1):
        items = [(i, titles[i]) for i in range(start, min(n, start + per_listing))]
        (folder / f"listing-{k}.html").write_text(listing_page(k, base, items), "utf-8")
        listings.append(base + LISTING.format(n=k))
    index = {"base": base, "pages": n, "listings": listings,
             "urls": [base + article_path(i) for i in range(n)]}
    (folder / "index.json").write_text(json.dumps(index), "utf-8")
    return index


# -- the server -----------------------------------------------------------------------
class Site:
    def __init__(self, folder: Path, index: dict[str, Any]) -> None:
        self.routes: dict[str, tuple[bytes, bytes, str, str | None]] = {}
        for i in range(index["pages"]):
            raw = (folder / "pages" / f"{i:05d}.html").read_bytes()
            self.routes[article_path(i)] = (raw, gzip.compress(raw, 6),
                                            "text/html; charset=utf-8", f'"a-{i}-v1"')
        for k in range(1, len(index["listings"]) + 1):
            raw = (folder / f"listing-{k}.html").read_bytes()
            self.routes[LISTING.format(n=k)] = (raw, gzip.compress(raw, 6),
                                                "text/html; charset=utf-8", f'"listing-{k}-v1"')
        self.validators = True
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "bench-news/1.0"
        # one write per response, no Nagle: else headers and body go out as two
        # segments and the client's delayed ACK adds ~40 ms to every request
        disable_nagle_algorithm = True
        wbufsize = 1 << 18

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path.startswith("/__bench__/"):
                self._control(path)
                return
            route = site.routes.get(path)
            kind = "listing" if path.startswith("/latest/") else "article"
            if route is None:
                self._count("404")
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            raw, gz, ctype, etag = route
            if etag and site.validators and self.headers.get("If-None-Match") == etag:
                self._count(f"{kind}_304")
                self._send(304, b"", {"ETag": etag})
                return
            self._count(f"{kind}_200")
            headers = {"Content-Type": ctype, "Cache-Control": "max-age=60",
                       "Vary": "Accept-Encoding"}
            if etag and site.validators:
                headers["ETag"] = etag
            body = raw
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gz
                headers["Content-Encoding"] = "gzip"
            self._send(200, body, headers)

        def _count(self, key: str) -> None:
            with site.lock:
                site.hits[key] += 1

        def _control(self, path: str) -> None:
            if path == "/__bench__/validators/off":
                site.validators = False
            elif path == "/__bench__/validators/on":
                site.validators = True
            with site.lock:
                hits = dict(site.hits)
                if path == "/__bench__/reset":  # answers the counts it clears
                    site.hits.clear()
            body = json.dumps({"validators": site.validators, "hits": hits}).encode()
            self._send(200, body, {"Content-Type": "application/json"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler


def main(argv: list[str]) -> int:
    folder, n, per_listing = Path(argv[0]), int(argv[1]), int(argv[2])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    httpd.daemon_threads = True
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    index = generate(folder, base, n, per_listing)
    site = Site(folder, index)
    httpd.RequestHandlerClass = make_handler(site)

    def stop(*_: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)

    def watch_stdin() -> None:  # the parent went away: stop
        sys.stdin.read()
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"ready {httpd.server_address[1]}", flush=True)
    httpd.serve_forever(poll_interval=0.2)
    httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
