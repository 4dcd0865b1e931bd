"""Validators for served feeds: feedparser (bozo), jing + atom.rnc, JSON Feed schema.

The schemas are copies kept in ``tests/schemas/`` (see its README for their sources), so a
clone of the repository validates with nothing beside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import feedparser
import jsonschema
import pytest

SCHEMAS = Path(__file__).resolve().parent / "schemas"


def parse_ok(body: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def need_jing() -> str:
    jing = shutil.which("jing")
    if jing is None:
        if os.environ.get("CI"):
            pytest.fail("jing is not installed (.ci/run installs it)")
        pytest.skip("jing not installed (apt-get install jing)")
    return jing


def atom_valid(*bodies: bytes) -> None:
    """Validate Atom documents against tests/schemas/atom.rnc with jing (one run)."""
    jing = need_jing()
    schema = SCHEMAS / "atom.rnc"
    assert schema.exists(), f"missing {schema}"
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, body in enumerate(bodies):
            p = Path(tmp) / f"feed{i}.atom"
            p.write_bytes(body)
            files.append(str(p))
        proc = subprocess.run([jing, "-c", str(schema), *files], capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def json_feed_valid(body: bytes) -> dict:
    """Validate against JSON Feed 1.1 (whose $refs point into the 1.0 schema)."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    v1 = json.loads((SCHEMAS / "jsonfeed-1.schema.json").read_text("utf-8"))
    v11 = json.loads((SCHEMAS / "jsonfeed-1.1.schema.json").read_text("utf-8"))
    registry = Registry().with_resources([
        (uri, Resource.from_contents(v1, default_specification=DRAFT4))
        for uri in ("feed-1", "https://json.schemastore.org/feed-1")
    ])
    doc = json.loads(body)
    jsonschema.Draft4Validator(v11, registry=registry).validate(doc)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    return doc
