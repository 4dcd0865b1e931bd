"""A real feed reader (newsboat) subscribes to the running service."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXPECTED
from werkzeug.serving import make_server

from feedsvc import config as config_mod
from feedsvc.refresh import Refresher
from feedsvc.service import Service
from feedsvc.web import create_app


@pytest.fixture
def served(sample_config: config_mod.Config, store_for) -> Iterator[str]:  # noqa: ANN001
    store = store_for(sample_config)
    Refresher(sample_config, store).refresh()
    server = make_server("127.0.0.1", 0, create_app(Service(sample_config, store)),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_newsboat_reads_atom_rss_and_day_feeds(served: str, tmp_path: Path) -> None:
    newsboat = shutil.which("newsboat")
    if newsboat is None:
        if os.environ.get("CI"):
            pytest.fail("newsboat is not installed (.ci/run installs it)")
        pytest.skip("newsboat not installed (apt-get install newsboat)")
    expected = {
        "all.atom": {e["title"] for e in EXPECTED.values()},
        "topic/kharkiv.rss": {e["title"] for e in EXPECTED.values() if "kharkiv" in e["topics"]},
        "day/2026-11-21.atom": {e["title"] for e in EXPECTED.values()
                                if e["kyiv_day"] == "2026-11-21"},
    }
    for path, titles in expected.items():
        # One cache per feed: newsboat keeps one item per guid across its feeds.
        folder = tmp_path / path.replace("/", "_")
        folder.mkdir()
        (folder / "urls").write_text(f"{served}/feeds/{path}\n")
        (folder / "config").write_text("download-timeout 10\n")
        proc = subprocess.run([newsboat, "-u", str(folder / "urls"), "-c",
                               str(folder / "cache.db"), "-C", str(folder / "config"),
                               "-x", "reload"], capture_output=True, text=True, timeout=60,
                              env=os.environ | {"HOME": str(folder)})
        assert proc.returncode == 0, proc.stderr
        db = sqlite3.connect(folder / "cache.db")
        rows = db.execute("SELECT title, guid, url, content FROM rss_item").fetchall()
        [(feed_title,)] = db.execute("SELECT title FROM rss_feed").fetchall()
        db.close()
        assert feed_title.startswith("Test archive")
        assert {r[0] for r in rows} == titles, path
        for title, guid, url, content in rows:
            assert guid == url and url.startswith("https://sample.feedsvc.example/news/")
            assert "<p>" in content, title
