"""The archive store: articles, their topics and sources, fetch state, render cache.

The only module that speaks SQL. SQLite by default (WAL, busy timeout: the web side
reads while the scheduler writes), PostgreSQL by URL. The schema is built by the
Alembic migrations in ``migrations/``, applied by :meth:`Store.upgrade` (writers only:
``feedsvc db upgrade``, the scheduler, ``run``; a web process only checks
:meth:`Store.check_schema`). The store never fetches and never renders; which feed
keys an article touches comes from :mod:`feedsvc.feednames`, what counts as an edit
from :mod:`feedsvc.edits`. Every database error leaves as a one-line
:class:`~feedsvc.errors.StoreError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from feedsvc import clock, feednames, search
from feedsvc.dates import local_day
from feedsvc.edits import material_hash
from feedsvc.errors import SchemaOutdated, StoreError
from feedsvc.store.tables import (
    UTCDateTime,
    article_sources,
    article_topics,
    articles,
    day_counts,
    feed_versions,
    kv,
    refresh_requests,
    rendered,
    source_counts,
    source_state,
)
from feedsvc.types import (
    Article,
    ArticleData,
    PageCheck,
    Rendering,
    SourceState,
    Validators,
)

MIGRATIONS = Path(__file__).parent / "migrations"
MATCHES_INLINE = 5000  # PostgreSQL: a q with at most this many matches is read from GIN first
SCHEMA_HEAD = "0005"  # the newest migration's revision (a test checks it against Alembic)


@dataclass(frozen=True)
class Saved:
    outcome: str  # "new" | "updated" | "unchanged"
    feeds: frozenset[str]  # feed keys whose content changed


@dataclass(frozen=True)
class Headline:
    """An article as the digest lists it."""

    url: str
    title: str
    published: datetime  # aware UTC
    updated: datetime  # aware UTC


@dataclass
class _Counts:
    """Counter changes of one transaction: articles per day and per source."""

    days: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)


def describe(e: BaseException) -> str:
    """One line saying what a database error was, without SQL or parameters."""
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return text.split("[SQL:")[0].strip()[:300]


def is_disk_full(e: BaseException) -> bool:
    """Whether a database error means the disk (or the database) is full: SQLite's
    SQLITE_FULL, PostgreSQL's SQLSTATE 53100, or ENOSPC in the message."""
    orig = getattr(e, "orig", None) or e
    if getattr(orig, "sqlstate", None) == "53100":
        return True
    text = str(orig).lower()
    return "disk is full" in text or "no space left on device" in text


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect in a new file only
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """Writers take SQLite's write lock when they begin (``BEGIN IMMEDIATE``), so a
    transaction that read first never fails to upgrade to a writer (SQLITE_BUSY) and two
    writers queue on the busy timeout instead of racing; readers begin deferred."""
    immediate = conn.get_execution_options().get("feedsvc_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the file's folder is created."""
    try:
        u = sa.engine.make_url(url)
    except sa.exc.ArgumentError as e:
        raise StoreError(f"invalid database URL {url!r}: {e}") from e
    if u.drivername.startswith("sqlite"):
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(u, pool_pre_ping=True, pool_size=5, max_overflow=5)


class Store:
    """The archive. Thread-safe (one engine, a connection per call)."""

    def __init__(self, url: str, tz: ZoneInfo | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._pinned = threading.local()  # this thread's connection in reading()
        self.tz = tz or ZoneInfo("UTC")
        self.dialect = self.engine.dialect.name
        # (when, one line) of the last write that failed for want of space (a small
        # write may still fit on a full disk, so only time clears it). Process-local:
        # /healthz reads it.
        self.disk_full: tuple[datetime, str] | None = None

    def free_space(self) -> tuple[str, int] | None:
        """(folder, bytes free to unprivileged writers) of the SQLite file's file
        system; None for a server database."""
        u = self.engine.url
        if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
            return None
        folder = Path(u.database).expanduser().resolve().parent
        try:
            st = os.statvfs(folder)
        except OSError:
            return None
        return str(folder), st.f_bavail * st.f_frsize

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (committed when the block ends without an exception)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(feedsvc_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.SQLAlchemyError as e:
            if is_disk_full(e):
                self.disk_full = (clock.now(), describe(e))
            raise StoreError(f"database error: {describe(e)}") from e

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            pinned = getattr(self._pinned, "conn", None)
            if pinned is not None:
                yield pinned
                return
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"database error: {describe(e)}") from e

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run this thread's reads inside the block on one connection (a request's
        handful of index lookups: each checkout costs a ping and a rollback, ~0.2 ms
        apiece on PostgreSQL). Writes keep their own transactions."""
        if getattr(self._pinned, "conn", None) is not None:
            yield
            return
        try:
            conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"database error: {describe(e)}") from e
        self._pinned.conn = conn
        try:
            yield
        finally:
            self._pinned.conn = None
            with suppress(sa.exc.SQLAlchemyError):
                conn.close()

    # -- schema --------------------------------------------------------------------
    def upgrade(self) -> None:
        """Apply every pending migration (idempotent; concurrent starts are safe). A
        database at :data:`SCHEMA_HEAD` is left as it is without loading Alembic (0.1 s
        of imports on every ``feedsvc refresh``)."""
        if self.schema_version() == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.connect() as conn, \
                    conn.execution_options(feedsvc_write=True).begin():
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"schema migration failed: {describe(e)}") from e

    def schema_version(self) -> str | None:
        """The database's migration revision; None for an empty database."""
        try:
            with self.engine.connect() as c:
                return c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.ProgrammingError:
            return None  # no alembic_version table: nothing migrated yet
        except sa.exc.OperationalError as e:
            if "no such table" in str(e.orig):
                return None
            raise StoreError(f"database error: {describe(e)}") from e
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"database error: {describe(e)}") from e

    def check_schema(self) -> None:
        """Raise :class:`SchemaOutdated` unless the schema is this feedsvc's (readers call
        this instead of migrating)."""
        version = self.schema_version()
        if version != SCHEMA_HEAD:
            have = f"at revision {version}" if version else "empty"
            raise SchemaOutdated(f"the database schema is {have}; this feedsvc needs "
                                 f"revision {SCHEMA_HEAD}: run `feedsvc db upgrade`")

    def redate(self, tz: ZoneInfo) -> int:
        """Use ``tz`` for article days; when it is not the zone the stored days were
        computed in, recompute them (a writer's job: the scheduler does it on start and
        on reload). Returns how many articles were re-dated."""
        self.tz = tz
        if self.get_kv("day_tz") == tz.key:
            return 0
        with self._tx() as c:
            rows = c.execute(sa.select(articles.c.id, articles.c.published, articles.c.day)
                             ).all()
            moved = [{"i": rid, "d": local_day(published, tz)} for rid, published, day in rows]
            moved = [m for m, (_, _, day) in zip(moved, rows, strict=True) if m["d"] != day]
            for table, col in ((articles, articles.c.id),
                               (article_topics, article_topics.c.article_id),
                               (article_sources, article_sources.c.article_id)):
                if moved:
                    c.execute(table.update().where(col == sa.bindparam("i"))
                              .values(day=sa.bindparam("d")), moved)
            c.execute(day_counts.delete())
            c.execute(day_counts.insert().from_select(
                ["day", "n"], sa.select(articles.c.day, sa.func.count())
                .group_by(articles.c.day)))
            self._set_kv(c, "day_tz", tz.key)
            self._bump(c, {feednames.EVERYTHING})
        return len(rows)

    def ping(self) -> None:
        with self._read() as c:
            c.execute(sa.text("SELECT 1"))

    # -- kv ------------------------------------------------------------------------
    def get_kv(self, key: str) -> str | None:
        with self._read() as c:
            return c.execute(sa.select(kv.c.value).where(kv.c.key == key)).scalar()

    def set_kv(self, key: str, value: str) -> None:
        with self._tx() as c:
            self._set_kv(c, key, value)

    def delete_kv(self, key: str) -> None:
        with self._tx() as c:
            c.execute(kv.delete().where(kv.c.key == key))

    def _set_kv(self, c: Connection, key: str, value: str) -> None:
        done = c.execute(kv.update().where(kv.c.key == key).values(value=value)).rowcount
        if not done:
            c.execute(kv.insert().values(key=key, value=value))

    # -- articles ------------------------------------------------------------------
    def known_urls(self, candidates: Iterable[str]) -> dict[str, str]:
        """Which of these URLs the archive holds: ``{listed URL: archived URL}``.

        A URL is known as itself, or as an alias: a URL whose page turned out to be
        another (canonical) article's (see :meth:`mark_checked_many`).
        """
        wanted = list(dict.fromkeys(candidates))
        found: dict[str, str] = {}
        with self._read() as c:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                found.update((u, u) for u in c.execute(
                    sa.select(articles.c.url).where(articles.c.url.in_(chunk))).scalars())
            rest = {_alias_key(u): u for u in wanted if u not in found}
            keys = list(rest)
            aliases: dict[str, str] = {}
            for i in range(0, len(keys), 500):
                for key, target in c.execute(sa.select(kv.c.key, kv.c.value).where(
                        kv.c.key.in_(keys[i:i + 500]))):
                    aliases[rest[key]] = target
            targets = list(set(aliases.values()))
            archived: set[str] = set()
            for i in range(0, len(targets), 500):
                archived.update(c.execute(sa.select(articles.c.url).where(
                    articles.c.url.in_(targets[i:i + 500]))).scalars())
        found.update((u, t) for u, t in aliases.items() if t in archived)
        return found

    def article_data(self, urls: Iterable[str]) -> dict[str, ArticleData]:
        """The archived articles of these URLs as data a source could give again."""
        wanted = list(dict.fromkeys(urls))
        out: dict[str, ArticleData] = {}
        with self._read() as c:
            for i in range(0, len(wanted), 500):
                ids = list(c.execute(sa.select(articles.c.id).where(
                    articles.c.url.in_(wanted[i:i + 500]))).scalars())
                out.update((a.url, _as_data(a)) for a in self._load(c, ids))
        return out

    def save(self, source_id: str, data: ArticleData, topics: Sequence[str]) -> Saved:
        """Insert or update one article; report what changed and which feeds it touched."""
        return self.save_many(source_id, [(data, topics)])[0]

    def save_many(self, source_id: str,
                  items: Sequence[tuple[ArticleData, Sequence[str]]]) -> list[Saved]:
        """:meth:`save` for several articles in one transaction, new ones inserted with one
        statement per table and feed versions bumped once: per-article transactions and
        bumps cost more than extracting the article did."""
        now = clock.now()
        digests = [material_hash(data) for data, _ in items]
        saved: list[Saved | None] = [None] * len(items)
        counts = _Counts()
        with self._tx() as c:
            urls = list(dict.fromkeys(data.url for data, _ in items))
            archived: set[str] = set()
            for i in range(0, len(urls), 500):
                archived.update(c.execute(sa.select(articles.c.url).where(
                    articles.c.url.in_(urls[i:i + 500]))).scalars())
            fresh: dict[str, int] = {}  # unarchived URL → index of its first occurrence
            for i, (data, _) in enumerate(items):
                if data.url not in archived:
                    fresh.setdefault(data.url, i)
            if fresh:
                self._insert_new(c, source_id, items, digests, list(fresh.values()), now,
                                 saved, counts)
            for i, ((data, topics), digest) in enumerate(zip(items, digests, strict=True)):
                if saved[i] is None:  # archived before, or listed twice in this batch
                    saved[i] = self._update(c, source_id, data, topics, digest, now, counts)
            done = [s for s in saved if s is not None]
            feeds = set().union(*(s.feeds for s in done))
            self._apply_counts(c, counts)
            if feeds:
                self._bump(c, self._without_live_digest(feeds))
        return done

    def _without_live_digest(self, feeds: set[str]) -> set[str]:
        """The digest lists finished days only: a change to today's articles alone
        leaves it as it is (its rendering moves on when the day ends)."""
        today = local_day(clock.now(), self.tz)
        if feednames.DIGEST.key in feeds and not any(
                (n := feednames.from_key(k)) is not None and n.day is not None
                and n.day < today for k in feeds):
            return feeds - {feednames.DIGEST.key}
        return feeds

    def _insert_new(self, c: Connection, source_id: str,
                    items: Sequence[tuple[ArticleData, Sequence[str]]], digests: list[str],
                    fresh: list[int], now: datetime, saved: list[Saved | None],
                    counts: _Counts) -> None:
        """Insert unarchived articles: one executemany statement per table."""
        rows = []
        for i in fresh:
            data = items[i][0]
            published = data.published or now
            rows.append(self._values(data, digests[i]) | {
                "url": data.url, "guid": data.url, "source_id": source_id,
                "published": published, "date_known": data.published is not None,
                "updated": max(data.updated or published, published), "first_seen": now,
                "checked_at": now, "day": local_day(published, self.tz),
            })
        days = {r["day"] for r in rows}
        new_days = days - set(c.execute(sa.select(day_counts.c.day)
                                        .where(day_counts.c.day.in_(days))).scalars())
        # Another source may archive the same URL at the same moment (PostgreSQL runs
        # writers concurrently): ON CONFLICT DO NOTHING, and whatever it stored first
        # is then updated below like any archived article.
        got = {url: aid for aid, url in c.execute(
            self._insert(articles).on_conflict_do_nothing()
            .returning(articles.c.id, articles.c.url), rows)}
        inserted = [(i, row) for i, row in zip(fresh, rows, strict=True) if row["url"] in got]
        fresh = [i for i, _ in inserted]
        rows = [row for _, row in inserted]
        ids = [got[row["url"]] for row in rows]
        if not ids:
            return
        c.execute(article_sources.insert(), [
            {"article_id": aid, "source_id": source_id, "published": row["published"],
             "day": row["day"]} for aid, row in zip(ids, rows, strict=True)])
        topic_rows = [{"article_id": aid, "topic": t, "published": row["published"],
                       "day": row["day"]}
                      for aid, i, row in zip(ids, fresh, rows, strict=True)
                      for t in sorted(set(items[i][1]))]
        if topic_rows:
            c.execute(article_topics.insert(), topic_rows)
        self._index_search(c, [(aid, items[i][0]) for aid, i in zip(ids, fresh, strict=True)])
        counts.sources[source_id] += len(ids)
        for i, row in zip(fresh, rows, strict=True):
            counts.days[row["day"]] += 1
            feeds = feednames.touched([source_id], items[i][1], [row["day"]])
            if row["day"] in new_days:  # the first article of a day adds it to the list
                new_days.discard(row["day"])
                feeds.add(feednames.DAY_LIST)
            saved[i] = Saved("new", frozenset(feeds))

    def _insert(self, table: sa.Table) -> Any:
        """An INSERT with the dialect's ``on_conflict_do_nothing``."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def _update(self, c: Connection, source_id: str, data: ArticleData, topics: Sequence[str],
                digest: str, now: datetime, counts: _Counts) -> Saved:
        """An archived article seen again: another source, edited text, other topics."""
        row = c.execute(sa.select(articles).where(articles.c.url == data.url)).one()
        aid = row.id
        sources = set(c.execute(sa.select(article_sources.c.source_id)
                                .where(article_sources.c.article_id == aid)).scalars())
        old_topics = set(c.execute(sa.select(article_topics.c.topic)
                                   .where(article_topics.c.article_id == aid)).scalars())
        feeds: set[str] = set()
        outcome = "unchanged"
        published, day = row.published, row.day
        if row.content_hash != digest:
            # An edit upstream: same id, same published; updated moves.
            updated = data.updated if data.updated and data.updated > row.updated else now
            values = self._values(data, digest) | {"updated": max(updated, row.updated)}
            if not row.date_known and data.published is not None:
                published, day = data.published, local_day(data.published, self.tz)
                values |= {"published": published, "date_known": True, "day": day}
            c.execute(articles.update().where(articles.c.id == aid).values(**values))
            self._unindex_search(c, [aid])
            self._index_search(c, [(aid, data)])
            if day != row.day:
                counts.days[row.day] -= 1
                counts.days[day] += 1
                feeds.add(feednames.DAY_LIST)
            if published != row.published:
                for table in (article_topics, article_sources):
                    c.execute(table.update().where(table.c.article_id == aid)
                              .values(published=published, day=day))
            feeds |= feednames.touched(sources, old_topics | set(topics), {row.day, day})
            outcome = "updated"
        if source_id not in sources:
            added = c.execute(self._insert(article_sources).on_conflict_do_nothing()
                              .values(article_id=aid, source_id=source_id,
                                      published=published, day=day)
                              .returning(article_sources.c.article_id)).all()
            counts.sources[source_id] += len(added)
            sources.add(source_id)
            feeds.add(feednames.source(source_id).key)
        if old_topics != set(topics):
            self._set_topics(c, aid, topics, published, day)
            feeds |= feednames.touched(sources, old_topics | set(topics), [day])
        return Saved(outcome, frozenset(feeds))

    def due_for_recheck(self, source_id: str, *, since: datetime, every: timedelta,
                        limit: int) -> list[PageCheck]:
        """Articles of ``source_id`` first seen after ``since`` whose page was not checked
        within ``every``, least recent first, with their page's validators."""
        stale = clock.now() - every
        query = (
            sa.select(articles.c.url, articles.c.page_etag, articles.c.page_last_modified)
            .join(article_sources, article_sources.c.article_id == articles.c.id)
            .where(article_sources.c.source_id == source_id, articles.c.first_seen >= since,
                   sa.or_(articles.c.checked_at.is_(None), articles.c.checked_at <= stale))
            .order_by(articles.c.checked_at, articles.c.id).limit(limit))
        with self._read() as c:
            return [PageCheck(url, Validators(url, etag, lm))
                    for url, etag, lm in c.execute(query)]

    def mark_checked(self, check: PageCheck) -> None:
        self.mark_checked_many([check])

    def mark_checked_many(self, checks: Sequence[PageCheck]) -> None:
        """Note article pages fetched now, with their validators (for edit checks). A page
        fetched at a URL other than its article's is remembered as an alias, so that
        :meth:`known_urls` knows that URL next time (no page is fetched twice)."""
        if not checks:
            return
        now = clock.now()
        aliases = {_alias_key(ch.validators.url): ch.article_url for ch in checks
                   if ch.validators.url != ch.article_url}
        with self._tx() as c:
            c.execute(articles.update().where(articles.c.url == sa.bindparam("u")).values(
                checked_at=now, page_etag=sa.bindparam("e"),
                page_last_modified=sa.bindparam("lm")),
                [{"u": ch.article_url, "e": ch.validators.etag,
                  "lm": ch.validators.last_modified} for ch in checks])
            for key, target in sorted(aliases.items()):
                self._set_kv(c, key, target)

    def attach(self, source_id: str, known: Sequence[str]) -> frozenset[str]:
        """Record that ``source_id`` lists these archived URLs too (one story, one entry)."""
        with self._tx() as c:
            rows = c.execute(sa.select(articles.c.id, articles.c.published, articles.c.day)
                             .where(articles.c.url.in_(list(known)))).all()
            have = set(c.execute(sa.select(article_sources.c.article_id).where(
                article_sources.c.source_id == source_id,
                article_sources.c.article_id.in_([r.id for r in rows]))).scalars())
            missing = [r for r in rows if r.id not in have]
            if not missing:
                return frozenset()
            c.execute(article_sources.insert(), [
                {"article_id": r.id, "source_id": source_id, "published": r.published,
                 "day": r.day} for r in missing])
            counts = _Counts()
            counts.sources[source_id] += len(missing)
            self._apply_counts(c, counts)
            self._bump(c, {f"source/{source_id}"})
        return frozenset({f"source/{source_id}"})

    @staticmethod
    def _values(data: ArticleData, digest: str) -> dict[str, Any]:
        return {
            "title": data.title, "summary": data.summary, "content_html": data.content_html,
            "authors": json.dumps(list(data.authors), ensure_ascii=False),
            # a lead image URL the column cannot hold is dropped, not the article
            "image": data.image if data.image and len(data.image) <= 2048 else None,
            "image_width": data.image_width,
            "image_height": data.image_height, "language": data.language,
            "categories": json.dumps(list(data.categories), ensure_ascii=False),
            "tags": json.dumps(list(data.tags), ensure_ascii=False),
            "content_hash": digest,
        }

    def _set_topics(self, c: Connection, aid: int, topics: Sequence[str],
                    published: datetime, day: str) -> None:
        c.execute(article_topics.delete().where(article_topics.c.article_id == aid))
        if topics:
            c.execute(article_topics.insert(), [
                {"article_id": aid, "topic": t, "published": published, "day": day}
                for t in sorted(set(topics))])

    # -- counters and the search index -------------------------------------------------
    def _apply_counts(self, c: Connection, counts: _Counts) -> None:
        """Add ``counts`` to the day and source counters (keys in sorted order, so two
        PostgreSQL writers lock them alike); a counter that reaches 0 is removed. One
        upsert a table for all its keys: a statement built per key cost ~0.5 ms of
        SQLAlchemy's Python each, most of what a transaction of a few articles took."""
        for table, key, deltas in ((day_counts, "day", counts.days),
                                   (source_counts, "source_id", counts.sources)):
            changed = sorted(k for k, d in deltas.items() if d)
            if not changed:
                continue
            stmt = self._insert(table)
            c.execute(stmt.on_conflict_do_update(
                index_elements=[key], set_={"n": table.c.n + stmt.excluded.n}),
                [{key: k, "n": deltas[k]} for k in changed])
            c.execute(table.delete().where(table.c[key].in_(changed), table.c.n <= 0))

    def _index_search(self, c: Connection, items: Sequence[tuple[int, ArticleData]]) -> None:
        """Add these articles' search documents (see :mod:`feedsvc.search`)."""
        if not items:
            return
        rows = [{"id": aid, "doc": search.document(data)} for aid, data in items]
        if self.dialect == "postgresql":
            c.execute(sa.text("INSERT INTO article_search (article_id, doc) "
                              "VALUES (:id, to_tsvector('simple', :doc))"), rows)
        else:
            c.execute(sa.text("INSERT INTO article_fts (rowid, doc) VALUES (:id, :doc)"), rows)

    def _unindex_search(self, c: Connection, ids: Sequence[int]) -> None:
        if not ids:
            return
        table, col = (("article_search", "article_id") if self.dialect == "postgresql"
                      else ("article_fts", "rowid"))
        stmt = sa.text(f"DELETE FROM {table} WHERE {col} IN :ids").bindparams(
            sa.bindparam("ids", expanding=True))
        for i in range(0, len(ids), 500):
            c.execute(stmt, {"ids": list(ids[i:i + 500])})

    def _search_ids(self, q: search.Query) -> sa.Select[Any]:
        """A SELECT of the ids of articles whose document has every word of ``q``."""
        if self.dialect == "postgresql":
            doc = sa.table("article_search", sa.column("article_id", sa.Integer))
            return sa.select(doc.c.article_id).where(sa.text(
                "article_search.doc @@ to_tsquery('simple', :tsq)").bindparams(
                tsq=q.tsquery()))
        fts = sa.table("article_fts", sa.column("rowid", sa.Integer))
        return sa.select(fts.c.rowid).where(sa.text("article_fts MATCH :fts").bindparams(
            fts=q.fts5()))

    def reclassify(self, classify: Any, progress: Any = None, batch: int = 500) -> int:
        """Re-run topic rules over the whole archive; return how many articles moved.

        Set-based: ``batch`` articles are read with three queries, their topic rows
        changed with one delete and one insert, and every feed key they touch is bumped
        once per batch (a moved article does not re-render its feeds on its own)."""
        moved = 0
        with self._read() as c:
            total = int(c.execute(sa.select(sa.func.coalesce(sa.func.sum(day_counts.c.n), 0))
                                  ).scalar() or 0)
        done, last = 0, 0
        cols = (articles.c.id, articles.c.url, articles.c.title, articles.c.summary,
                articles.c.content_html, articles.c.categories, articles.c.tags,
                articles.c.published, articles.c.day)
        while True:
            with self._tx() as c:
                rows = c.execute(sa.select(*cols).where(articles.c.id > last)
                                 .order_by(articles.c.id).limit(batch)).all()
                if not rows:
                    break
                last = rows[-1].id
                ids = [r.id for r in rows]
                sources: dict[int, list[str]] = {}
                for aid, s in c.execute(sa.select(article_sources.c.article_id,
                                                  article_sources.c.source_id)
                                        .where(article_sources.c.article_id.in_(ids))):
                    sources.setdefault(aid, []).append(s)
                topics: dict[int, set[str]] = {}
                for aid, t in c.execute(sa.select(article_topics.c.article_id,
                                                  article_topics.c.topic)
                                        .where(article_topics.c.article_id.in_(ids))):
                    topics.setdefault(aid, set()).add(t)
                drop: list[dict[str, Any]] = []
                add: list[dict[str, Any]] = []
                feeds: set[str] = set()
                for r in rows:
                    srcs = tuple(sorted(sources.get(r.id, ())))
                    data = ArticleData(url=r.url, title=r.title, summary=r.summary,
                                       content_html=r.content_html,
                                       categories=tuple(json.loads(r.categories)),
                                       tags=tuple(json.loads(r.tags)))
                    new, old = set(classify(data, srcs)), topics.get(r.id, set())
                    if new == old:
                        continue
                    moved += 1
                    drop += [{"a": r.id, "t": t} for t in sorted(old - new)]
                    add += [{"article_id": r.id, "topic": t, "published": r.published,
                             "day": r.day} for t in sorted(new - old)]
                    feeds |= feednames.touched(srcs, new ^ old, [r.day])
                if drop:
                    c.execute(article_topics.delete().where(
                        article_topics.c.article_id == sa.bindparam("a"),
                        article_topics.c.topic == sa.bindparam("t")), drop)
                if add:
                    c.execute(article_topics.insert(), add)
                if feeds:
                    self._bump(c, self._without_live_digest(feeds))
            done += len(rows)
            if progress:
                progress(min(done, max(total, done)), max(total, done))
        return moved

    def count_articles(self, source_id: str | None = None, since: datetime | None = None) -> int:
        """Articles in the archive (of a source; first seen since ``since``), from the
        counters, or from the first-seen index for ``since``."""
        with self._read() as c:
            if since is not None:
                q = sa.select(sa.func.count()).select_from(articles).where(
                    articles.c.first_seen >= since)
                if source_id:
                    q = q.where(sa.exists().where(
                        article_sources.c.article_id == articles.c.id,
                        article_sources.c.source_id == source_id))
                return int(c.execute(q).scalar() or 0)
            if source_id:
                return int(c.execute(sa.select(source_counts.c.n).where(
                    source_counts.c.source_id == source_id)).scalar() or 0)
            return int(c.execute(sa.select(sa.func.coalesce(sa.func.sum(day_counts.c.n), 0))
                                 ).scalar() or 0)

    def latest(self, limit: int, *, topic: str | None = None, source: str | None = None,
               before: tuple[datetime, int] | None = None, q: Sequence[str] = ()
               ) -> list[Article]:
        """Newest first (published, then id), optionally within a topic or source, older
        than the cursor ``before`` and holding every word of ``q`` (:mod:`feedsvc.search`).

        Each is one index range in feed order: ``article_topics``/``article_sources``
        carry ``published``; the cursor is a row-value comparison."""
        if topic:
            t: sa.Table = article_topics
            idc, pub = t.c.article_id, t.c.published
            query = sa.select(idc).where(t.c.topic == topic)
            if source:
                query = query.where(sa.exists().where(
                    article_sources.c.article_id == idc,
                    article_sources.c.source_id == source))
        elif source:
            t = article_sources
            idc, pub = t.c.article_id, t.c.published
            query = sa.select(idc).where(t.c.source_id == source)
        else:
            idc, pub = articles.c.id, articles.c.published
            query = sa.select(idc)
        query = query.order_by(pub.desc(), idc.desc())
        with self._read() as c:
            return self._fetch(c, query, idc, pub, limit, before, q)

    def _fetch(self, c: Connection, query: sa.Select[Any], idc: Any, pub: Any, limit: int | None,
               before: tuple[datetime, int] | None, words: Sequence[str]) -> list[Article]:
        """The articles of ``query`` (ids in feed order) below ``before`` with ``words``;
        words the index cannot answer exactly are checked, reading on until ``limit``."""
        sq = search.query(tuple(words)) if words else None
        if sq is not None and self.dialect == "postgresql":
            # PostgreSQL's planner walks the newest-first index and tests every document
            # (detoasting each) when it guesses a word is common enough: for a rare word
            # that is the whole archive. So the GIN index answers first; only a word with
            # more than MATCHES_INLINE matches (dense: the walk soon finds a page) is left
            # to the planner.
            c.exec_driver_sql("SET LOCAL enable_seqscan = off")
            found = list(c.execute(self._search_ids(sq).limit(MATCHES_INLINE + 1)).scalars())
            query = query.where(idc.in_(found) if len(found) <= MATCHES_INLINE
                                else idc.in_(self._search_ids(sq)))
        elif sq is not None:
            query = query.where(idc.in_(self._search_ids(sq)))
        out: list[Article] = []
        for _ in range(20 if sq is not None and not sq.exact else 1):
            page = query
            if before is not None:
                page = page.where(sa.tuple_(pub, idc) < sa.tuple_(
                    sa.literal(before[0], UTCDateTime()), sa.literal(before[1])))
            want = None if limit is None else limit - len(out)
            arts = self._load_page(c, page if want is None else page.limit(want), idc, pub)
            out += [a for a in arts if sq is None or sq.check(a)]
            if want is None or len(out) >= (limit or 0) or len(arts) < want or not arts:
                break
            before = (arts[-1].published, arts[-1].id)
        return out

    def day(self, day: str, *, topic: str | None = None, q: Sequence[str] = ()
            ) -> list[Article]:
        """Every article published on ``day`` (service time zone), newest first."""
        if topic:
            idc, pub = article_topics.c.article_id, article_topics.c.published
            query = sa.select(idc).where(article_topics.c.topic == topic,
                                         article_topics.c.day == day)
        else:
            idc, pub = articles.c.id, articles.c.published
            query = sa.select(idc).where(articles.c.day == day)
        query = query.order_by(pub.desc(), idc.desc())
        with self._read() as c:
            return self._fetch(c, query, idc, pub, None, None, q)

    def headlines(self, day: str) -> list[Headline]:
        """The titles and links of ``day``'s articles, newest first (the digest's)."""
        query = (sa.select(articles.c.url, articles.c.title, articles.c.published,
                           articles.c.updated)
                 .where(articles.c.day == day)
                 .order_by(articles.c.published.desc(), articles.c.id.desc()))
        with self._read() as c:
            return [Headline(*r) for r in c.execute(query)]

    def days(self, topic: str | None = None) -> list[str]:
        """Days that have articles, oldest first (reads every day: not for requests)."""
        if topic:
            query = sa.select(article_topics.c.day).distinct().where(
                article_topics.c.topic == topic)
        else:
            query = sa.select(day_counts.c.day)
        with self._read() as c:
            return sorted(c.execute(query).scalars())

    def day_before(self, day: str, topic: str | None = None) -> str | None:
        """The newest day before ``day`` with articles (of ``topic``): an index lookup."""
        col, where = self._day_col(topic)
        with self._read() as c:
            return c.execute(sa.select(sa.func.max(col)).where(*where, col < day)).scalar()

    def day_after(self, day: str, topic: str | None = None) -> str | None:
        """The oldest day after ``day`` with articles (of ``topic``): an index lookup."""
        col, where = self._day_col(topic)
        with self._read() as c:
            return c.execute(sa.select(sa.func.min(col)).where(*where, col > day)).scalar()

    def days_around(self, day: str, topic: str | None = None) -> tuple[str | None, str | None]:
        """(:meth:`day_before`, :meth:`day_after`) in one statement (a day feed's links)."""
        col, where = self._day_col(topic)
        with self._read() as c:
            row = c.execute(sa.select(
                sa.select(sa.func.max(col)).where(*where, col < day).scalar_subquery(),
                sa.select(sa.func.min(col)).where(*where, col > day).scalar_subquery(),
            )).one()
        return row[0], row[1]

    @staticmethod
    def _day_col(topic: str | None) -> tuple[Any, list[Any]]:
        if topic:
            return article_topics.c.day, [article_topics.c.topic == topic]
        return day_counts.c.day, []

    def first_day(self) -> str | None:
        """The archive's first day (an index lookup), None when it is empty."""
        with self._read() as c:
            return c.execute(sa.select(sa.func.min(day_counts.c.day))).scalar()

    def recent_days(self, limit: int, before: str | None = None) -> list[tuple[str, int]]:
        """The newest ``limit`` days with articles (before ``before``) and their counts,
        newest first, from the day counters."""
        query = sa.select(day_counts.c.day, day_counts.c.n)
        if before is not None:
            query = query.where(day_counts.c.day < before)
        with self._read() as c:
            return [(d, n) for d, n in c.execute(
                query.order_by(day_counts.c.day.desc()).limit(limit))]

    def newest_day(self) -> str | None:
        """The archive's newest day with articles (an index lookup), None when empty."""
        with self._read() as c:
            return c.execute(sa.select(sa.func.max(day_counts.c.day))).scalar()

    def month_counts(self, year: int, month: int) -> dict[str, int]:
        """The days of one month (service time zone) that have articles, and their
        counts: one range of the day counters' primary key, at most 31 rows."""
        prefix = f"{year:04d}-{month:02d}-"
        query = (sa.select(day_counts.c.day, day_counts.c.n)
                 .where(day_counts.c.day >= prefix + "01", day_counts.c.day <= prefix + "31")
                 .order_by(day_counts.c.day))
        with self._read() as c:
            return {d: int(n) for d, n in c.execute(query)}

    def day_counts(self) -> dict[str, int]:
        """Every day with articles and its count (from the counters)."""
        with self._read() as c:
            return {d: n for d, n in c.execute(sa.select(day_counts.c.day, day_counts.c.n))}

    def _load_page(self, c: Connection, page: sa.Select[Any], idc: Any, pub: Any
                   ) -> list[Article]:
        """The articles whose ids ``page`` selects, in its order, with their topics: one
        statement (the ids as a subquery, not a list sent back; topic slugs, which hold
        no spaces, aggregated per row)."""
        sub = page.with_only_columns(idc.label("aid"), pub.label("apub")).subquery()
        topics = (sa.select(sa.func.aggregate_strings(article_topics.c.topic, " "))
                  .where(article_topics.c.article_id == articles.c.id)
                  .scalar_subquery().label("topic_list"))
        rows = c.execute(sa.select(articles, topics)
                         .join(sub, articles.c.id == sub.c.aid)
                         .order_by(sub.c.apub.desc(), sub.c.aid.desc()))
        return [_article(r, tuple(sorted((r.topic_list or "").split()))) for r in rows]

    def _load(self, c: Connection, ids: list[int]) -> list[Article]:
        if not ids:
            return []
        rows: dict[int, Any] = {}
        topics: dict[int, list[str]] = {}
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            rows.update((r.id, r) for r in c.execute(
                sa.select(articles).where(articles.c.id.in_(chunk))))
            for aid, t in c.execute(sa.select(article_topics.c.article_id,
                                              article_topics.c.topic)
                                    .where(article_topics.c.article_id.in_(chunk))):
                topics.setdefault(aid, []).append(t)
        return [_article(rows[i], tuple(sorted(topics.get(i, ())))) for i in ids if i in rows]

    def purge_before(self, cutoff_day: str) -> int:
        """Delete articles of whole days before ``cutoff_day`` (retention), then give
        the space back (see :meth:`reclaim`)."""
        with self._tx() as c:
            ids = list(c.execute(sa.select(articles.c.id)
                                 .where(articles.c.day < cutoff_day)).scalars())
            if not ids:
                return 0
            counts = _Counts()
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for s, n in c.execute(sa.select(article_sources.c.source_id, sa.func.count())
                                      .where(article_sources.c.article_id.in_(chunk))
                                      .group_by(article_sources.c.source_id)):
                    counts.sources[s] -= n
                for d, n in c.execute(sa.select(articles.c.day, sa.func.count())
                                      .where(articles.c.id.in_(chunk))
                                      .group_by(articles.c.day)):
                    counts.days[d] -= n
                c.execute(article_topics.delete().where(article_topics.c.article_id.in_(chunk)))
                c.execute(article_sources.delete()
                          .where(article_sources.c.article_id.in_(chunk)))
                self._unindex_search(c, chunk)
                c.execute(articles.delete().where(articles.c.id.in_(chunk)))
            self._apply_counts(c, counts)
            self._bump(c, {feednames.EVERYTHING})
        self.reclaim()
        return len(ids)

    def reclaim(self) -> None:
        """Give deleted space back and refresh the planner's statistics (housekeeping:
        after a purge, and daily). SQLite: a sampled ``ANALYZE``, an incremental vacuum
        (when the file allows it) and a WAL checkpoint; PostgreSQL: ``VACUUM (ANALYZE)``
        of the archive's tables."""
        try:
            if self.dialect == "sqlite":  # outside any transaction, as these need
                raw = self.engine.raw_connection()
                try:
                    cur = raw.cursor()
                    cur.execute("PRAGMA analysis_limit=1000")  # sampled: fast on 1M rows
                    cur.execute("ANALYZE")
                    # executescript steps the pragma to the end: execute() frees one page
                    cur.executescript("PRAGMA incremental_vacuum;")
                    cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                    cur.close()
                finally:
                    raw.close()
            else:
                with self.engine.connect() as conn:  # VACUUM also empties GIN pending lists
                    conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM (ANALYZE) articles, article_topics, article_sources, "
                        "article_search, day_counts, source_counts")
        except (sa.exc.SQLAlchemyError, self.engine.dialect.dbapi.Error) as e:
            raise StoreError(f"database error: {describe(e)}") from e


    # -- source state --------------------------------------------------------------
    def source_state(self, source_id: str) -> SourceState:
        with self._read() as c:
            row = c.execute(sa.select(source_state)
                            .where(source_state.c.source_id == source_id)).first()
            doc = c.execute(sa.select(kv.c.value).where(
                kv.c.key == _DOC_KEY + source_id)).scalar()
        return _state(row, doc) if row else SourceState(source_id=source_id)

    def all_source_states(self) -> dict[str, SourceState]:
        with self._read() as c:
            docs = dict(c.execute(sa.select(kv.c.key, kv.c.value)
                                  .where(kv.c.key.like(_DOC_KEY + "%"))).all())
            return {r.source_id: _state(r, docs.get(_DOC_KEY + r.source_id))
                    for r in c.execute(sa.select(source_state))}

    def put_source_state(self, state: SourceState) -> None:
        v = state.validators
        values = {c.name: getattr(state, c.name) for c in source_state.c
                  if c.name not in ("etag", "last_modified")}
        values |= {"etag": v.etag if v else None,
                   "last_modified": v.last_modified if v else None}
        with self._tx() as c:
            done = c.execute(source_state.update()
                             .where(source_state.c.source_id == state.source_id)
                             .values(**values)).rowcount
            if not done:
                c.execute(source_state.insert().values(**values))
            # The document the validators belong to (no column for it: kept beside).
            if v is not None:
                self._set_kv(c, _DOC_KEY + state.source_id, v.url)
            else:
                c.execute(kv.delete().where(kv.c.key == _DOC_KEY + state.source_id))

    # -- scheduler lease ------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew lease ``name`` for ``owner`` (a conditional UPDATE on ``kv``).

        True when ``owner`` holds it until now + ttl; False while another holder's
        lease is unexpired. Works the same on SQLite and PostgreSQL.
        """
        now = clock.now()
        new = f"{owner}|{(now + timedelta(seconds=ttl)).isoformat()}"
        with self._tx() as c:
            current = c.execute(sa.select(kv.c.value).where(kv.c.key == name)).scalar()
            if current is None:
                try:
                    with c.begin_nested():
                        c.execute(kv.insert().values(key=name, value=new))
                    return True
                except sa.exc.IntegrityError:
                    return False
            holder, _, until = current.partition("|")
            try:
                expired = datetime.fromisoformat(until) <= now
            except ValueError:
                expired = True
            if holder != owner and not expired:
                return False
            won = c.execute(kv.update().where(kv.c.key == name, kv.c.value == current)
                            .values(value=new)).rowcount
            return won == 1

    def release_lease(self, name: str, owner: str) -> None:
        with self._tx() as c:
            c.execute(kv.delete().where(kv.c.key == name, kv.c.value.like(f"{owner}|%")))

    # -- admin refresh queue --------------------------------------------------------
    def request_refresh(self, source_id: str | None) -> int:
        with self._tx() as c:
            return c.execute(refresh_requests.insert().values(
                source_id=source_id, requested_at=clock.now())).inserted_primary_key[0]

    def claim_refresh_requests(self) -> list[str | None]:
        """Claim pending requests (a conditional UPDATE: two schedulers never both run one)."""
        claimed: list[str | None] = []
        with self._tx() as c:
            pending = c.execute(sa.select(refresh_requests.c.id, refresh_requests.c.source_id)
                                .where(refresh_requests.c.claimed_at.is_(None))
                                .order_by(refresh_requests.c.id)).all()
            for rid, source_id in pending:
                won = c.execute(refresh_requests.update()
                                .where(refresh_requests.c.id == rid,
                                       refresh_requests.c.claimed_at.is_(None))
                                .values(claimed_at=clock.now())).rowcount
                if won:
                    claimed.append(source_id)
        return claimed

    # -- feed versions and render cache --------------------------------------------
    def _bump(self, c: Connection, feeds: set[str]) -> None:
        """Move these feeds' versions on: one upsert for all of them (a batch of new
        articles touches dozens of feeds), rows locked in key order."""
        if not feeds:
            return
        stmt = self._insert(feed_versions)
        c.execute(stmt.on_conflict_do_update(
            index_elements=[feed_versions.c.feed],
            set_={"version": feed_versions.c.version + 1}),
            [{"feed": key, "version": 1} for key in sorted(feeds)])

    def versions(self, feeds: Sequence[str]) -> dict[str, int]:
        with self._read() as c:
            rows = c.execute(sa.select(feed_versions.c.feed, feed_versions.c.version)
                             .where(feed_versions.c.feed.in_(list(feeds)))).all()
        found = {f: v for f, v in rows}
        return {f: found.get(f, 0) for f in feeds}

    def get_rendering(self, key: str, stamp: str | None = None) -> Rendering | None:
        """The stored rendering of ``key`` (only if it has ``stamp``, when given: a stale
        one's megabytes are not read)."""
        query = sa.select(rendered).where(rendered.c.key == key)
        if stamp is not None:
            query = query.where(rendered.c.stamp == stamp)
        with self._read() as c:
            row = c.execute(query).first()
        return Rendering(**row._asdict()) if row else None

    def put_rendering(self, item: Rendering) -> None:
        """Keep a rendering for every process: one upsert, in a transaction that does not
        wait for the disk on PostgreSQL (a cache row lost in a crash is rendered again;
        on the cold path of every busy feed the wait was half of this write)."""
        values = {c.name: getattr(item, c.name) for c in rendered.c}
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        upsert = insert(rendered).values(**values)
        upsert = upsert.on_conflict_do_update(
            index_elements=[rendered.c.key],
            set_={k: upsert.excluded[k] for k in values if k != "key"})
        with self._tx() as c:
            if self.dialect == "postgresql":
                c.exec_driver_sql("SET LOCAL synchronous_commit = off")
            c.execute(upsert)


_DOC_KEY = "validators_url:"  # kv: the document a source's validators belong to
_ALIAS_KEY = "alias:"  # kv: sha1 of a URL whose page is another URL's article


def _alias_key(url: str) -> str:
    return _ALIAS_KEY + hashlib.sha1(url.encode("utf-8")).hexdigest()


def _state(row: Any, doc_url: str | None) -> SourceState:
    """A ``source_state`` row as a :class:`SourceState`. Validators stored without the
    document they belong to (before it was kept) are dropped: one unconditional GET."""
    values = row._asdict()
    etag, last_modified = values.pop("etag"), values.pop("last_modified")
    validators = None
    if doc_url is not None and (etag is not None or last_modified is not None):
        validators = Validators(doc_url, etag, last_modified)
    return SourceState(**values, validators=validators)


def _strings(raw: str) -> tuple[str, ...]:
    """A stored JSON list of strings as a tuple ("[]", the usual value, without parsing)."""
    return () if raw == "[]" else tuple(json.loads(raw))


def _article(row: Any, topics: tuple[str, ...]) -> Article:
    return Article(
        id=row.id, guid=row.guid, url=row.url, source_id=row.source_id, title=row.title,
        summary=row.summary, content_html=row.content_html,
        authors=_strings(row.authors), published=row.published, updated=row.updated,
        first_seen=row.first_seen, image=row.image, image_width=row.image_width,
        image_height=row.image_height, language=row.language,
        categories=_strings(row.categories), tags=_strings(row.tags),
        topics=topics,
    )


def _as_data(a: Article) -> ArticleData:
    return ArticleData(url=a.url, title=a.title, published=a.published, updated=a.updated,
                       authors=a.authors, summary=a.summary, content_html=a.content_html,
                       image=a.image, image_width=a.image_width,
                       image_height=a.image_height, categories=a.categories, tags=a.tags,
                       language=a.language)
