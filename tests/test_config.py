"""The config file: loading, validation errors as ``file: key.path: message`` lines,
parsing of durations/sizes, env overrides, and the ``check-config`` / ``db upgrade``
commands."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_config

from feedsvc import cli
from feedsvc import config as config_mod
from feedsvc.errors import ConfigError

BUNDLED = ROOT / "config" / "feedsvc.toml"

FEED = """
    [[source]]
    id = "news"
    kind = "feed"
    url = "https://news.example/feed.xml"
    """

ONE_TOPIC = """
    [[topic]]
    slug = "energy"
    any = ["energy"]
    """


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDSVC_CONFIG", raising=False)
    monkeypatch.delenv("FEEDSVC_DATABASE_URL", raising=False)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FEEDSVC_CONFIG", None)
    env.pop("FEEDSVC_DATABASE_URL", None)
    env["FEEDSVC_LOG_LEVEL"] = "WARNING"
    return env


def feedsvc(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedsvc", *args], capture_output=True,
                          text=True, cwd=cwd, env=_env(), timeout=60)


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    return info.value


def check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(["--config", str(path), "check-config"])
    out, err = capsys.readouterr()
    return rc, out, err


# -- the bundled config ---------------------------------------------------------------
def test_bundled_config_loads() -> None:
    cfg = config_mod.load(BUNDLED)
    assert cfg.path == BUNDLED.resolve()
    assert [s.id for s in cfg.sources] == ["sample", "espreso-global"]
    assert cfg.source("sample").kind == "files"
    assert cfg.source("espreso-global").kind == "site" and cfg.source("espreso-global").enabled
    assert cfg.service.timezone == "Europe/Kyiv"
    assert cfg.fetch.max_bytes == 10_000_000
    assert cfg.fetch.timeout == 20
    assert {t.slug for t in cfg.topics} >= {"military-aid", "energy", "kharkiv"}
    assert len(cfg.sha256) == 64


def test_check_config_on_bundled_config_prints_ok() -> None:
    proc = feedsvc("--config", str(BUNDLED), "check-config")
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
    assert str(BUNDLED.resolve()) in proc.stdout
    assert "2 sources" in proc.stdout


def test_check_config_uses_default_path_from_project_folder() -> None:
    proc = feedsvc("check-config", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


# -- refused configs ------------------------------------------------------------------
# name -> (sources, write_config kwargs, text replacements, key-path regex, message parts)
SOURCE_TZ = FEED + 'timezone = "Europe/Kiyv"\n'
CASES: dict[str, tuple[str, dict[str, str], dict[str, str], str, tuple[str, ...]]] = {
    "source key typo": (
        FEED.replace("url =", "urll ="), {}, {},
        r"source\[0\](\(news\))?\.urll", ("unknown key 'urll'", "'url'")),
    "top-level section typo": (
        FEED, {}, {"[service]": "[servce]"},
        r"servce", ("unknown key 'servce'", "'service'")),
    "service key typo": (
        FEED, {"service": 'timezne = "UTC"'}, {},
        r"service\.timezne", ("unknown key 'timezne'", "'timezone'")),
    "unknown kind": (
        FEED.replace('"feed"', '"rss"'), {}, {},
        r"source\[0\](\(news\))?\.kind", ("'feed'", "'html'")),
    "bad duration": (
        FEED + 'every = "10 minutes"\n', {}, {},
        r"source\[0\](\(news\))?\.every", ("10 minutes",)),
    "bad size": (
        FEED, {"fetch": 'max_bytes = "ten"'}, {},
        r"fetch\.max_bytes", ("'ten'",)),
    "misspelt source time zone": (
        SOURCE_TZ, {}, {},
        r"source\[0\](\(news\))?\.timezone", ("Europe/Kiyv",)),
    "invented service time zone": (
        FEED, {}, {'timezone = "Europe/Kyiv"': 'timezone = "Mars/Base"'},
        r"service\.timezone", ("Mars/Base",)),
    "uppercase id": (
        FEED.replace('"news"', '"News"'), {}, {},
        r"source\[0\](\(News\))?\.id", ("'News'", "[a-z0-9-]+")),
    "id with spaces": (
        FEED.replace('"news"', '"my news"'), {}, {},
        r"source\[0\](\(my news\))?\.id", ("'my news'", "[a-z0-9-]+")),
    "topic slug with uppercase": (
        FEED, {"topics": ONE_TOPIC.replace('"energy"\n    any', '"Energy"\n    any')}, {},
        r"topic\[0\](\(Energy\))?\.slug", ("'Energy'",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_invalid_config_is_refused_with_key_path(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources, kw, replace, key_re, parts = CASES[name]
    kw = {"topics": ONE_TOPIC} | kw
    path = write_config(tmp_path, sources, **kw)
    text = path.read_text("utf-8")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text, "utf-8")

    err = refused(path)
    matching = [(k, m) for k, m in err.problems if re.fullmatch(key_re, k)]
    assert matching, f"no problem at {key_re!r}: {err.problems}"
    key, msg = matching[0]
    for part in parts:
        assert part in msg
    line = f"{path}: {key}: {msg}"
    assert line in str(err).splitlines()

    rc, out, stderr = check_config(path, capsys)
    assert rc == 2
    assert "ok" not in out
    assert line in stderr.splitlines()


def test_check_config_error_via_console_entry_point(tmp_path: Path) -> None:
    path = write_config(tmp_path, FEED + 'every = "10 minutes"\n', topics=ONE_TOPIC)
    proc = feedsvc("--config", str(path), "check-config")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert re.search(rf"^{re.escape(str(path))}: source\[0\](\(news\))?\.every: "
                     r"not a duration: '10 minutes'", proc.stderr, re.M)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write_config(tmp_path, FEED + 'every = "soon"\n', topics=ONE_TOPIC,
                        fetch='max_bytes = "lots"')
    keys = [k for k, _ in refused(path).problems]
    assert any(k.startswith("source[0]") and k.endswith(".every") for k in keys)
    assert "fetch.max_bytes" in keys


def test_duplicate_source_ids_are_refused_at_the_duplicate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, FEED + FEED, topics=ONE_TOPIC)
    err = refused(path)
    dup = [(k, m) for k, m in err.problems if "duplicate" in m]
    assert dup, err.problems
    key, msg = dup[0]
    assert "'news'" in msg
    # the second [[source]] (index 1) is the duplicate: the line names it
    assert re.fullmatch(r"source\[1\](\(news\))?(\.id)?", key), (
        f"duplicate id reported without its key path: {str(err)!r}")
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert f"{path}: {key}: {msg}" in stderr


def test_duplicate_topic_slugs_are_refused_at_the_duplicate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, FEED, topics=ONE_TOPIC + ONE_TOPIC)
    err = refused(path)
    dup = [(k, m) for k, m in err.problems if "duplicate" in m]
    assert dup, err.problems
    key, msg = dup[0]
    assert "'energy'" in msg
    assert re.fullmatch(r"topic\[1\](\(energy\))?(\.slug)?", key), (
        f"duplicate slug reported without its key path: {str(err)!r}")
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert f"{path}: {key}: {msg}" in stderr


def test_topic_naming_unknown_source_is_refused_at_its_sources(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topics = ONE_TOPIC + 'sources = ["news", "nope"]\n'
    path = write_config(tmp_path, FEED, topics=topics)
    err = refused(path)
    bad = [(k, m) for k, m in err.problems if "'nope'" in m]
    assert bad, err.problems
    key, msg = bad[0]
    assert "unknown source" in msg
    assert "'news'" not in msg  # the known one is fine
    assert re.fullmatch(r"topic\[0\](\(energy\))?\.sources(\[1\])?", key), (
        f"unknown source reported without its key path: {str(err)!r}")
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert f"{path}: {key}: {msg}" in stderr


HTML = """
    [[source]]
    id = "page"
    kind = "html"
    url = "https://news.example/latest"
    """


def _html_problem(path: Path) -> tuple[str, str, str]:
    err = refused(path)
    assert len(err.problems) == 1, err.problems
    key, msg = err.problems[0]
    return key, msg, str(err)


def test_html_source_without_links_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, HTML, topics=ONE_TOPIC)
    key, msg, line = _html_problem(path)
    assert key.startswith("source[0]")
    # the line points at `links` of that source (in the key path or right after it)
    assert re.match(rf"{re.escape(str(path))}: source\[0\](\(page\))?(\.links: |: .*links)",
                    line), line
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert line in stderr


def test_invalid_links_selector_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, HTML + 'links = "article >> a["\n', topics=ONE_TOPIC)
    key, msg, line = _html_problem(path)
    assert "invalid CSS selector" in msg
    assert "article >> a[" in msg
    assert re.match(rf"{re.escape(str(path))}: source\[0\](\(page\))?(\.links|: links): ",
                    line), line
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert line in stderr


def test_invalid_select_selector_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, HTML + 'links = "article h2 a"\n[source.select]\n'
                        'title = "h1"\npublished = "time[[datetime"\n', topics=ONE_TOPIC)
    key, msg, line = _html_problem(path)
    assert "invalid CSS selector" in msg
    assert "time[[datetime" in msg
    assert re.match(rf"{re.escape(str(path))}: source\[0\](\(page\))?\.select"
                    r"(\.published|: published): ", line), line
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert line in stderr


def test_valid_html_source_with_selectors_loads(tmp_path: Path) -> None:
    path = write_config(tmp_path, HTML + 'links = "article h2 a"\n[source.select]\n'
                        'title = "h1"\npublished = "time[datetime]"\n', topics=ONE_TOPIC)
    src = config_mod.load(path).source("page")
    assert src.links == "article h2 a"
    assert src.select.published == "time[datetime]"


@pytest.mark.parametrize("bad_line", ['extra = [1, 2', 'title = "unclosed'])
def test_toml_syntax_error_is_refused_with_line_number(
        bad_line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, FEED + bad_line + "\nenabled = true\n", topics=ONE_TOPIC)
    lines = path.read_text("utf-8").splitlines()
    lineno = next(i for i, ln in enumerate(lines, 1) if ln.strip() == bad_line)
    err = refused(path)
    assert len(err.problems) == 1
    text = str(err)
    assert text.startswith(f"{path}: TOML syntax error")
    # tomllib reports where it noticed: the bad line, or (unclosed array) the next one
    m = re.search(r"line (\d+)", text)
    assert m, text
    assert lineno <= int(m.group(1)) <= lineno + 1, text
    rc, out, stderr = check_config(path, capsys)
    assert rc == 2
    assert out == ""
    assert text in stderr


def test_non_utf8_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "feedsvc.toml"
    path.write_bytes('[service]\ntitle = "Caf\u00e9 news"\n'.encode("latin-1"))
    err = refused(path)
    assert str(err).startswith(f"{path}: not UTF-8")
    rc, _, stderr = check_config(path, capsys)
    assert rc == 2
    assert f"{path}: not UTF-8" in stderr


def test_missing_config_file_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere" / "feedsvc.toml"
    err = refused(path)
    assert str(err).startswith(f"{path}: cannot read")
    assert "No such file" in str(err)
    rc, out, stderr = check_config(path, capsys)
    assert rc == 2
    assert out == ""
    assert f"{path}: cannot read" in stderr


# -- parsing ------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h", 3600)])
def test_durations(text: str, seconds: int, tmp_path: Path) -> None:
    assert config_mod.parse_duration(text) == seconds
    path = write_config(tmp_path, FEED + f'every = "{text}"\n', topics=ONE_TOPIC)
    assert config_mod.load(path).source("news").every == seconds


@pytest.mark.parametrize(("text", "size"), [("512KB", 512_000), ("10MB", 10_000_000)])
def test_sizes(text: str, size: int, tmp_path: Path) -> None:
    assert config_mod.parse_size(text) == size
    path = write_config(tmp_path, FEED, topics=ONE_TOPIC, fetch=f'max_bytes = "{text}"')
    assert config_mod.load(path).fetch.max_bytes == size


def test_fetch_timeout_and_zero_per_host_delay(tmp_path: Path) -> None:
    path = write_config(tmp_path, FEED, topics=ONE_TOPIC)  # timeout "2s", delay "0s"
    cfg = config_mod.load(path)
    assert cfg.fetch.per_host_delay == 0
    assert cfg.fetch.timeout == 2


@pytest.mark.parametrize("every", ['"0s"', '"-5m"', '"10"', '"1 week"'])
def test_zero_negative_or_unitless_durations_are_refused(every: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, FEED + f"every = {every}\n", topics=ONE_TOPIC)
    keys = [k for k, _ in refused(path).problems]
    assert any(re.fullmatch(r"source\[0\](\(news\))?\.every", k) for k in keys), keys


# -- env overrides --------------------------------------------------------------------
def test_feedsvc_config_env_selects_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, FEED, topics=ONE_TOPIC, service='feed_size = 7')
    monkeypatch.chdir(tmp_path / "..")  # no config/feedsvc.toml here
    monkeypatch.setenv("FEEDSVC_CONFIG", str(path))
    cfg = config_mod.load(None)
    assert cfg.path == path.resolve()
    assert cfg.service.feed_size == 7


def test_explicit_config_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env_path = write_config(tmp_path / "a", FEED, topics=ONE_TOPIC, service="feed_size = 1")
    explicit = write_config(tmp_path / "b", FEED, topics=ONE_TOPIC, service="feed_size = 2")
    monkeypatch.setenv("FEEDSVC_CONFIG", str(env_path))
    assert config_mod.load(explicit).service.feed_size == 2


def test_check_config_reads_feedsvc_config_env(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, FEED + 'every = "10 minutes"\n', topics=ONE_TOPIC)
    monkeypatch.setenv("FEEDSVC_CONFIG", str(path))
    assert cli.main(["check-config"]) == 2
    assert f"{path}: source[0]" in capsys.readouterr().err


def test_database_url_env_wins_over_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_file = f"sqlite:///{tmp_path / 'from-file.sqlite3'}"
    from_env = f"sqlite:///{tmp_path / 'from-env.sqlite3'}"
    path = write_config(tmp_path, FEED, topics=ONE_TOPIC, database=in_file)
    assert config_mod.load(path).database_url == in_file
    monkeypatch.setenv("FEEDSVC_DATABASE_URL", from_env)
    cfg = config_mod.load(path)
    assert cfg.database_url == from_env
    assert cfg.service.database == in_file


# -- files sources ------------------------------------------------------------------
FILES = """
    [[source]]
    id = "archive"
    kind = "files"
    url = "saved/"
    """


def test_files_url_resolves_relative_to_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    write_config(folder, FILES, topics=ONE_TOPIC)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = config_mod.load(Path("..") / "conf" / "feedsvc.toml")  # a relative path
    src = cfg.source("archive")
    assert cfg.resolve_path(src.url) == (folder / "saved").resolve()


def test_files_url_absolute_and_file_scheme(tmp_path: Path) -> None:
    cfg = config_mod.load(write_config(tmp_path, FILES, topics=ONE_TOPIC))
    target = tmp_path / "exports"
    assert cfg.resolve_path(str(target)) == target
    assert cfg.resolve_path(f"file://{target}") == target


def test_sample_config_fixture_points_at_the_bundled_pages(sample_config) -> None:  # noqa: ANN001
    src = sample_config.source("sample")
    folder = sample_config.resolve_path(src.url)
    assert (folder / "EXPECTED.json").is_file()
    assert len(list(folder.glob("*.html"))) == 30


# -- db upgrade ---------------------------------------------------------------------
TABLES = {"articles", "article_topics", "article_sources", "source_state",
          "feed_versions", "rendered", "kv", "alembic_version"}


def _tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def test_db_upgrade_creates_tables_and_is_repeatable(tmp_path: Path) -> None:
    db = tmp_path / "var" / "archive.sqlite3"  # folder does not exist yet
    path = write_config(tmp_path, FEED, topics=ONE_TOPIC, database=f"sqlite:///{db}")
    first = feedsvc("--config", str(path), "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "schema version" in first.stdout
    assert _tables(db) >= TABLES

    second = feedsvc("--config", str(path), "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert _tables(db) >= TABLES


def test_db_upgrade_refuses_invalid_config(tmp_path: Path) -> None:
    db = tmp_path / "archive.sqlite3"
    path = write_config(tmp_path, FEED + 'every = "soon"\n', topics=ONE_TOPIC,
                        database=f"sqlite:///{db}")
    proc = feedsvc("--config", str(path), "db", "upgrade")
    assert proc.returncode == 2
    assert f"{path}: " in proc.stderr
    assert not db.exists()
