"""Text hygiene shared by every stage: XML-legal characters and whitespace.

Feeds must only carry characters legal in XML 1.0; sources send control characters
and lone surrogates. Everything text-like passes :func:`clean_text` on its way in.
"""

from __future__ import annotations

import re

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")


def xml_safe(text: str) -> str:
    """Drop characters XML 1.0 forbids (controls, lone surrogates, U+FFFE/FFFF)."""
    return _ILLEGAL_XML.sub("", text)


def clean_text(text: str | None) -> str:
    """XML-safe, whitespace collapsed, trimmed plain text."""
    if not text:
        return ""
    return _SPACES.sub(" ", xml_safe(text)).strip()
