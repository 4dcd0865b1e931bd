"""Golden feeds: the sample archive renders to exactly these bytes (determinism: same
archive state, same bytes, same ETag). Regenerate after a deliberate change with
``FEEDSVC_UPDATE_GOLDEN=1 python3 dev.py test -k golden`` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import DATA

from feedsvc import config as config_mod
from feedsvc.refresh import Refresher
from feedsvc.service import Service
from feedsvc.web import create_app

GOLDEN = DATA / "golden"
FEEDS = ["all.atom", "all.rss", "all.json", "day/2026-11-21.atom", "topic/kharkiv.rss",
         "digest.atom"]


@pytest.mark.parametrize("feed", FEEDS)
def test_sample_archive_renders_the_golden_bytes(sample_config: config_mod.Config,
                                                 store_for, feed: str) -> None:  # noqa: ANN001
    store = store_for(sample_config)
    Refresher(sample_config, store).refresh()
    body = create_app(Service(sample_config, store)).test_client().get(f"/feeds/{feed}").data
    golden = GOLDEN / feed.replace("/", "_")
    if os.environ.get("FEEDSVC_UPDATE_GOLDEN"):
        golden.write_bytes(body)
    assert golden.exists(), f"missing {golden}: run with FEEDSVC_UPDATE_GOLDEN=1"
    assert body == golden.read_bytes()


def test_golden_files_are_all_used() -> None:
    assert {p.name for p in GOLDEN.iterdir()} == {f.replace("/", "_") for f in FEEDS}
    assert Path(GOLDEN / "all.atom").read_bytes().startswith(b"<?xml")


def test_same_bytes_under_another_process_time_zone() -> None:
    """Nothing depends on the machine's TZ: the golden tests pass under a far-off one."""
    import subprocess
    import sys

    env = os.environ | {"TZ": "Pacific/Chatham"}
    env.pop("FEEDSVC_UPDATE_GOLDEN", None)
    env.pop("FEEDSVC_TEST_POSTGRES_URL", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(Path(__file__)), "-k", "golden_bytes"], env=env,
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "6 passed" in proc.stdout
