"""Scheduler failover and shutdown, with real scheduler processes on one store.

A standby takes over within 30 s of the holder's death and runs what is due at once;
two schedulers never refresh one source at the same time; SIGTERM stops a scheduler
within a few seconds even with a fetch in flight; housekeeping never waits for fetches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import TestServer, serve_sample_site, write_config

from feedsvc import clock
from feedsvc import config as config_mod
from feedsvc.scheduler import HEARTBEAT_EVERY, LEASE_TTL, Scheduler
from feedsvc.service import Service

ENV = os.environ | {"PYTHONUNBUFFERED": "1"}  # real time: leases must expire


class Lines:
    """A process's stderr, read in the background; wait for a line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait(self, needle: str, timeout: float) -> str:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(needle in x for x in self.lines), timeout)
            if not ok:
                pytest.fail(f"never printed {needle!r}:\n{''.join(self.lines)[-3000:]}")
            return next(x for x in self.lines if needle in x)


def _slow_first(site: TestServer, path: str, seconds: float) -> threading.Event:
    """The first request of ``path`` trickles for ``seconds``; later ones are normal.
    Returns an event set when the slow request has begun."""
    normal = site.routes[path]
    begun = threading.Event()

    def reply(h) -> None:  # noqa: ANN001
        if begun.is_set():
            return normal(h)
        begun.set()
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Connection", "close")
        h.end_headers()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not site.stopping.wait(0.05):
            h.wfile.write(b" ")
        h.close_connection = True  # the body ends here (and is no feed)
        return None

    site.routes[path] = reply
    return begun


@pytest.fixture
def feed_config(tmp_path: Path, site: TestServer, any_db_url: str) -> Path:
    serve_sample_site(site)
    path = write_config(tmp_path, database=any_db_url, sources=f"""
        [[source]]
        id = "news"
        kind = "feed"
        url = "{site.base}/feed.xml"
        every = "1h"
        """)
    path.write_text(path.read_text("utf-8").replace('timeout = "2s"', 'timeout = "30s"'),
                    "utf-8")
    return path


def _scheduler(path: Path) -> tuple[subprocess.Popen, Lines]:
    proc = subprocess.Popen([sys.executable, "-m", "feedsvc", "--config", str(path),
                             "scheduler"], env=ENV, stderr=subprocess.PIPE, text=True)
    return proc, Lines(proc)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    made: list[subprocess.Popen] = []
    yield made
    for p in made:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_sigterm_stops_a_scheduler_with_a_fetch_in_flight(
        feed_config: Path, site: TestServer, procs: list[subprocess.Popen]) -> None:
    begun = _slow_first(site, "/feed.xml", 20)
    proc, lines = _scheduler(feed_config)
    procs.append(proc)
    lines.wait("scheduler started", 60)
    assert begun.wait(30), "the source was never fetched"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert time.monotonic() - started < 6, "SIGTERM waited for the fetch"
    lines.wait("scheduler stopped", 5)


def test_a_standby_takes_over_from_a_killed_scheduler_and_runs_what_is_due(
        feed_config: Path, site: TestServer, procs: list[subprocess.Popen]) -> None:
    begun = _slow_first(site, "/feed.xml", 30)
    a, a_lines = _scheduler(feed_config)
    procs.append(a)
    a_lines.wait("scheduler active", 60)
    assert begun.wait(30)  # A is fetching the source (slowly)
    b, b_lines = _scheduler(feed_config)
    procs.append(b)
    b_lines.wait("scheduler started", 60)
    # B is a standby while A lives: it never fetches the source A is fetching.
    assert not any("scheduler active" in x for x in b_lines.lines)
    assert site.hits("/feed.xml") == 1
    a.kill()  # kill -9: no lease released
    a.wait(10)
    killed = time.monotonic()
    b_lines.wait("scheduler active", 30)
    line = b_lines.wait("refresh source=news outcome=new", 30)
    assert time.monotonic() - killed < 30, line
    assert site.hits("/feed.xml") == 2  # A's cut fetch, then B's at once
    b.send_signal(signal.SIGTERM)
    assert b.wait(15) == 0


def test_a_standby_on_another_host_takes_over_within_30_seconds(service: Service) -> None:
    assert HEARTBEAT_EVERY + LEASE_TTL <= 30
    a, b = Scheduler(service), Scheduler(service)
    try:
        a.beat()
        b.beat()
        assert a.leader and not b.leader
        # A stops renewing (hung, or dead on another host: its pid tells B nothing).
        clock.set_now(clock.now() + timedelta(seconds=LEASE_TTL - 1))
        b.beat()
        assert not b.leader  # the lease still runs
        clock.set_now(clock.now() + timedelta(seconds=HEARTBEAT_EVERY))
        b.beat()
        assert b.leader
    finally:
        a.leader = False
        b.stop()


def test_two_active_schedulers_never_refresh_one_source_at_once(
        feed_config: Path, site: TestServer) -> None:
    begun = _slow_first(site, "/feed.xml", 2)
    svc = Service(config_mod.load(feed_config), writer=True)
    svc.upgrade()
    a, b = Scheduler(svc), Scheduler(svc)
    a.leader = b.leader = True  # a split brain around a takeover
    run = threading.Thread(target=a.run_source, args=["news"])
    try:
        run.start()
        assert begun.wait(30)
        b.run_source("news")  # A's run is in flight: B skips it
        assert site.hits("/feed.xml") == 1
        run.join(30)
        assert not run.is_alive()
        b.run_source("news", True)
        assert site.hits("/feed.xml") == 2
        assert svc.store.get_kv("refresh:news") is None  # claims are released
    finally:
        run.join(30)
        svc.close()


def test_housekeeping_runs_while_every_source_worker_is_busy_fetching(
        feed_config: Path, site: TestServer) -> None:
    begun = _slow_first(site, "/feed.xml", 15)
    svc = Service(config_mod.load(feed_config), writer=True)
    svc.upgrade()
    sched = Scheduler(svc, workers=1)  # one source worker, taken by the slow fetch
    reloaded = threading.Event()
    svc.listeners.append(lambda _old, _new: reloaded.set())
    try:
        sched.start()
        assert begun.wait(30)
        path = svc.config.path
        path.write_text(path.read_text("utf-8").replace('title = "Test archive"',
                                                        'title = "Renamed"'), "utf-8")
        then = time.time() - 30
        os.utime(path, (then, then))  # a finished edit
        assert reloaded.wait(8), "the reload waited for the fetch"
        assert svc.config.service.title == "Renamed"
    finally:
        sched.stop()
        svc.close()
