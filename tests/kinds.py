"""Helpers shared by the tests of the ``sitemap`` and ``site`` kinds: a refresher over
one source, sitemap documents, what was stored and fetched."""

from __future__ import annotations

from pathlib import Path

from conftest import EXPECTED, TestServer, slug, write_config

from feedsvc import config as config_mod
from feedsvc.refresh import Refresher

NAMES = sorted(EXPECTED)
NS = ('xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
      'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" '
      'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"')


def refresher(tmp_path: Path, store_for, sources: str,  # noqa: ANN001
              fetch: str = "") -> Refresher:
    cfg = config_mod.load(write_config(tmp_path, sources, fetch=fetch))
    return Refresher(cfg, store_for(cfg))


def source(kind: str, url: str, extra: str = "") -> str:
    return f"""
        [[source]]
        id = "src"
        kind = "{kind}"
        url = "{url}"
        timezone = "Europe/Kyiv"
        fulltext = true
        {extra}
        """


def urlset(items: list[str]) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>{"".join(items)}</urlset>'


def url_entry(loc: str, lastmod: str | None = None, news: str = "") -> str:
    mod = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    return f"<url><loc>{loc}</loc>{mod}{news}</url>"


def page_urls(site: TestServer, names: list[str]) -> set[str]:
    return {f"{site.base}/news/{slug(n)}" for n in names}


def stored(r: Refresher) -> set[str]:
    return {a.url for a in r.store.latest(500)}


def page_hits(site: TestServer) -> list[str]:
    return [p for p, _ in site.requests if p.startswith("/news/")]


