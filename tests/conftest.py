"""Shared fixtures: a real HTTP server on 127.0.0.1 serving sample news
(tests/httpserver.py), configs written to a temporary folder, stores on a real SQLite
file (and on PostgreSQL when ``FEEDSVC_TEST_POSTGRES_URL`` is set), a service over the
refreshed sample archive, and a pinned clock."""

from __future__ import annotations

import json
import os
import shutil
import socket
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from httpserver import TestServer

from feedsvc import clock
from feedsvc import config as config_mod
from feedsvc.service import Service
from feedsvc.store import Store
from feedsvc.web import create_app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config" / "sample"
SAMPLE_SOURCE = """
    [[source]]
    id = "sample"
    title = "Sample News"
    kind = "files"
    url = "sample/"
    timezone = "Europe/Kyiv"
    """  # the bundled sample, copied to "sample/" beside the config
DATA = Path(__file__).resolve().parent / "data"
EXPECTED = json.loads((SAMPLE / "EXPECTED.json").read_text("utf-8"))
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # "today" is 2026-11-25 in Kyiv
POSTGRES_URL = os.environ.get("FEEDSVC_TEST_POSTGRES_URL")


# -- the pinned clock ---------------------------------------------------------------
@pytest.fixture(autouse=True)
def pinned_clock() -> Iterator[None]:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


# -- a real HTTP server -------------------------------------------------------------


@pytest.fixture
def site() -> Iterator[TestServer]:
    """A news site on 127.0.0.1."""
    srv = TestServer()
    yield srv
    srv.stop()


def sample_page(name: str, base: str) -> bytes:
    """A sample page as the news site would serve it: canonical on our server."""
    raw = (SAMPLE / name).read_bytes()
    return raw.replace(b"https://sample.feedsvc.example", base.encode())


def slug(name: str) -> str:
    return name.split("-", 1)[1].removesuffix(".html")


def serve_sample_site(srv: TestServer, names: list[str] | None = None) -> list[str]:
    """Serve sample pages at /news/{slug}, a listing at /latest and RSS at /feed.xml."""
    names = names or sorted(EXPECTED)
    for n in names:
        srv.add(f"/news/{slug(n)}", sample_page(n, srv.base),
                ctype="text/html; charset=" + EXPECTED[n]["encoding"])
    links = "".join(f'<article><h2><a href="/news/{slug(n)}?utm_source=home#top">'
                    f"{EXPECTED[n]['title']}</a></h2></article>" for n in names)
    srv.add("/latest", f"<html><body><nav><a href='/about'>About</a></nav>{links}</body></html>",
            headers={"ETag": '"listing-1"'})
    items = "".join(
        f"<item><title>{_x(EXPECTED[n]['title'])}</title><link>{srv.base}/news/{slug(n)}</link>"
        f"<guid>{srv.base}/news/{slug(n)}</guid>"
        + (f"<pubDate>{_rfc822(EXPECTED[n]['published'])}</pubDate>"
           if EXPECTED[n]["published"] else "")
        + "<description>Short summary from the feed.</description></item>"
        for n in names)
    srv.add("/feed.xml", f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                         f"<title>Sample News</title><link>{srv.base}/</link>"
                         f"<description>d</description>{items}</channel></rss>",
            ctype="application/rss+xml", headers={"ETag": '"feed-1"'})
    return names


def _x(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rfc822(iso: str) -> str:
    from email.utils import format_datetime

    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")), usegmt=True)


# -- configs and stores -------------------------------------------------------------
DEFAULT_TOPICS = (SAMPLE.parent / "feedsvc.toml").read_text("utf-8").split("[[topic]]", 1)[1]


def write_config(folder: Path, sources: str, *, topics: str | None = None,
                 database: str | None = None, service: str = "", fetch: str = "") -> Path:
    """A config file in ``folder`` with fast, test-friendly fetch settings."""
    db = database or f"sqlite:///{folder / 'feedsvc.sqlite3'}"
    topic_text = topics if topics is not None else "[[topic]]" + DEFAULT_TOPICS
    text = textwrap.dedent(f"""\
        [service]
        title = "Test archive"
        timezone = "Europe/Kyiv"
        database = "{db}"
        {service}

        [fetch]
        user_agent = "feedsvc-test/1.0"
        timeout = "2s"
        per_host_delay = "0s"
        respect_robots = false
        {fetch}

        """) + textwrap.dedent(sources) + "\n" + topic_text
    path = folder / "feedsvc.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedsvc.sqlite3'}"


def _pg_url() -> Iterator[str]:
    import sqlalchemy as sa

    assert POSTGRES_URL
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


STORE_BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(params=STORE_BACKENDS)
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on every backend available (PostgreSQL when configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedsvc.sqlite3'}"
    else:
        yield from _pg_url()


@pytest.fixture
def sample_config(tmp_path: Path, any_db_url: str) -> config_mod.Config:
    """The bundled sample source (a copy of config/sample) in a temporary folder,
    on every store backend available."""
    shutil.copytree(SAMPLE, tmp_path / "sample")
    path = write_config(tmp_path, SAMPLE_SOURCE, database=any_db_url)
    return config_mod.load(path)


@pytest.fixture
def store_for() -> Iterator[Callable[[config_mod.Config], Store]]:
    made: list[Store] = []

    def make(cfg: config_mod.Config) -> Store:
        st = Store(cfg.database_url, cfg.service.tz)
        st.upgrade()
        made.append(st)
        return st

    yield make
    for st in made:
        st.close()


@pytest.fixture
def service(sample_config: config_mod.Config) -> Iterator[Service]:
    """The service of the sample config (every store backend), its archive refreshed."""
    svc = Service(sample_config, writer=True)
    svc.upgrade()
    results = svc.refresh()
    assert [r.outcome for r in results] == ["new"], results
    yield svc
    svc.close()


@pytest.fixture
def client(service: Service) -> FlaskClient:
    """A test client of the web app over :func:`service`."""
    return create_app(service).test_client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settle(path: Path) -> None:
    """Make ``path`` look written a while ago: a finished, stable edit (a reload reads a
    changed config only once it has stopped changing)."""
    then = time.time() - 30
    os.utime(path, (then, then))
