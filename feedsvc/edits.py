"""What counts as an edit: the material fingerprint of an article.

An article stored again with a different :func:`material_hash` was edited upstream (its
``updated`` moves, its id and ``published`` stay). Only what a reader would call the
article counts: title, summary and body *text*; markup-only changes (an ad slot's
attributes, a re-ordered class) are not edits.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import lxml.html
from lxml import etree

from feedsvc.types import ArticleData


@lru_cache(maxsize=128)  # a save batch is at most 100 articles
def body_text(content_html: str) -> str:
    """The text of sanitized article HTML (the HTML itself if it cannot be parsed).
    Memoized: saving an article reads it three times (this fingerprint, its topics,
    its search document)."""
    if not content_html:
        return ""
    try:
        return lxml.html.fromstring(content_html).text_content()
    except (etree.ParserError, ValueError):
        return content_html


def material_hash(data: ArticleData) -> str:
    """SHA-256 of the article's title, summary and body text, whitespace-normalized."""
    # (" ".join(x.split()): runs of whitespace as one space, ends trimmed, as re's \s+)
    material = "\0".join(" ".join(x.split())
                         for x in (data.title, data.summary, body_text(data.content_html)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
