"""Feed documents as the W3C Feed Validation Service reads them, beyond what the RELAX NG
and JSON schemas see: feed-level authors, bare ``media:content``, ordered dates, OPML
outlines; and the validators themselves, which ship with the tests."""

from __future__ import annotations

import re
from pathlib import Path

import feedcheck

TESTS = Path(__file__).resolve().parent


def test_validators_ship_with_the_tests() -> None:
    """A clone with nothing beside it has every schema the validators read, and no test
    reads files outside the repository (a team folder, the machine's /etc)."""
    assert feedcheck.SCHEMAS.resolve().parent == TESTS
    for name in ("atom.rnc", "jsonfeed-1.schema.json", "jsonfeed-1.1.schema.json"):
        assert (feedcheck.SCHEMAS / name).is_file(), name
    outside = re.compile(r"""\.\./[s]hared|"[s]hared"|(Path|open)\(\s*['"]/etc/""")
    for path in TESTS.glob("*.py"):
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            assert not outside.search(line), f"{path.name}:{n}: {line.strip()}"
