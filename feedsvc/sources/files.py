"""The ``files`` kind: a local folder (relative to the config file, or ``file://``) of
saved article pages (each needs a canonical http(s) URL) and/or ``*.jsonl`` exports, one
article object per line. Each file's articles are yielded as it is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from feedsvc import dates, urls
from feedsvc.config import SourceConfig
from feedsvc.errors import FeedsvcError, FetchError, ParseError
from feedsvc.extract import extract, extract_text
from feedsvc.sanitize import clean_html
from feedsvc.sources.base import Context, Found, Listing
from feedsvc.text import clean_text
from feedsvc.types import ArticleData, SourceState


def read(src: SourceConfig, state: SourceState, ctx: Context) -> Iterator[Found]:
    folder = ctx.config.resolve_path(src.url)
    if not folder.is_dir():
        raise FetchError(str(folder), "folder not found")
    tz = ZoneInfo(src.timezone)
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        try:
            if suffix in (".html", ".htm"):
                yield Found(articles=(_file_page(path, src, tz),))
            elif suffix == ".jsonl":
                yield _file_jsonl(path, tz)
        except (OSError, FeedsvcError, ValueError) as e:
            yield Found(failures=(f"{path.name}: {e}",))
    yield Found(listing=Listing(fetched=False))


def _file_page(path: Path, src: SourceConfig, tz: ZoneInfo) -> ArticleData:
    art = extract(path.read_bytes(), path.resolve().as_uri(), tz=tz, select=src.select)
    if not urls.is_http(art.url):
        raise ParseError(path.name, "no canonical http(s) URL in the page "
                                    '(<link rel="canonical"> or og:url)')
    return art


def _file_jsonl(path: Path, tz: ZoneInfo) -> Found:
    articles: list[ArticleData] = []
    failures: list[str] = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict):
                    raise ValueError("line is not a JSON object")
                articles.append(_json_article(obj, tz))
            except ValueError as e:
                failures.append(f"{path.name}:{n}: {e}")
    return Found(articles=tuple(articles), failures=tuple(failures))


def _json_article(obj: dict, tz: ZoneInfo) -> ArticleData:
    url = urls.normalize(str(obj.get("url", "")))
    if "html" in obj and "content_html" not in obj:
        return extract_text(str(obj["html"]), url, tz=tz)
    title = clean_text(str(obj.get("title", "")))
    if not title:
        raise ValueError("no title")

    def strs(key: str) -> tuple[str, ...]:
        v = obj.get(key) or []
        return tuple(clean_text(str(x)) for x in (v if isinstance(v, list) else [v])
                     if clean_text(str(x)))

    return ArticleData(
        url=url, title=title,
        published=dates.parse(str(obj.get("published") or ""), tz),
        updated=dates.parse(str(obj.get("updated") or ""), tz),
        authors=strs("authors"), summary=clean_text(str(obj.get("summary") or "")),
        content_html=clean_html(str(obj.get("content_html") or obj.get("content") or ""), url),
        image=obj.get("image") if urls.is_http(str(obj.get("image") or "")) else None,
        language=obj.get("language") if isinstance(obj.get("language"), str) else None,
        categories=strs("categories"), tags=strs("tags"),
    )
