"""Live config reload: good edits take effect, broken edits are refused and shown,
the last good config stays in force; topic changes re-classify the archive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import EXPECTED, free_port, settle
from feedcheck import parse_ok
from test_process import ENV, _wait_line

from feedsvc.refresh import Refresher
from feedsvc.scheduler import Scheduler
from feedsvc.service import Service
from feedsvc.web import create_app

NEW_TOPIC = '\n[[topic]]\nslug = "transport"\ntitle = "Transport"\nany = ["metro", "tram*", "bus*", "трамва*", "автобус*"]\n'  # noqa: E501


BROKEN_EDITS = {
    "toml syntax": lambda t: t + "\n[[topic]\nslug = 'x'\n",
    "unknown key": lambda t: t.replace('kind = "files"', 'kind = "files"\nurll = "x"'),
    "bad time zone": lambda t: t.replace('timezone = "Europe/Kyiv"', 'timezone = "Europe/Kiyv"',
                                         1),
    "duplicate id": lambda t: t + '\n[[source]]\nid = "sample"\nkind = "files"\nurl = "x/"\n',
    "bad selector": lambda t: t + ('\n[[source]]\nid = "h"\nkind = "html"\n'
                                   'url = "https://x.example/"\nlinks = "a[[["\n'),
    "truncated mid-write": lambda t: t[: len(t) // 3],
    "empty file": lambda t: "",
}


@pytest.mark.parametrize("edit", list(BROKEN_EDITS))
def test_broken_edit_is_refused_and_last_good_config_stays(service: Service, edit: str) -> None:
    path = service.config.path
    good = service.config
    text = path.read_text("utf-8")
    path.write_text(BROKEN_EDITS[edit](text), "utf-8")
    settle(path)
    assert service.reload(force=True) is False
    assert service.config is good
    assert service.refused is not None and str(path) in service.refused.message
    c = create_app(service).test_client()
    st = json.loads(c.get("/status.json").data)
    assert st["config"]["refused"]["message"] == service.refused.message
    assert st["config"]["sha256"] == good.sha256
    assert b"was refused" in c.get("/status").data
    assert c.get("/feeds/topic/kharkiv.atom").status_code == 200  # still serving
    # Fixing the file clears the refusal.
    path.write_text(text + NEW_TOPIC, "utf-8")
    settle(path)
    assert service.reload(force=True) is True
    assert service.refused is None and service.config.topic("transport") is not None


def test_atomic_rename_is_picked_up(service: Service) -> None:
    path = service.config.path
    tmp = path.with_suffix(".tmp")
    tmp.write_text(path.read_text("utf-8") + NEW_TOPIC, "utf-8")
    settle(tmp)
    os.replace(tmp, path)
    assert service.reload(force=True) is True
    assert service.config.topic("transport") is not None


@pytest.mark.parametrize("cut", [0, 40, 258, 536, 791, -200, -1])
def test_a_config_being_written_is_not_taken_until_it_is_stable(service: Service,
                                                                 cut: int) -> None:
    """A non-atomic write seen half-way (the file cut at a byte offset) is left alone
    until the file stops changing; the finished file is then taken."""
    path = service.config.path
    good = service.config
    full = path.read_bytes() + NEW_TOPIC.encode()
    path.write_bytes(full[:cut])  # the writer is half-way: mtime is now
    assert service.reload(force=True) is False
    assert service.reload() is False  # a request soon after: still waiting
    assert service.config is good and service.refused is None
    c = create_app(service).test_client()
    assert c.get("/feeds/topic/kharkiv.atom").status_code == 200
    path.write_bytes(full)  # the writer finishes
    settle(path)
    assert service.reload(force=True) is True
    assert service.config.topic("transport") is not None and service.refused is None


def test_a_stable_file_is_read_on_a_later_look_without_waiting(service: Service) -> None:
    path = service.config.path
    path.write_text(path.read_text("utf-8") + NEW_TOPIC, "utf-8")
    assert service.reload(force=True) is False  # just written: deferred, not blocked
    sig = path.stat()
    service._pending_at -= 5  # the second look comes a moment later, file unchanged
    assert path.stat().st_mtime_ns == sig.st_mtime_ns
    assert service.reload(force=True) is True
    assert service.config.topic("transport") is not None


@pytest.mark.parametrize("edit", ["empty file", "no topics", "no sources"])
def test_an_edit_that_drops_everything_is_refused(service: Service, edit: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The database from the environment, as on PostgreSQL deployments: an empty file
    # then parses as a valid config with 0 sources and 0 topics.
    monkeypatch.setenv("FEEDSVC_DATABASE_URL", service.config.database_url)
    path = service.config.path
    good = service.config
    text = path.read_text("utf-8")
    head, _, _ = text.partition("[[topic]]")
    top, _, _ = text.partition("[[source]]")
    path.write_text({"empty file": "", "no topics": head,
                     "no sources": top + "[[topic]]" + text.partition("[[topic]]")[2]}[edit],
                    "utf-8")
    settle(path)
    assert service.reload(force=True) is False
    assert service.config is good
    assert service.refused is not None and "allow_empty" in service.refused.message
    c = create_app(service).test_client()
    assert "allow_empty" in json.loads(c.get("/status.json").data)["config"]["refused"][
        "message"]
    r = c.get("/feeds/topic/kharkiv.atom")
    assert r.status_code == 200 and len(parse_ok(r.data).entries) > 0


def test_allow_empty_lets_an_operator_drop_every_topic(service: Service) -> None:
    path = service.config.path
    head = path.read_text("utf-8").partition("[[topic]]")[0]
    path.write_text(head.replace("[service]", "[service]\nallow_empty = true"), "utf-8")
    settle(path)
    assert service.reload(force=True) is True
    assert service.config.topics == ()
    assert create_app(service).test_client().get("/feeds/topic/kharkiv.atom").status_code == 404


def test_unchanged_file_is_not_reloaded(service: Service) -> None:
    before = service.config
    assert service.reload(force=True) is False
    assert service.config is before and service.refused is None


def test_a_thousand_topics_load_and_classify(service: Service) -> None:
    path = service.config.path
    extra = "".join(f'\n[[topic]]\nslug = "t{i}"\nany = ["word{i}", "term{i}*"]\n'
                    for i in range(1000))
    path.write_text(path.read_text("utf-8") + extra, "utf-8")
    settle(path)
    started = time.perf_counter()
    assert service.reload(force=True) is True
    assert len(service.config.topics) == 1005
    results = Refresher(service.config, service.store).refresh()
    assert results[0].outcome == "unchanged"
    assert time.perf_counter() - started < 30


def test_changed_topic_rules_reclassify_old_articles(service: Service) -> None:
    sched = Scheduler(service)
    try:
        sched.beat()  # the active scheduler (lease holder) re-classifies
        path = service.config.path
        c = create_app(service).test_client()
        assert c.get("/feeds/topic/transport.atom").status_code == 404
        path.write_text(path.read_text("utf-8") + NEW_TOPIC, "utf-8")
        settle(path)
        assert service.reload(force=True) is True  # starts a re-classification thread
        sched.reclassify()  # a second run waits for it: never two at once
        feed = parse_ok(c.get("/feeds/topic/transport.atom").data)
        titles = {e.title for e in feed.entries}
        assert "Kyiv metro extends night service on weekends" in titles
        assert any("трамва" in t for t in titles)
        # A topic that loses a term loses its articles too.
        text = path.read_text("utf-8").replace('"Kharkiv*", ', "")
        path.write_text(text, "utf-8")
        settle(path)
        assert service.reload(force=True) is True
        sched.reclassify()
        feed = parse_ok(c.get("/feeds/topic/kharkiv.atom").data)
        assert {e.title for e in feed.entries} == {
            e["title"] for e in EXPECTED.values() if e["lang"] == "uk" and "kharkiv" in e["topics"]}
    finally:
        sched.stop()


def test_running_service_picks_up_edits_and_refuses_broken_ones(tmp_path: Path,
                                                                sample_config) -> None:  # noqa: ANN001
    path = sample_config.path
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedsvc", "--config", str(path), "run", "--port", str(port)],
        env=ENV, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_line(proc, "feedsvc serving")
        assert requests.get(f"{base}/feeds/topic/transport.atom", timeout=5).status_code == 404
        good = path.read_text("utf-8")
        path.write_text(good + NEW_TOPIC, "utf-8")
        settle(path)
        proc.send_signal(signal.SIGHUP)  # at once; without it, within the reload interval
        deadline = time.monotonic() + 30
        while requests.get(f"{base}/feeds/topic/transport.atom", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "new topic feed never appeared"
            time.sleep(0.1)  # waiting for the reload to land
        path.write_text(good + NEW_TOPIC + "\n[service]\ntitle = 'twice'\n", "utf-8")
        settle(path)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while True:
            st = requests.get(f"{base}/status.json", timeout=5).json()
            if st["config"]["refused"]:
                break
            assert time.monotonic() < deadline, "broken edit never reported"
            time.sleep(0.1)
        assert "service" in st["config"]["refused"]["message"]
        r = requests.get(f"{base}/feeds/topic/transport.atom", timeout=5)
        assert r.status_code == 200 and proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)

