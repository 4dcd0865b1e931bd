"""The real thing: `feedsvc run` and gunicorn as subprocesses, fetched over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import EXPECTED, NOW, SAMPLE, free_port, write_config
from feedcheck import parse_ok

ENV = os.environ | {"FEEDSVC_FAKE_NOW": NOW.isoformat(), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def sample_files(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLE, tmp_path / "sample")
    return write_config(tmp_path, """
        [[source]]
        id = "sample"
        kind = "files"
        url = "sample/"
        timezone = "Europe/Kyiv"
        """)


def _wait_line(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    """Read the process's stderr until a line containing ``needle`` (or fail)."""
    found: list[str] = []
    seen: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:  # keep draining: a full pipe would block the server
            seen.append(line)
            if needle in line and not found:
                found.append(line)
                done.set()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    if not found:
        proc.kill()
        pytest.fail(f"never printed {needle!r}; stderr:\n{''.join(seen)[-3000:]}")
    return found[0]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # readiness poll of a starting server, bounded by deadline
    pytest.fail(f"nothing listening on {port}")


def _get_when_ready(url: str, timeout: float = 30) -> requests.Response:
    """GET once the server answers: granian opens its port before a worker has loaded
    the app, and resets connections until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=10)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)  # readiness poll, bounded by the deadline


@pytest.fixture
def running(sample_files: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedsvc", "--config", str(sample_files), "run",
         "--port", str(port)], env=ENV, stderr=subprocess.PIPE, text=True)
    _wait_line(proc, "feedsvc serving")
    yield f"http://127.0.0.1:{port}", proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_feedsvc_run_serves_the_sample_archive(running: tuple[str, subprocess.Popen],
                                               sample_files: Path) -> None:
    base, proc = running
    # The scheduler refreshes every source at start; the refresh writes its state.
    deadline = time.monotonic() + 60
    while True:
        st = requests.get(f"{base}/status.json", timeout=5).json()
        if st["sources"][0]["last_success"]:
            break
        assert time.monotonic() < deadline, st
        time.sleep(0.1)  # waiting for the first scheduled refresh to finish
    assert st["sources"][0]["articles"] == 30
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    r = requests.get(f"{base}/feeds/all.atom", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    parsed = parse_ok(r.content)
    assert {e.title for e in parsed.entries} == {e["title"] for e in EXPECTED.values()}
    assert parsed.feed.links[0].href == f"{base}/feeds/all.atom"
    day = parse_ok(requests.get(f"{base}/feeds/day/2026-11-21.rss", timeout=5).content)
    assert {e.title for e in day.entries} == {
        e["title"] for e in EXPECTED.values() if e["kyiv_day"] == "2026-11-21"}
    assert requests.get(f"{base}/feeds/day/2026-02-31.atom", timeout=5).status_code == 404
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_gunicorn_workers_serve_one_cache(sample_files: Path) -> None:
    refresh = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(sample_files),
                              "refresh"], env=ENV, capture_output=True, text=True, timeout=120)
    assert refresh.returncode == 0, refresh.stderr
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-w", "2", "--bind", f"127.0.0.1:{port}", "feedsvc.web:create_app()"],
        env=ENV | {"FEEDSVC_CONFIG": str(sample_files)}, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        tags = set()
        bodies = set()
        with requests.Session() as s:
            for _ in range(8):
                r = s.get(f"http://127.0.0.1:{port}/feeds/topic/energy.atom",
                          headers={"Accept-Encoding": "identity", "Connection": "close"},
                          timeout=10)
                assert r.status_code == 200
                tags.add(r.headers["ETag"])
                bodies.add(r.content)
                not_modified = s.get(f"http://127.0.0.1:{port}/feeds/topic/energy.atom",
                                     headers={"If-None-Match": r.headers["ETag"],
                                              "Accept-Encoding": "identity"}, timeout=10)
                assert not_modified.status_code == 304
        assert len(tags) == 1 and len(bodies) == 1  # every worker serves the same bytes
        parse_ok(bodies.pop())
    finally:
        proc.terminate()
        proc.wait(30)


def test_procfile_web_line_serves_with_its_port_and_workers(sample_files: Path) -> None:
    """The Procfile's web: line, run as a Procfile host runs it ($PORT, $WEB_CONCURRENCY)."""
    refresh = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(sample_files),
                              "refresh"], env=ENV, capture_output=True, text=True, timeout=120)
    assert refresh.returncode == 0, refresh.stderr
    procfile = (Path(__file__).resolve().parent.parent / "Procfile").read_text()
    web = next(line.split(":", 1)[1].strip().removeprefix("exec ")
               for line in procfile.splitlines() if line.startswith("web:"))
    assert "0.0.0.0" in web and "${PORT" in web and "${WEB_CONCURRENCY" in web
    port = free_port()
    env = ENV | {"FEEDSVC_CONFIG": str(sample_files), "PORT": str(port),
                 "WEB_CONCURRENCY": "2",
                 "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(["bash", "-c", f"exec {web}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/feeds/day/2026-11-20.atom"
        r = _get_when_ready(url)
        assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
        assert {e.title for e in parse_ok(r.content).entries} == {
            e["title"] for e in EXPECTED.values() if e["kyiv_day"] == "2026-11-20"}
        again = requests.get(url, headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
        assert again.status_code == 304
        assert requests.get(f"http://127.0.0.1:{port}/feeds/day/2026-02-30.atom",
                            timeout=10).status_code == 404
    finally:
        proc.terminate()  # the server's main process; it stops its workers
        try:
            proc.wait(30)
        finally:
            os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_feedsvc_web_serves_with_either_server(sample_files: Path, server: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedsvc", "--config", str(sample_files), "web", "--port",
         str(port), "--workers", "1", "--server", server], env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port(port, proc)
        # Web processes only read: on a database nobody migrated yet they say so.
        r = _get_when_ready(f"http://127.0.0.1:{port}/feeds/all.rss")
        assert r.status_code == 503 and "feedsvc db upgrade" in r.text
        assert r.headers["Content-Type"].startswith("text/plain")
        up = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(sample_files),
                             "db", "upgrade"], env=ENV, capture_output=True, text=True,
                            timeout=120)
        assert up.returncode == 0, up.stderr
        r = requests.get(f"http://127.0.0.1:{port}/feeds/all.rss", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(
            "application/rss+xml")
        parse_ok(r.content)  # an empty archive is still a valid feed
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        finally:
            os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
