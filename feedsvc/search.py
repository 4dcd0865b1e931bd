"""Full-text search: the ``q`` parameter's words, and how the archive is indexed for them.

``q`` has the word rules of topics (:mod:`feedsvc.topics`): every word must occur in the
title, summary, body text, categories or tags as a whole word, case-insensitive and
Unicode-aware; a trailing ``*`` is a prefix wildcard (``patriot*`` finds "patriotic",
``Patriot`` does not), and ``Харків*`` also finds ``Харкові``/``Харкова``.

The index holds each article's :func:`document`: its words (runs of letters and
digits), lower-cased and joined by spaces, so SQLite FTS5 (``unicode61``, diacritics
kept) and PostgreSQL (``to_tsvector('simple', …)`` + GIN) see the very same tokens.
A query word becomes the same tokens (:class:`Term`), so the index answers exactly for
plain words; a word with inner punctuation (``F-16``, ``C++``, ``video game``) is
found through its tokens and then checked against the topic pattern
(:meth:`Query.check`), so the answer is always exactly what a topic term would match.
Nothing a client sends reaches either engine as syntax: tokens are letters and digits
only, each quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from feedsvc.errors import BadRequest
from feedsvc.topics import _UK_ALTERNATION, compile_term, match_text
from feedsvc.types import ArticleData

MAX_CHARS = 200  # of the raw q
MAX_WORDS = 10
MAX_DOCUMENT = 256 * 1024  # characters indexed per article (a tsvector holds at most 1 MB)
_TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    """The index's words of ``text``: runs of letters and digits, lower-cased."""
    return _TOKEN.findall(text.lower())


def document(article: ArticleData) -> str:
    """What the index holds for one article: its topic text, as tokens."""
    return " ".join(tokens(match_text(article)))[:MAX_DOCUMENT]


@dataclass(frozen=True)
class Term:
    """One ``q`` word: its tokens, whether the last is a prefix, and its variants
    (Ukrainian vowel alternation of a prefix word: харків → харков, харкев)."""

    word: str  # as the client wrote it
    tokens: tuple[str, ...]
    prefix: bool
    last_variants: tuple[str, ...]  # alternatives for the last token (itself first)

    @property
    def exact(self) -> bool:
        """Whether the tokens say all the topic pattern says (no check needed)."""
        return len(self.tokens) == 1 and self.word.rstrip("*").lower() == self.tokens[0]

    def fts5(self) -> str:
        head = " ".join(self.tokens[:-1])
        star = "*" if self.prefix else ""
        alts = [f'"{head + " " if head else ""}{last}"{star}' for last in self.last_variants]
        return alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")"

    def tsquery(self) -> str:
        star = ":*" if self.prefix else ""
        head = "".join(f"'{t}' <-> " for t in self.tokens[:-1])
        alts = [f"{head}'{last}'{star}" for last in self.last_variants]
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"


def term(word: str) -> Term:
    """A ``q`` word → :class:`Term`; :class:`BadRequest` when it has no letter or digit."""
    prefix = word.endswith("*")
    toks = tuple(tokens(word.rstrip("*")))
    if not toks:
        raise BadRequest(f"q: {_show(word)} has no letters or digits to search for")
    last = toks[-1]
    variants = [last]
    m = _UK_ALTERNATION.match(last) if prefix else None
    if m:
        alts = "іоеєї" if m.group(2) == "ї" else "іое"
        variants += [m.group(1) + v + m.group(3) for v in alts if v != m.group(2)]
    return Term(word=word, tokens=toks, prefix=prefix, last_variants=tuple(variants))


@dataclass(frozen=True)
class Query:
    """The words of ``q`` (every one must occur)."""

    terms: tuple[Term, ...]

    def fts5(self) -> str:
        """An FTS5 MATCH expression."""
        return " AND ".join(t.fts5() for t in self.terms)

    def tsquery(self) -> str:
        """A PostgreSQL ``to_tsquery('simple', …)`` expression."""
        return " & ".join(t.tsquery() for t in self.terms)

    @property
    def exact(self) -> bool:
        return all(t.exact for t in self.terms)

    def check(self, article: Any) -> bool:
        """Whether ``article`` (an :class:`~feedsvc.types.Article`) really has every
        word by the topic rules (the index's answer is a superset when not exact)."""
        if self.exact:
            return True
        text = match_text(ArticleData(
            url=article.url, title=article.title, summary=article.summary,
            content_html=article.content_html, categories=article.categories,
            tags=article.tags))
        return all(compile_term(t.word).search(text) for t in self.terms)


def query(words: tuple[str, ...] | list[str]) -> Query:
    """Words (already split) → :class:`Query`; :class:`BadRequest` for a word that has
    nothing to search for."""
    return Query(tuple(term(w) for w in words))


def parse(raw: str) -> tuple[str, ...]:
    """The raw ``q`` value → its words; :class:`BadRequest` for anything unusable."""
    if len(raw) > MAX_CHARS:
        raise BadRequest(f"q must be at most {MAX_CHARS} characters")
    if "\x00" in raw:
        raise BadRequest("q must not contain NUL characters")
    words = tuple(w for w in raw.split() if w)
    if len(words) > MAX_WORDS:
        raise BadRequest(f"q takes at most {MAX_WORDS} words")
    query(words)  # every word must have something to search for
    return words


def _show(word: str) -> str:
    shown = "".join(ch if ch.isprintable() else "?" for ch in word)[:40]
    return repr(shown)
