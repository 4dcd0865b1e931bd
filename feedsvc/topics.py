"""Topic rules: which topics an article belongs to.

A topic matches when any ``any`` term, every ``all`` term and no ``none`` term occur in
the title, summary, content text or the site's categories/tags (Unicode-aware,
case-insensitive, whole words; a trailing ``*`` is a prefix wildcard, so ``Харків*``
matches ``Харкові``), restricted to ``sources`` when given, or when one of its
``categories`` is among the article's own categories. Terms are compiled once, into
patterns without backtracking traps (linear time on any text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from feedsvc.config import TopicConfig
from feedsvc.edits import body_text
from feedsvc.types import ArticleData

# Ukrainian closed-syllable і/ї alternate with о/е/є when the word is inflected:
# Харків → Харкова, Харкові; Львів → Львова; Київ → Києва. A wildcard term whose last
# word ends in і/ї + consonants accepts those forms.
_UK_ALTERNATION = re.compile(r"^(.*[а-щьюяєіїґ'])([іїІЇ])([б-джзй-нп-тф-щґ]+)$", re.IGNORECASE)


def _word(word: str, prefix: bool) -> str:
    m = _UK_ALTERNATION.match(word) if prefix else None
    if m:
        alt = "[іоеєї]" if m.group(2).lower() == "ї" else "[іое]"
        return re.escape(m.group(1)) + alt + re.escape(m.group(3))
    return re.escape(word)


def compile_term(term: str) -> re.Pattern[str]:
    """``weapon*`` → whole-word prefix pattern; ``video game`` → words with any spacing.

    ``Харків*`` also matches the inflected ``Харкова``/``Харкові`` (see _UK_ALTERNATION).
    """
    t = term.strip()
    prefix = t.endswith("*")
    words = t.rstrip("*").split()
    body = r"\s+".join(_word(w, prefix and i == len(words) - 1) for i, w in enumerate(words))
    tail = r"\w*" if prefix else r"(?!\w)"
    lead = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    return re.compile(lead + body + tail, re.IGNORECASE)


# re.IGNORECASE equates each of these with another letter that str.lower() does not map
# it to (Lib/re/_casefix.py; U+0130 lowers to two characters). Every such class of
# letters has at most one member outside this set, so: a term holding one of these gets
# no literal pre-check, and a text holding one skips the pre-check.
_EXOTIC_CASE = re.compile(
    "[\u0130\u0131\u017f\u00b5\u0345\u0390\u03b0\u03c2\u03c3\u03d0\u03d1\u03d5"
    "\u03d6\u03f0\u03f1\u03f5\u1c80-\u1c88\u1e9b\u1fbe\u1fd3\u1fe3\ua64b"
    "\ufb05\ufb06]")


@dataclass(frozen=True)
class _Term:
    pattern: re.Pattern[str]
    literal: str | None  # lower-cased text every match contains, for a quick `in` test
    text: str = ""  # the term as the config writes it

    def search(self, text: str, lowered: str | None) -> bool:
        if self.literal is not None and lowered is not None and self.literal not in lowered:
            return False  # a substring test is ~30x cheaper than the pattern's scan
        return self.pattern.search(text) is not None


def _term(term: str) -> _Term:
    words = term.strip().rstrip("*").split()
    first = words[0] if words else ""
    m = _UK_ALTERNATION.match(first) if term.strip().endswith("*") and len(words) == 1 \
        else None
    literal = m.group(1) if m else first
    if not literal or _EXOTIC_CASE.search(literal):
        return _Term(compile_term(term), None, term)
    return _Term(compile_term(term), literal.lower(), term)


@dataclass(frozen=True)
class _TopicRule:
    slug: str
    any: tuple[_Term, ...]
    all: tuple[_Term, ...]
    none: tuple[_Term, ...]
    sources: frozenset[str]
    categories: frozenset[str]


def match_text(article: ArticleData) -> str:
    """The text topic terms are matched against."""
    return "\n".join([article.title, article.summary, body_text(article.content_html),
                      *article.categories,
                      *article.tags])


class Classifier:
    """Compiled topic rules of one config."""

    def __init__(self, topics: tuple[TopicConfig, ...]) -> None:
        self.rules = tuple(
            _TopicRule(
                slug=t.slug,
                any=tuple(_term(x) for x in t.any),
                all=tuple(_term(x) for x in t.all),
                none=tuple(_term(x) for x in t.none),
                sources=frozenset(t.sources),
                categories=frozenset(c.casefold() for c in t.categories),
            )
            for t in topics
        )

    def classify(self, article: ArticleData, source_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Sorted slugs of the topics ``article`` (found via ``source_ids``) belongs to."""
        return tuple(sorted(slug for slug, _ in self._matches(article, source_ids)))

    def explain(self, article: ArticleData,
                source_ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        """(topic slug, the rule that matched) for each topic ``article`` joins, sorted by
        slug: ``category: Energy``, an ``any`` term (``weapon*``), or ``all`` terms."""
        return tuple(sorted(self._matches(article, source_ids)))

    def _matches(self, article: ArticleData,
                 source_ids: tuple[str, ...]) -> Iterator[tuple[str, str]]:
        text: str | None = None
        low: str | None = None
        cats = {c.casefold() for c in article.categories}
        for r in self.rules:
            if r.sources and not r.sources.intersection(source_ids):
                continue
            if r.categories & cats:
                own = next(c for c in article.categories if c.casefold() in r.categories)
                yield r.slug, f"category: {own}"
                continue
            if not (r.any or r.all):
                continue
            if text is None:
                text = match_text(article)
                low = None if _EXOTIC_CASE.search(text) else text.lower()
            hit = next((t for t in r.any if t.search(text, low)), None)
            if r.any and hit is None:
                continue
            if not all(t.search(text, low) for t in r.all):
                continue
            if any(t.search(text, low) for t in r.none):
                continue
            terms = ([hit.text] if hit is not None else []) + [t.text for t in r.all]
            yield r.slug, " + ".join(terms)
