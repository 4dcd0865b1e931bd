"""The feed namespace: one module parses feed paths, builds their URLs and lists the
feed keys an article change touches."""

from __future__ import annotations

import pytest

from feedsvc import feednames
from feedsvc.errors import NotFound
from feedsvc.feednames import FeedName


@pytest.mark.parametrize("path, name, fmt", [
    ("all.atom", FeedName("all"), "atom"),
    ("digest.json", FeedName("digest"), "json"),
    ("topic/energy.rss", FeedName("topic", "energy"), "rss"),
    ("source/espreso-global.atom", FeedName("source", "espreso-global"), "atom"),
    ("day/2026-11-21.json", FeedName("day", day="2026-11-21"), "json"),
    ("topic/energy/day/2024-02-29.atom", FeedName("topic-day", "energy", "2024-02-29"), "atom"),
])
def test_paths_parse_and_build_back(path: str, name: FeedName, fmt: str) -> None:
    assert feednames.parse_path(path) == (name, fmt)
    assert name.path(fmt) == f"/feeds/{path}"
    assert name.url("https://f.example", fmt) == f"https://f.example/feeds/{path}"
    assert feednames.from_key(name.key) == name


@pytest.mark.parametrize("path", [
    "all.xml", "all", "topic/Energy.atom", "topic/.atom", "source/a/b.atom",
    "day/2026-02-30.atom", "day/2026-13-01.atom", "day/26-11-21.atom", "day/9999-12-31.atom",
    "day/0001-01-01.atom", "topic/x/day/2026-11-21x.atom", "../all.atom", "all.atom/",
    "day/２０２６-11-21.atom",  # full-width digits are not ASCII digits
])
def test_anything_else_is_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        feednames.parse_path(path)


def test_internal_keys_are_not_feeds() -> None:
    assert feednames.from_key(feednames.EVERYTHING) is None
    assert feednames.from_key(feednames.DAY_LIST) is None


def test_an_article_touches_its_sources_topics_days_and_their_crossings() -> None:
    keys = feednames.touched(["a"], ["energy", "kharkiv"], ["2026-11-20"])
    assert keys == {"all", "digest", "source/a", "topic/energy", "topic/kharkiv",
                    "day/2026-11-20", "topic/energy/day/2026-11-20",
                    "topic/kharkiv/day/2026-11-20"}


def test_each_feed_depends_on_its_own_key_and_the_archive_wide_ones() -> None:
    name = FeedName("topic-day", "energy", "2026-11-20")
    assert set(name.deps()) == {"*", "days", "topic/energy/day/2026-11-20"}
    assert name.current() == FeedName("topic", "energy")
    assert FeedName("topic", "energy").archive_of("2026-11-19") == FeedName(
        "topic-day", "energy", "2026-11-19")
    assert FeedName("all").archive_of("2026-11-19") == FeedName("day", day="2026-11-19")


@pytest.mark.parametrize("path, kind", [
    ("/feeds/topic/x/day/2026-11-21.atom", "topic-day"), ("/feeds/topic/x.atom", "topic"),
    ("/feeds/all.json", "all"), ("/feeds/whatever/else", "other"), ("/feeds/", "other"),
])
def test_metrics_labels_are_bounded(path: str, kind: str) -> None:
    assert feednames.metric_kind(path) == kind
