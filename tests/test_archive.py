"""The archive at scale (issue 12): migration 0004, feeds read from feed-order indexes,
keyset paging, counters, the digest from headlines, and ``q`` with the word rules of
topics (issue 11.9), on a real SQLite file and on PostgreSQL when configured."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import SAMPLE, settle, write_config

from feedsvc import clock, feednames
from feedsvc import config as config_mod
from feedsvc.dates import local_day
from feedsvc.service import Service
from feedsvc.store import MIGRATIONS, Store
from feedsvc.store.tables import article_sources, article_topics, articles, kv
from feedsvc.topics import Classifier
from feedsvc.types import ArticleData
from feedsvc.web import create_app

KYIV = ZoneInfo("Europe/Kyiv")


@pytest.fixture
def store(any_db_url: str):  # noqa: ANN201
    st = Store(any_db_url, KYIV)
    st.upgrade()
    yield st
    st.close()


def _art(n: int, published: datetime | None, **kw) -> ArticleData:  # noqa: ANN003
    return ArticleData(**({"url": f"https://news.example/{n}", "title": f"Story {n}",
                           "summary": "", "content_html": f"<p>Body of story {n}.</p>",
                           "published": published} | kw))


def _generated(store: Store, n: int = 240, seed: int = 7) -> dict[int, tuple]:
    """``n`` articles over ~20 days in two sources and three topics, with ties in
    ``published`` (so paging must order by id too). Returns id → (published, day,
    sources, topics) as the store should hold them."""
    rnd = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    per_source: dict[str, list] = {"a": [], "b": []}
    for i in range(n):
        published = start + timedelta(hours=rnd.randrange(0, 20 * 24, 3))
        topics = tuple(sorted(t for t in ("x", "y", "z") if rnd.random() < 0.4))
        for s in ("a", "b"):
            if s == "a" or rnd.random() < 0.3:
                per_source[s].append((_art(i, published), topics))
    for s, items in per_source.items():
        for k in range(0, len(items), 50):
            store.save_many(s, items[k:k + 50])
    expect: dict[int, tuple] = {}
    with store.engine.connect() as c:
        for aid, url, pub, day in c.execute(sa.select(
                articles.c.id, articles.c.url, articles.c.published, articles.c.day)):
            n_ = int(url.rsplit("/", 1)[1])
            srcs = {s for s, items in per_source.items()
                    if any(d.url == url for d, _ in items)}
            topics = next(t for d, t in per_source["a"] if d.url == url) if "a" in srcs \
                else next(t for d, t in per_source["b"] if d.url == url)
            expect[aid] = (pub, day, srcs, set(topics), n_)
    return expect


def _pages(store: Store, size: int, **scope) -> list[int]:  # noqa: ANN003
    """Every id of a scope, read page by page through the ``before`` cursor."""
    got: list[int] = []
    before = None
    while True:
        page = store.latest(size, before=before, **scope)
        got += [a.id for a in page]
        if len(page) < size:
            return got
        before = (page[-1].published, page[-1].id)


def test_topic_source_and_all_feeds_page_in_feed_order(store: Store) -> None:
    expect = _generated(store)
    order = sorted(expect, key=lambda i: (expect[i][0], i), reverse=True)
    assert _pages(store, 7) == order
    for t in ("x", "y", "z"):
        assert _pages(store, 7, topic=t) == [i for i in order if t in expect[i][3]]
        assert [a.id for a in store.latest(50, topic=t)] == [
            i for i in order if t in expect[i][3]][:50]
    for s in ("a", "b"):
        assert _pages(store, 9, source=s) == [i for i in order if s in expect[i][2]]
    assert _pages(store, 5, topic="x", source="b") == [
        i for i in order if "x" in expect[i][3] and "b" in expect[i][2]]
    # Day and topic×day feeds: every article of the day, newest first.
    days = sorted({v[1] for v in expect.values()})
    for d in days[:3]:
        assert [a.id for a in store.day(d)] == [i for i in order if expect[i][1] == d]
        assert [a.id for a in store.day(d, topic="y")] == [
            i for i in order if expect[i][1] == d and "y" in expect[i][3]]
    # Neighbouring days come from index lookups, the same as scanning every day.
    for d in days:
        ydays = sorted({v[1] for v in expect.values() if "y" in v[3]})
        assert store.day_before(d) == max((x for x in days if x < d), default=None)
        assert store.day_after(d, "y") == min((x for x in ydays if x > d), default=None)
        assert store.day_before(d, "y") == max((x for x in ydays if x < d), default=None)


def _check_counters(store: Store) -> None:
    """The counters equal what counting every row says."""
    with store.engine.connect() as c:
        days = dict(c.execute(sa.text("SELECT day, count(*) FROM articles GROUP BY day")).all())
        sources = dict(c.execute(sa.text(
            "SELECT source_id, count(*) FROM article_sources GROUP BY source_id")).all())
        stale = c.execute(sa.text(
            "SELECT count(*) FROM article_topics m JOIN articles a ON a.id = m.article_id "
            "WHERE m.published <> a.published OR m.day <> a.day")).scalar()
        stale += c.execute(sa.text(
            "SELECT count(*) FROM article_sources m JOIN articles a ON a.id = m.article_id "
            "WHERE m.published <> a.published OR m.day <> a.day")).scalar()
    assert store.day_counts() == days
    assert store.count_articles() == sum(days.values())
    for s in ("a", "b", "c"):
        assert store.count_articles(s) == sources.get(s, 0)
    assert store.recent_days(3) == sorted(days.items(), reverse=True)[:3]
    assert store.first_day() == min(days, default=None)
    assert stale == 0


def test_counters_stay_right_through_saves_edits_reclassification_and_purge(
        store: Store) -> None:
    expect = _generated(store, n=120)
    _check_counters(store)
    # An article first stored without a date gets one later: it moves to another day.
    store.save("a", _art(900, None), ("x",))
    _check_counters(store)
    store.save("a", _art(900, datetime(2026, 10, 3, 12, tzinfo=UTC), title="Dated now"), ("x",))
    _check_counters(store)
    assert "https://news.example/900" in {a.url for a in store.day("2026-10-03", topic="x")}
    # Another source lists known articles (attach) and a third one saves one.
    urls = [f"https://news.example/{n}" for n in range(0, 30)]
    store.attach("c", urls)
    store.save("c", _art(0, expect[min(expect)][0]), ())  # already listed: no change
    _check_counters(store)
    # Re-classification moves topics, not counts; purge removes whole days.
    moved = store.reclassify(lambda data, _srcs: ("x",) if "1" in data.title else ())
    assert moved > 0
    _check_counters(store)
    first = store.first_day()
    assert first is not None
    cut = (datetime.fromisoformat(first) + timedelta(days=5)).date().isoformat()
    purged = store.purge_before(cut)
    assert purged > 0 and store.first_day() >= cut
    _check_counters(store)
    # The search index lost the purged articles too.
    table = "article_search" if store.dialect == "postgresql" else "article_fts"
    with store.engine.connect() as c:
        assert c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == \
            store.count_articles()
    assert {a.id for a in store.latest(500, q=("story",))} == {
        a.id for a in store.latest(500)}


def test_reclassification_bumps_each_feed_once_per_batch(store: Store) -> None:
    _generated(store, n=60)
    keys = ["topic/x", "topic/w", "all"]
    before = store.versions(keys)
    moved = store.reclassify(lambda data, _srcs: ("w",), batch=1000)
    after = store.versions(keys)
    assert moved == 60
    # 60 articles moved into w, in one batch: one bump per feed key, not sixty.
    assert after["topic/w"] == before["topic/w"] + 1
    assert after["topic/x"] == before["topic/x"] + 1
    assert after["all"] == before["all"] + 1
    assert {a.id for a in store.latest(100, topic="w")} == {
        a.id for a in store.latest(100)}


def test_a_change_to_todays_articles_leaves_the_digest_alone(store: Store) -> None:
    today = clock.now()
    store.save("a", _art(1, today - timedelta(days=3)), ())
    v0 = store.versions(["digest"])["digest"]
    store.save("a", _art(2, today), ())
    assert store.versions(["digest"])["digest"] == v0  # today is not in the digest
    store.save("a", _art(3, today - timedelta(days=2)), ())
    assert store.versions(["digest"])["digest"] == v0 + 1  # a finished day changed


# -- search: the word rules of topics --------------------------------------------------
WORDS = {
    1: ("Patriot systems arrive", "<p>The Patriot batteries were delivered.</p>"),
    2: ("A patriotic song", "<p>Crowds sang patriotic songs.</p>"),
    3: ("Обстріл Харкова", "<p>У Харкові вночі пролунали вибухи.</p>"),
    4: ("F-16 pilots", "<p>Training of F-16 pilots continues.</p>"),
    5: ("F 16 is a seat", "<p>Row F seat 16 in the café.</p>"),
    6: ("Кафе в Києві", "<p>КИЇВ: нове кафе.</p>"),
}


def _search_archive(store: Store) -> None:
    for n, (title, body) in WORDS.items():
        store.save("a", _art(n, datetime(2026, 11, 20, n, tzinfo=UTC), title=title,
                             content_html=body), ())


def _found(store: Store, *q: str) -> set[int]:
    return {int(a.url.rsplit("/", 1)[1]) for a in store.latest(50, q=q)}


def test_search_has_the_word_rules_of_topics(store: Store) -> None:
    _search_archive(store)
    assert _found(store, "Patriot") == {1}  # whole words: not "patriotic" (issue 11.9)
    assert _found(store, "patriot*") == {1, 2}  # a prefix finds both
    assert _found(store, "PATRIOTIC") == {2}  # case-insensitive
    assert _found(store, "Харків*") == {3}  # Ukrainian vowel alternation: Харкова, Харкові
    assert _found(store, "харкові") == {3}
    assert _found(store, "Харків") == set()
    assert _found(store, "київ") == {6}  # Unicode case folding: КИЇВ
    assert _found(store, "F-16") == {4}  # the exact word, not "F" and "16" apart
    assert _found(store, "cafe") == set()  # diacritics are letters: café is not cafe
    assert _found(store, "café") == {5}
    assert _found(store, "patriot*", "song*") == {2}  # every word must occur
    # The same rules on day feeds.
    assert {a.url[-1] for a in store.day("2026-11-20", q=("patriot",))} == {"1"}
    # Topic rules agree: a topic with the same term picks the same articles.
    topic = config_mod.TopicConfig(slug="t", any=["Patriot"])
    rule = Classifier((topic,))
    assert {n for n, (title, body) in WORDS.items()
            if rule.classify(_art(n, None, title=title, content_html=body), ("a",))} == {1}


HOSTILE = [
    '"', '"Patriot', "Patriot OR song", "NEAR(Patriot song)", "title:Patriot", "^Patriot",
    "Patriot AND NOT song", "(Patriot", "Patriot*)", "'; DROP TABLE articles; --",
    "a & b | !c", "patriot:*", "-x", "+y", "Patri\\ot", "x" * 150, "{doc}: x", "a <-> b",
]
UNUSABLE = [
    ("\x00", "NUL"), ("Patriot\x00", "NUL"), ("x" * 10_000, "at most"),
    ("%", "no letters or digits"), ("* ** ***", "no letters or digits"),
    (" ".join(["w"] * 11), "at most 10 words"),
]


def test_hostile_q_is_an_answer_or_a_clear_400(client) -> None:  # noqa: ANN001
    for q in HOSTILE:
        for path in ("/feeds/all.atom", "/feeds/topic/kharkiv.rss",
                     "/feeds/day/2026-11-21.json"):
            r = client.get(path, query_string={"q": q})
            assert r.status_code in (200, 400), (q, r.status_code, r.data[:200])
            if r.status_code == 400:
                assert r.mimetype == "text/plain" and r.data.count(b"\n") == 1
    for q, why in UNUSABLE:
        r = client.get("/feeds/topic/kharkiv.json", query_string={"q": q})
        assert r.status_code == 400 and why in r.get_data(as_text=True), q
        assert r.get_data(as_text=True).count("\n") == 1


def test_q_through_the_web_finds_whole_words(client) -> None:  # noqa: ANN001
    import json

    def titles(q: str) -> list[str]:
        r = client.get("/feeds/all.json", query_string={"q": q, "limit": "100"})
        assert r.status_code == 200, r.data
        return [i["title"] for i in json.loads(r.data)["items"]]

    every = titles("the")
    assert every and all(titles("the*")) and set(every) <= set(titles("the*"))
    assert titles("Харків*") and titles("харків*") == titles("Харків*")


# -- the digest and the index ----------------------------------------------------------
def test_digest_lists_finished_days_newest_first_from_headlines(client, service) -> None:  # noqa: ANN001
    import json

    counts = service.store.day_counts()
    today = service.cache.today()
    finished = sorted((d for d in counts if d < today), reverse=True)
    feed = json.loads(client.get("/feeds/digest.json").data)
    assert [i["url"].rsplit("/", 1)[1] for i in feed["items"]] == [f"{d}.json" for d in finished]
    for item, d in zip(feed["items"], finished, strict=True):
        assert f"({counts[d]} articles)" in item["title"]
        assert item["content_html"].count("<li>") == counts[d]
        for a in service.store.day(d):
            assert a.url in item["content_html"]
    page = client.get("/").get_data(as_text=True)
    for d, n in service.store.recent_days(30):
        assert f'id="day-{d}"' in page and f"{n} articles" in page


def test_digest_holds_the_last_14_days_and_shows_an_edit_of_a_finished_day(
        client, service) -> None:  # noqa: ANN001
    import json

    from feedsvc.feeds import DIGEST_DAYS

    now = clock.now()
    for i in range(20):  # one article a day for 20 finished days
        service.store.save("sample", _art(900 + i, now - timedelta(days=i + 5)), ())
    finished = sorted((d for d in service.store.day_counts() if d < service.cache.today()),
                      reverse=True)
    assert len(finished) > DIGEST_DAYS == 14
    feed = json.loads(client.get("/feeds/digest.json").data)
    assert [i["url"].rsplit("/", 1)[1] for i in feed["items"]] == [
        f"{d}.json" for d in finished[:DIGEST_DAYS]]
    more = json.loads(client.get("/feeds/digest.json?limit=30").data)
    assert len(more["items"]) == min(30, len(finished))
    # An edit of an article of a finished day is in that day's entry at once (the
    # digest's entries are kept per day while the day's feed is unchanged).
    day = local_day(now - timedelta(days=6), service.config.service.tz)
    item = next(i for i in json.loads(client.get("/feeds/digest.json").data)["items"]
                if i["url"].endswith(f"/{day}.json"))
    assert "Story 901" in item["content_html"]
    service.store.save("sample", _art(901, now - timedelta(days=6), title="Story renamed"),
                       ())
    fresh = create_app(service).test_client()  # past the fast path's one-second memory
    item = next(i for i in json.loads(fresh.get("/feeds/digest.json").data)["items"]
                if i["url"].endswith(f"/{day}.json"))
    assert "Story renamed" in item["content_html"]
    assert "Story 901" not in item["content_html"]


# -- migration 0003 → 0004 -------------------------------------------------------------
FEEDS = ["all.atom", "topic/kharkiv.rss", "source/sample.json", "day/2026-11-21.atom",
         "topic/kharkiv/day/2026-11-22.atom", "digest.json", "day/2026-11-19.rss"]


def test_an_archive_made_at_0003_migrates_with_every_article_and_the_same_bytes(
        tmp_path: Path, any_db_url: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    # The archive as this feedsvc builds it, and its feeds.
    shutil.copytree(SAMPLE, tmp_path / "sample")
    sources = """
        [[source]]
        id = "sample"
        title = "Sample News"
        kind = "files"
        url = "sample/"
        """
    fresh = Service(config_mod.load(write_config(
        tmp_path, sources, database=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")), writer=True)
    fresh.upgrade()
    fresh.refresh()
    web = create_app(fresh).test_client()
    want = {f: web.get(f"/feeds/{f}").data for f in FEEDS}
    want_q = web.get("/feeds/all.atom?q=Харків*").data

    # The same rows in a database at revision 0003 (no new columns, no counters, no
    # search index), then upgraded.
    old = Store(any_db_url, KYIV)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    with fresh.store.engine.connect() as src, old.engine.begin() as dst:
        for table, cols in ((articles, list(articles.c)),
                            (article_topics, [article_topics.c.article_id,
                                              article_topics.c.topic]),
                            (article_sources, [article_sources.c.article_id,
                                               article_sources.c.source_id]),
                            (kv, list(kv.c))):
            rows = [dict(r) for r in src.execute(sa.select(*cols)).mappings()]
            dst.execute(table.insert(), rows)
    old.upgrade()
    assert old.schema_version() == "0005"
    assert old.count_articles() == fresh.store.count_articles() == 30
    assert old.day_counts() == fresh.store.day_counts()
    assert old.count_articles("sample") == 30
    old.close()

    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copytree(SAMPLE, moved / "sample")
    migrated = Service(config_mod.load(write_config(moved, sources, database=any_db_url)))
    web = create_app(migrated).test_client()
    for f in FEEDS:
        assert web.get(f"/feeds/{f}").data == want[f], f
    assert web.get("/feeds/all.atom?q=Харків*").data == want_q
    assert b"<entry>" in want_q
    migrated.close()
    fresh.close()


def test_the_feed_order_indexes_answer_the_feed_queries(store: Store) -> None:
    """The planner reads a topic's newest-N from its index in feed order: no sort of
    the whole topic (what made a 1M archive's topic feeds take seconds)."""
    _generated(store, n=40)
    store.reclaim()
    topic_q = ("SELECT article_id FROM article_topics WHERE topic = 'x' "
               "ORDER BY published DESC, article_id DESC LIMIT 51")
    with store.engine.connect() as c:
        if store.dialect == "sqlite":
            plan = " ".join(str(r[-1]) for r in c.execute(sa.text(
                f"EXPLAIN QUERY PLAN {topic_q}")))
            assert "ix_article_topics_newest" in plan and "TEMP B-TREE" not in plan
        else:
            c.execute(sa.text("SET enable_seqscan = off"))
            plan = " ".join(r[0] for r in c.execute(sa.text(f"EXPLAIN {topic_q}")))
            assert "ix_article_topics_newest" in plan and "Sort" not in plan


def test_feed_versions_and_counts_move_together(store: Store) -> None:
    store.save("a", _art(1, datetime(2026, 11, 1, tzinfo=UTC)), ("x",))
    assert store.recent_days(5) == [("2026-11-01", 1)]
    assert Counter(store.day_counts()) == Counter({"2026-11-01": 1})
    assert feednames.DAY_LIST in store.save(
        "a", _art(2, datetime(2026, 11, 2, 12, tzinfo=UTC)), ()).feeds


# -- rendering at the floor ------------------------------------------------------------
def test_a_config_edit_rerenders_only_the_feeds_it_changes(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "sample")
    path = write_config(tmp_path, service='base_url = "https://feeds.example"', sources="""
        [[source]]
        id = "sample"
        title = "Sample News"
        kind = "files"
        url = "sample/"
        every = "1h"
        """)
    svc = Service(config_mod.load(path), writer=True)
    svc.upgrade()
    svc.refresh()
    web = create_app(svc).test_client()
    feeds = ["/feeds/all.atom", "/feeds/topic/kharkiv.atom", "/feeds/day/2026-11-21.rss",
             "/feeds/source/sample.json", "/day/2026-11-21"]
    before = {f: web.get(f).headers["ETag"] for f in feeds}
    # A source's interval and a topic's terms are not in any feed's bytes: nothing is
    # rendered again (every rendering comes from the store under the new config).
    text = path.read_text("utf-8")
    path.write_text(text.replace('every = "1h"', 'every = "30m"').replace(
        'any = [', 'any = ["zzz-unused", ', 1), "utf-8")
    settle(path)
    assert svc.reload(force=True)
    for f in feeds:
        assert web.get(f).headers["ETag"] == before[f]
    assert svc.cache.renders == 0
    # A source's title is in its feed, and on archive pages (each headline's source).
    path.write_text(path.read_text("utf-8").replace('title = "Sample News"',
                                                    'title = "Sample Daily"'), "utf-8")
    settle(path)
    assert svc.reload(force=True)
    after = {f: web.get(f).headers["ETag"] for f in feeds}
    assert after["/feeds/source/sample.json"] != before["/feeds/source/sample.json"]
    assert [f for f in feeds if after[f] != before[f]] == ["/feeds/source/sample.json",
                                                          "/day/2026-11-21"]
    assert svc.cache.renders == 2
    svc.close()


def test_web_processes_import_no_fetching_or_extraction(tmp_path: Path) -> None:
    """A web worker starts with the reading side only (trafilatura, htmldate, requests
    and the rest are the scheduler's)."""
    import subprocess
    import sys

    path = write_config(tmp_path, sources="")
    code = ("import sys; from feedsvc.web import create_app; create_app(config_path=sys.argv[1]);"
            "print(' '.join(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    heavy = {"trafilatura", "htmldate", "justext", "feedparser", "requests", "dateparser",
             "charset_normalizer", "nh3", "apscheduler", "alembic", "feedsvc.extract",
             "feedsvc.sources", "feedsvc.fetch", "feedsvc.refresh", "feedsvc.workers"}
    assert heavy.isdisjoint(out), sorted(heavy.intersection(out))


def test_retention_gives_the_space_back(tmp_path: Path) -> None:
    st = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}", KYIV)
    st.upgrade()
    body = "<p>" + "word " * 4000 + "</p>"
    for day in range(1, 21):
        st.save_many("a", [(_art(day * 100 + k, datetime(2026, 10, day, 12, tzinfo=UTC),
                                 content_html=body), ()) for k in range(20)])
    st.reclaim()
    db = tmp_path / "a.sqlite3"
    full = db.stat().st_size
    assert st.purge_before("2026-10-19") == 18 * 20
    assert db.stat().st_size < full / 2  # freed pages went back to the file system
    assert not (tmp_path / "a.sqlite3-wal").exists() or \
        (tmp_path / "a.sqlite3-wal").stat().st_size == 0
    assert st.count_articles() == 40
    st.close()
