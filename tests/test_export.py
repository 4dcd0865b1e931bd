"""`feedsvc export DIR`: the feeds as static files, byte for byte the app's, written
incrementally, and served by a real nginx with the app's headers (deploy/)."""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from conftest import EXPECTED, NOW, SAMPLE, SAMPLE_SOURCE, free_port, settle, write_config
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from feedsvc import cli, clock, feednames
from feedsvc import config as config_mod
from feedsvc.errors import ExportError
from feedsvc.export import Exporter, export, with_base_url
from feedsvc.service import Service
from feedsvc.web import create_app

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://feeds.example.org"
TODAY = "2026-11-25"  # conftest.NOW in Kyiv
NEW_PAGE = "31-grid-operator-second-look.html"  # a copy of 04, on 2026-11-18, "energy"


@dataclass
class Archive:
    path: Path  # the config file
    svc: Service
    client: FlaskClient
    out: Path  # the export folder


@pytest.fixture
def archive(tmp_path: Path, any_db_url: str) -> Iterator[Archive]:
    """The sample archive, refreshed, with a base_url (on every store backend)."""
    shutil.copytree(SAMPLE, tmp_path / "sample")
    path = write_config(tmp_path, SAMPLE_SOURCE, database=any_db_url,
                        service=f'base_url = "{BASE}"')
    svc = Service(config_mod.load(path), writer=True)
    svc.upgrade()
    assert [r.outcome for r in svc.refresh()] == ["new"]
    yield Archive(path, svc, create_app(svc).test_client(), tmp_path / "export")
    svc.close()


def run_export(a: Archive, *extra: str) -> int:
    return cli.main(["--config", str(a.path), "export", str(a.out), *extra])


def read_manifest(out: Path) -> dict[str, dict[str, object]]:
    return json.loads((out / ".feedsvc" / "manifest.json").read_text())["feeds"]


def manifest_paths(out: Path) -> set[str]:
    return set(read_manifest(out))


def app_answers(client: FlaskClient, paths: set[str]) -> dict[str, tuple[bytes, bytes, str]]:
    """path -> (identity body, gzip body, ETag) as the app serves them."""
    out = {}
    for p in sorted(paths):
        plain = client.get(p, headers={"Accept-Encoding": "identity"})
        gz = client.get(p, headers={"Accept-Encoding": "gzip"})
        assert plain.status_code == gz.status_code == 200, p
        out[p] = (plain.data, gz.data, plain.headers["ETag"])
    return out


def add_article(a: Archive) -> set[str]:
    """A new article on 2026-11-18 (energy); refresh; the feed keys it touches."""
    page = (SAMPLE / "04-grid-operator-no-rolling-blackouts-repairs-ahead.html").read_text()
    page = page.replace("grid-operator-no-rolling-blackouts-repairs-ahead",
                        "grid-operator-second-look").replace("Grid operator says",
                                                             "Grid operator again says")
    (a.path.parent / "sample" / NEW_PAGE).write_text(page, "utf-8")
    results = a.svc.refresh()
    assert [(r.outcome, r.new) for r in results] == [("new", 1)], results
    return feednames.touched(["sample"], ["energy"], ["2026-11-18"])


def test_export_writes_every_feed_with_the_apps_bytes(archive: Archive,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert run_export(archive) == 0
    days = sorted({e["kyiv_day"] for e in EXPECTED.values() if e["kyiv_day"]})
    assert days[0] == "2026-11-18"
    topics = [t.slug for t in archive.svc.config.topics]
    names = [feednames.ALL, feednames.DIGEST, feednames.source("sample"),
             *(feednames.topic(t) for t in topics)]
    for d in ["2026-11-18", "2026-11-19", "2026-11-22", "2026-11-24", TODAY]:
        names += [feednames.day(d), *(feednames.topic_day(t, d) for t in topics)]
    expected = {n.path(fmt) for n in names for fmt in feednames.FORMATS}
    paths = manifest_paths(archive.out)
    assert expected <= paths
    assert not any("2026-11-17" in p or "2026-11-26" in p for p in paths)  # app: 404
    answers = app_answers(archive.client, paths)
    manifest = read_manifest(archive.out)
    for p, (plain, gz, etag) in answers.items():
        max_age = manifest[p]["max_age"]
        assert manifest[p]["etag"] == etag, p
        assert archive.client.get(p).headers["Cache-Control"] == f"public, max-age={max_age}"
        assert (archive.out / p[1:]).read_bytes() == plain, p
        assert (archive.out / (p[1:] + ".gz")).read_bytes() == gz, p
        last_modified = archive.client.get(p).headers["Last-Modified"]
        mtime = os.stat(archive.out / p[1:]).st_mtime
        assert time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime)) == last_modified
    out = capsys.readouterr().out
    assert f"written={len(paths)} unchanged=0 removed=0" in out


def test_a_second_export_writes_nothing_and_a_new_article_only_what_it_touches(
        archive: Archive) -> None:
    first = export(archive.svc, archive.out)
    paths = set(first.written)
    inodes = {p: os.stat(archive.out / p[1:]).st_ino for p in paths}
    again = export(archive.svc, archive.out)
    assert again.written == () and again.removed == () and again.unchanged == len(paths)
    assert {p: os.stat(archive.out / p[1:]).st_ino for p in paths} == inodes

    before = app_answers(archive.client, paths)
    touched = add_article(archive)
    after = app_answers(archive.client, paths)
    changed = {p for p in paths if before[p] != after[p]}
    touched_paths = {feednames.from_key(k).path(f)  # type: ignore[union-attr]
                     for k in touched for f in feednames.FORMATS}
    assert changed <= touched_paths  # the app agrees with touched()
    assert {"/feeds/day/2026-11-18.atom", "/feeds/topic/energy/day/2026-11-18.json",
            "/feeds/all.rss", "/feeds/source/sample.atom"} <= changed

    third = export(archive.svc, archive.out)
    assert set(third.written) == changed
    for p in paths:
        stays = os.stat(archive.out / p[1:]).st_ino == inodes[p]
        assert stays == (p not in changed), p
        assert (archive.out / p[1:]).read_bytes() == after[p][0], p
        assert (archive.out / (p[1:] + ".gz")).read_bytes() == after[p][1], p


def test_at_midnight_today_becomes_a_finished_day(archive: Archive) -> None:
    export(archive.svc, archive.out)
    p = f"/feeds/day/{TODAY}.atom"
    assert read_manifest(archive.out)[p]["max_age"] == 3600
    assert b"fh:archive" not in (archive.out / p[1:]).read_bytes()
    clock.set_now(NOW + timedelta(days=1))  # 2026-11-26 in Kyiv
    result = export(archive.svc, archive.out)
    assert p in result.written and "/feeds/day/2026-11-26.rss" in result.written
    assert "/feeds/day/2026-11-24.json" not in result.written  # finished before: as it was
    assert read_manifest(archive.out)[p]["max_age"] == 86400
    served = archive.client.get(p, headers={"Accept-Encoding": "identity"})
    assert served.headers["Cache-Control"] == "public, max-age=86400"
    assert (archive.out / p[1:]).read_bytes() == served.data
    assert b"fh:archive" in served.data


def test_feeds_that_left_the_config_lose_their_files(archive: Archive) -> None:
    export(archive.svc, archive.out)
    assert (archive.out / "feeds/topic/culture/day/2026-11-20.rss").exists()
    text = archive.path.read_text()
    start = text.index('[[topic]]\nslug = "culture"')
    end = text.find("[[topic]]", start + 1)
    archive.path.write_text(text[:start] + (text[end:] if end > 0 else ""))
    settle(archive.path)
    assert archive.svc.reload(force=True)
    result = export(archive.svc, archive.out)
    gone = {p for p in result.removed}
    assert "/feeds/topic/culture.atom" in gone and "/feeds/topic/culture/day/2026-11-20.rss" in gone
    assert not (archive.out / "feeds/topic/culture.atom").exists()
    assert not (archive.out / "feeds/topic/culture/day/2026-11-20.rss.gz").exists()
    assert all("/culture" not in p for p in manifest_paths(archive.out))
    assert (archive.out / "feeds/topic/energy.atom").exists()


def test_an_export_needs_a_base_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, SAMPLE_SOURCE)
    out = tmp_path / "export"
    assert cli.main(["--config", str(path), "export", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--base-url" in err and "service.base_url" in err
    assert cli.main(["--config", str(path), "export", str(out),
                     "--base-url", "ftp://feeds.example.org"]) == 1
    assert "absolute http(s) URL" in capsys.readouterr().err
    assert not out.exists()  # nothing written for a refused export


def test_an_export_of_an_unmigrated_database_says_so(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, SAMPLE_SOURCE, service=f'base_url = "{BASE}"')
    assert cli.main(["--config", str(path), "export", str(tmp_path / "export")]) == 1
    assert "feedsvc db upgrade" in capsys.readouterr().err
    assert not (tmp_path / "export").exists()  # an export never migrates, nor writes


def test_base_url_from_the_command_line_writes_its_links(archive: Archive) -> None:
    cfg = with_base_url(archive.svc.config, "https://cdn.example.net/")
    assert cfg.service.base_url == "https://cdn.example.net"
    svc = Service(cfg)
    try:
        export(svc, archive.out)
    finally:
        svc.close()
    body = (archive.out / "feeds/topic/energy.atom").read_bytes()
    assert b'href="https://cdn.example.net/feeds/topic/energy.atom"' in body
    assert BASE.encode() not in body


def test_an_export_folder_that_is_a_file_is_refused(archive: Archive,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    archive.out.write_text("not a folder")
    assert run_export(archive) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(archive.out) in err
    assert archive.out.read_text() == "not a folder"


def test_one_export_at_a_time(archive: Archive) -> None:
    (archive.out / ".feedsvc").mkdir(parents=True)
    fd = os.open(archive.out / ".feedsvc" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export is running"):
            Exporter(archive.svc, archive.out).run()
    finally:
        os.close(fd)
    assert not (archive.out / "feeds").exists()


# -- a real nginx serving the export ------------------------------------------------
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                  else None)
HEADERS = ("Content-Type", "ETag", "Cache-Control", "Content-Encoding", "Vary", "Link",
           "Last-Modified")


@pytest.fixture
def app_server(archive: Archive) -> Iterator[str]:
    """The web app over HTTP on 127.0.0.1 (nginx's @feedsvc: queries, misses)."""
    server = make_server("127.0.0.1", 0, create_app(archive.svc), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def nginx(archive: Archive, app_server: str, tmp_path: Path) -> Iterator[str]:
    """nginx (nginx-light) with deploy/'s snippets, serving the export folder."""
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (.ci/run installs nginx-light)")
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    export(archive.svc, archive.out)
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    port = free_port()
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(f"""\
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    include {archive.out}/.feedsvc/nginx-maps.conf;
    include {ROOT}/deploy/nginx-feedsvc-http.conf;
    server {{
        listen 127.0.0.1:{port};
        root {archive.out};
        include {ROOT}/deploy/nginx-feedsvc.conf;
        location @feedsvc {{ proxy_pass {app_server}; }}
    }}
}}
""")
    check = subprocess.run([NGINX, "-p", str(prefix), "-c", str(conf), "-t"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"{url}/.feedsvc/", timeout=2)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "nginx never answered"
            time.sleep(0.05)  # readiness poll of a starting server, bounded by deadline
    yield url
    proc.terminate()
    proc.wait(20)


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def fetch(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Status, the headers that matter, and the raw (undecoded) body."""
    r = requests.get(url, headers=headers, stream=True, timeout=10)
    body = r.raw.read(decode_content=False)
    return r.status_code, {h: r.headers[h] for h in HEADERS if h in r.headers}, body


def test_nginx_serves_the_export_as_the_app_does(archive: Archive, app_server: str,
                                                 nginx: str) -> None:
    paths = sorted(p for p in manifest_paths(archive.out)
                   if "/day/" not in p or "2026-11-21" in p or TODAY in p)
    assert len(paths) > 20
    for p in paths:
        for enc in ("identity", "gzip"):
            h = {"Accept-Encoding": enc}
            app = fetch(app_server + p, h)
            ngx = fetch(nginx + p, h)
            assert app[0] == ngx[0] == 200
            assert ngx == app, (p, enc)
            etag = app[1]["ETag"]
            assert etag.endswith('-gz"') == (enc == "gzip")
            for inm in (etag, f"W/{etag}", f'"nope", {etag}', "*",
                        etag.replace('-gz"', '"') if enc == "gzip" else etag[:-1] + '-gz"'):
                h304 = {**h, "If-None-Match": inm}
                app304, ngx304 = fetch(app_server + p, h304), fetch(nginx + p, h304)
                assert app304[0] == ngx304[0] == 304, (p, inm)
                assert ngx304[1]["ETag"] == app304[1]["ETag"] == etag
                assert ngx304[1]["Cache-Control"] == app304[1]["Cache-Control"]
            other = {**h, "If-None-Match": '"0123"'}
            assert fetch(nginx + p, other)[0] == fetch(app_server + p, other)[0] == 200
            ims = {**h, "If-Modified-Since": app[1]["Last-Modified"]}
            assert fetch(nginx + p, ims)[0] == fetch(app_server + p, ims)[0] == 304
            both = {**other, **ims}  # If-None-Match decides when both are sent
            assert fetch(nginx + p, both)[0] == fetch(app_server + p, both)[0] == 200
    finished = fetch(nginx + "/feeds/day/2026-11-21.atom", {})[1]["Cache-Control"]
    current = fetch(nginx + "/feeds/day/" + TODAY + ".atom", {})[1]["Cache-Control"]
    assert finished == "public, max-age=86400" and current == "public, max-age=3600"
    # Queries and unknown feeds reach the app through @feedsvc; the manifest is private.
    q = "/feeds/all.atom?limit=2"
    assert fetch(nginx + q, {})[2] == fetch(app_server + q, {})[2]
    assert fetch(nginx + "/feeds/topic/nope.atom", {})[0] == 404
    assert fetch(nginx + "/.feedsvc/manifest.json", {})[0] == 404


def test_nginx_after_a_new_article_and_a_reload(archive: Archive, app_server: str,
                                                nginx: str, tmp_path: Path) -> None:
    p = "/feeds/topic/energy/day/2026-11-18.rss"
    old = fetch(nginx + p, {})
    add_article(archive)
    result = export(archive.svc, archive.out)
    assert p in result.written
    prefix = tmp_path / "nginx"
    master = int((prefix / "nginx.pid").read_text())
    workers = children(master)
    assert workers
    reload = subprocess.run([NGINX or "nginx", "-p", str(prefix), "-c",
                             str(prefix / "nginx.conf"), "-s", "reload"],
                            capture_output=True, text=True, timeout=30)
    assert reload.returncode == 0, reload.stderr
    deadline = time.monotonic() + 20
    while children(master) & workers:  # the old workers (old maps) finish and exit
        assert time.monotonic() < deadline, "nginx never replaced its workers"
        time.sleep(0.05)  # the reload replaces workers in the background; bounded poll
    app = fetch(app_server + p, {})
    ngx = fetch(nginx + p, {})
    assert ngx == app and ngx[2] != old[2]
    plain = fetch(nginx + p, {"Accept-Encoding": "identity"})
    assert b"Grid operator again says" in plain[2]
    h = {"If-None-Match": old[1]["ETag"]}
    assert fetch(nginx + p, h)[0] == fetch(app_server + p, h)[0] == 200
