"""The store on a real SQLite file, and on PostgreSQL when FEEDSVC_TEST_POSTGRES_URL is
set (CI sets it): migrations, identity, edits, days, aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from feedsvc import clock
from feedsvc.errors import BadRequest, StoreError
from feedsvc.store import Store
from feedsvc.types import ArticleData, PageCheck, Validators

KYIV = ZoneInfo("Europe/Kyiv")


@pytest.fixture
def store(any_db_url: str):  # noqa: ANN201
    st = Store(any_db_url, KYIV)
    st.upgrade()
    yield st
    st.close()


def _art(url: str = "https://news.example/a", **kw) -> ArticleData:  # noqa: ANN003
    base = dict(url=url, title="Title", summary="Summary",
                content_html="<p>Body text</p>",
                published=datetime(2024, 5, 30, 23, 30, tzinfo=UTC))
    return ArticleData(**(base | kw))


def test_migrations_apply_once_and_are_versioned(store: Store) -> None:
    assert store.schema_version() == "0005"
    store.upgrade()  # idempotent: a second start changes nothing
    assert store.schema_version() == "0005"
    insp = sa.inspect(store.engine)
    assert {"articles", "article_topics", "article_sources", "source_state", "kv",
            "feed_versions", "rendered"} <= set(insp.get_table_names())


def test_schema_head_is_the_newest_migration() -> None:
    """``upgrade`` skips Alembic when the database is at SCHEMA_HEAD: a migration added
    without moving SCHEMA_HEAD would never be applied to an existing archive."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from feedsvc.store import MIGRATIONS, SCHEMA_HEAD

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [SCHEMA_HEAD]


def test_postgresql_stores_renderings_without_compressing_them_again(store: Store) -> None:
    """A cold feed writes its rendering: pglz over an already gzipped body cost ~10 ms a
    feed on a 1M archive (issue 12; bench/archive), so both bodies are EXTERNAL."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite has no TOAST compression")
    with store.engine.connect() as c:
        storage = dict(c.execute(sa.text(
            "SELECT attname, attstorage FROM pg_attribute "
            "WHERE attrelid = 'rendered'::regclass AND attname IN ('body', 'body_gz')")).all())
    assert storage == {"body": "e", "body_gz": "e"}


def test_day_is_computed_in_the_service_time_zone(store: Store) -> None:
    store.save("s", _art(), ("t",))
    [a] = store.day("2024-05-31")
    assert a.published == datetime(2024, 5, 30, 23, 30, tzinfo=UTC)
    assert a.published.tzinfo is not None
    assert store.day("2024-05-30") == []
    assert store.days() == ["2024-05-31"]
    store.redate(ZoneInfo("UTC"))  # an operator changes service.timezone
    assert [x.url for x in store.day("2024-05-30")] == ["https://news.example/a"]


def test_edits_update_in_place_keeping_id_and_published(store: Store) -> None:
    assert store.save("s", _art(), ()).outcome == "new"
    [first] = store.latest(5)
    assert store.save("s", _art(), ()).outcome == "unchanged"
    # Markup-only changes are not edits.
    same_text = _art(content_html='<p class="x">Body   text</p>')
    assert store.save("s", same_text, ()).outcome == "unchanged"
    clock.set_now(clock.now() + timedelta(hours=1))
    saved = store.save("s", _art(title="Corrected title"), ())
    assert saved.outcome == "updated" and "all" in saved.feeds
    [edited] = store.latest(5)
    assert edited.guid == first.guid and edited.id == first.id
    assert edited.published == first.published
    assert edited.updated == clock.now() and edited.updated > first.updated
    assert edited.title == "Corrected title"


def test_article_without_a_date_keeps_its_first_seen_time(store: Store) -> None:
    store.save("s", _art(published=None), ())
    [a] = store.latest(1)
    seen = a.published
    assert seen == clock.now()
    clock.set_now(clock.now() + timedelta(days=2))
    store.save("s", _art(published=None), ())
    [again] = store.latest(1)
    assert again.published == seen  # never "now" at a later time


def test_two_sources_one_article(store: Store) -> None:
    store.save("a", _art(), ())
    saved = store.save("b", _art(), ())
    assert saved.outcome == "unchanged" and "source/b" in saved.feeds
    assert store.count_articles() == 1
    assert len(store.latest(5, source="a")) == len(store.latest(5, source="b")) == 1


def test_paging_cursor_and_search(store: Store) -> None:
    for i in range(5):
        store.save("s", _art(url=f"https://news.example/{i}", title=f"Story {i} 50% off",
                             published=datetime(2024, 5, 1 + i, tzinfo=UTC)), ())
    page1 = store.latest(2)
    assert [a.title for a in page1] == ["Story 4 50% off", "Story 3 50% off"]
    last = page1[-1]
    page2 = store.latest(2, before=(last.published, last.id))
    assert [a.title for a in page2] == ["Story 2 50% off", "Story 1 50% off"]
    assert [a.title for a in store.latest(5, q=("story", "3"))] == ["Story 3 50% off"]
    assert [a.title for a in store.latest(5, q=("50",))] == [f"Story {i} 50% off"
                                                             for i in range(4, -1, -1)]
    assert store.latest(5, q=("5",)) == []  # whole words: "50" is not "5"
    with pytest.raises(BadRequest, match="no letters or digits"):
        store.latest(5, q=("%",))  # nothing to search for: not a wildcard either


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        store.save("s", _art(published=datetime(2024, 5, 30, 12, 0)), ())
    assert store.count_articles() == 0


def test_feed_versions_move_only_for_touched_feeds(store: Store) -> None:
    store.save("s", _art(), ("energy",))
    before = store.versions(["all", "topic/energy", "topic/culture", "day/2024-05-31"])
    store.save("s", _art(url="https://news.example/b", published=datetime(
        2024, 6, 2, 12, tzinfo=UTC)), ("culture",))
    after = store.versions(["all", "topic/energy", "topic/culture", "day/2024-05-31"])
    assert after["all"] > before["all"]
    assert after["topic/culture"] > before["topic/culture"]
    assert after["topic/energy"] == before["topic/energy"]
    assert after["day/2024-05-31"] == before["day/2024-05-31"]


def test_retention_purges_whole_days(store: Store) -> None:
    for i, day in enumerate([1, 1, 2, 3]):
        store.save("s", _art(url=f"https://news.example/{i}",
                             published=datetime(2024, 5, day, 12, tzinfo=UTC)), ())
    assert store.purge_before("2024-05-03") == 3
    assert store.days() == ["2024-05-03"]


def test_one_scheduler_lease_at_a_time(store: Store) -> None:
    assert store.acquire_lease("lease", "a", 90)
    assert not store.acquire_lease("lease", "b", 90)  # a standby waits
    assert store.acquire_lease("lease", "a", 90)  # the holder renews
    clock.set_now(clock.now() + timedelta(seconds=91))  # the holder died: no renewal
    assert store.acquire_lease("lease", "b", 90)
    assert not store.acquire_lease("lease", "a", 90)
    store.release_lease("lease", "b")
    assert store.acquire_lease("lease", "a", 90)


def test_upgrade_from_0001_keeps_articles(any_db_url: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from feedsvc.store import MIGRATIONS

    st = Store(any_db_url, KYIV)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with st.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with st.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"
        # An archive as version 0001 wrote it.
        conn.execute(sa.text(
            "INSERT INTO articles (id, url, guid, source_id, title, summary, content_html, "
            "authors, published, date_known, updated, first_seen, day, categories, tags, "
            "content_hash) VALUES (1, 'https://news.example/a', 'https://news.example/a', "
            "'s', 'Title', '', '<p>x</p>', '[]', '2024-05-30 23:30:00', true, "
            "'2024-05-30 23:30:00', '2024-05-31 08:00:00', '2024-05-31', '[]', '[]', 'h')"))
        conn.execute(sa.text("INSERT INTO article_topics VALUES (1, 't')"))
        conn.execute(sa.text("INSERT INTO article_sources VALUES (1, 's')"))
    st.upgrade()
    assert st.schema_version() == "0005"
    [a] = st.latest(5)
    assert a.url == "https://news.example/a" and a.topics == ("t",)
    assert a.published == datetime(2024, 5, 30, 23, 30, tzinfo=UTC)
    # 0003 starts every old article's recheck clock at its first-seen time.
    # 0003 starts every old article's recheck clock at its first-seen time.
    assert st.due_for_recheck("s", since=datetime(2024, 1, 1, tzinfo=UTC),
                              every=timedelta(hours=1), limit=5) == [
        PageCheck(a.url, Validators(a.url))]
    assert st.request_refresh("s") and st.claim_refresh_requests() == ["s"]
    st.close()


def test_recent_articles_come_due_for_recheck(store: Store) -> None:
    store.save("s", _art(), ())
    store.save("other", _art(url="https://news.example/elsewhere"), ())
    clock.set_now(clock.now() - timedelta(days=5))
    store.save("s", _art(url="https://news.example/old"), ())
    clock.set_now(clock.now() + timedelta(days=5))
    since, hour = clock.now() - timedelta(days=2), timedelta(hours=1)
    assert store.due_for_recheck("s", since=since, every=hour, limit=10) == []
    clock.set_now(clock.now() + timedelta(hours=2))
    # Only recent articles of that source; the old one is settled.
    url = "https://news.example/a"
    assert store.due_for_recheck("s", since=since, every=hour, limit=10) == [
        PageCheck(url, Validators(url))]
    store.mark_checked(PageCheck(url, Validators(url, '"v1"')))
    assert store.due_for_recheck("s", since=since, every=hour, limit=10) == []
    clock.set_now(clock.now() + timedelta(hours=2))
    assert store.due_for_recheck("s", since=since, every=hour, limit=10) == [
        PageCheck(url, Validators(url, '"v1"'))]
    assert store.due_for_recheck("s", since=since, every=hour, limit=0) == []


def test_two_sources_saving_the_same_new_articles_at_once_both_succeed(
        any_db_url: str) -> None:
    """A feed and a sitemap of one site find the same new stories at the same moment
    (two processes: two stores on one database). Neither fails; every story is one
    article, listed under both sources."""
    import threading

    first = Store(any_db_url, ZoneInfo("Europe/Kyiv"))
    first.upgrade()
    second = Store(any_db_url, ZoneInfo("Europe/Kyiv"))
    try:
        for round_ in range(8):
            batch = [(_art(url=f"https://news.example/{round_}/{n}", title=f"Story {n}"), ())
                     for n in range(40)]
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def save(store: Store, source: str, items=batch, barrier=barrier,  # noqa: ANN001
                     errors=errors) -> None:
                barrier.wait()
                try:
                    store.save_many(source, items)
                except BaseException as e:  # noqa: BLE001 (reported below)
                    errors.append(e)

            threads = [threading.Thread(target=save, args=(first, "feed")),
                       threading.Thread(target=save, args=(second, "sitemap"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert errors == []
            assert first.count_articles(since=None) == 40 * (round_ + 1)
            assert first.count_articles("feed") == first.count_articles("sitemap")
    finally:
        first.close()
        second.close()
