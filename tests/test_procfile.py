"""The Procfile under honcho: `honcho start` runs web and scheduler as documented, serves
the archive, and a SIGTERM stops every process it started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import EXPECTED, NOW, SAMPLE, free_port, write_config
from feedcheck import parse_ok

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children, …)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_honcho_start_runs_web_and_scheduler_and_stops_them_all(tmp_path: Path) -> None:
    honcho = shutil.which("honcho", path=str(BIN))
    assert honcho, "honcho is a test dependency (pip install -e .[test])"
    shutil.copytree(SAMPLE, tmp_path / "sample")
    config = write_config(tmp_path, """
        [[source]]
        id = "sample"
        kind = "files"
        url = "sample/"
        timezone = "Europe/Kyiv"
        """)
    port = free_port()
    env = os.environ | {
        "FEEDSVC_CONFIG": str(config), "FEEDSVC_FAKE_NOW": NOW.isoformat(),
        "PORT": str(port), "WEB_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        # cwd: a folder without a .env, so only this environment reaches the processes
        proc = subprocess.Popen([honcho, "start", "-f", str(ROOT / "Procfile"),
                                 "-d", str(tmp_path), "--no-colour"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        health = feed = None
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                health = requests.get(f"{base}/healthz", timeout=5)
                feed = requests.get(f"{base}/feeds/all.atom", timeout=5)
            except requests.ConnectionError:
                pass
            if (health is not None and health.status_code == 200 and feed is not None
                    and feed.status_code == 200 and len(parse_ok(feed.content).entries) == 30):
                break
            assert time.monotonic() < deadline, (
                f"never healthy with a feed: {health and health.text!r}\n"
                f"{log.read_text()[-3000:]}")
            time.sleep(0.2)  # readiness poll of a starting service, bounded by deadline
        assert {e.title for e in parse_ok(feed.content).entries} == {
            e["title"] for e in EXPECTED.values()}
        started = log.read_text()
        assert "web.1" in started and "scheduler.1" in started
        children = descendants(proc.pid)
        # honcho's shells, granian and its 2 workers, the scheduler
        assert len(children) >= 4, children
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while left := {p for p in children if alive(p)}:
        assert time.monotonic() < deadline, f"still running after SIGTERM: {left}"
        time.sleep(0.05)  # reparented grandchildren finish exiting; bounded poll
    text = log.read_text()
    # exec in the Procfile: the programs themselves get SIGTERM and stop cleanly
    assert "scheduler.1 stopped (rc=0)" in text and "web.1 stopped (rc=0)" in text, text[-3000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=5)
