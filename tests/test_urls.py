"""URL identity (feedsvc.urls): one page is one URL, two pages stay two URLs. Only the
parts that never tell pages apart are rewritten (scheme and host case, default port,
fragment, tracking parameters); the rest of the query is kept byte for byte."""

from __future__ import annotations

import pytest

from feedsvc.urls import absolute, is_http, normalize


@pytest.mark.parametrize(("url", "want"), [
    # scheme, host, port, path, fragment
    ("HTTPS://News.Example.COM/a/B?x=1#top", "https://news.example.com/a/B?x=1"),
    ("http://news.example:80/a", "http://news.example/a"),
    ("https://news.example:443/a", "https://news.example/a"),
    ("https://news.example:8443/a", "https://news.example:8443/a"),
    ("https://news.example", "https://news.example/"),
    ("  https://news.example/a  ", "https://news.example/a"),
    ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
    ("https://news.example/a?", "https://news.example/a"),
    # the query, byte for byte
    ("https://news.example/a?b", "https://news.example/a?b"),
    ("https://news.example/a?q=a%20b", "https://news.example/a?q=a%20b"),
    ("https://news.example/a?q=a+b", "https://news.example/a?q=a+b"),
    ("https://news.example/a?x=%7E&y=~&z=%2B", "https://news.example/a?x=%7E&y=~&z=%2B"),
    ("https://news.example/a?b=2&a=1&a=0", "https://news.example/a?b=2&a=1&a=0"),
    ("https://news.example/a?id=1;page=2", "https://news.example/a?id=1;page=2"),
    ("https://news.example/a?x=%D0%BA%D0%B8%D1%97%D0%B2",
     "https://news.example/a?x=%D0%BA%D0%B8%D1%97%D0%B2"),
    # tracking parameters go, the others stay as they were
    ("https://news.example/a?utm_source=rss&utm_medium=feed", "https://news.example/a"),
    ("https://news.example/a?id=7&utm_source=rss&b", "https://news.example/a?id=7&b"),
    ("https://news.example/a?UTM_Campaign=x&q=a%20b", "https://news.example/a?q=a%20b"),
    ("https://news.example/a?fbclid=abc&gclid=d&p=2&_ga=1.2", "https://news.example/a?p=2"),
    ("https://news.example/a?utm%5Fsource=x&p=2", "https://news.example/a?p=2"),
    ("https://news.example/a?utm_source", "https://news.example/a"),
    ("https://news.example/a?reference=1&utmost=2", "https://news.example/a?reference=1&utmost=2"),
])
def test_normalize(url: str, want: str) -> None:
    assert normalize(url) == want
    assert normalize(want) == want  # idempotent


def test_different_pages_stay_different() -> None:
    pages = ["https://news.example/s?q=a+b", "https://news.example/s?q=a%2Bb",
             "https://news.example/s?q=a%26b", "https://news.example/s?q=a&b",
             "https://news.example/s?b", "https://news.example/s?b="]
    assert len({normalize(u) for u in pages}) == len(pages)


@pytest.mark.parametrize("url", ["file:///etc/hosts", "ftp://news.example/a", "news.example/a",
                                 "https:///a", "http://news.example:99999/a", "mailto:x@y"])
def test_normalize_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        normalize(url)


def test_absolute_and_is_http() -> None:
    assert absolute("https://news.example/a/b", " ../c?d#e ") == "https://news.example/c?d#e"
    assert absolute("https://news.example/a/", "//cdn.example/i.jpg") == (
        "https://cdn.example/i.jpg")
    assert is_http("HTTPS://news.example/") and is_http("http://x.example")
    assert not is_http("javascript:alert(1)") and not is_http("/relative")


def test_an_over_long_url_is_refused_with_a_short_message() -> None:
    url = "https://news.example/a/" + "x" * 2100
    with pytest.raises(ValueError, match="longer than 2048") as e:
        normalize(url)
    assert len(str(e.value)) < 200
    assert len(normalize("https://news.example/a/" + "x" * 2000)) <= 2048
