"""The right day on article pages: one page per class of failure seen on real sites.

Each page under tests/data/pages/ is a reduced copy (written here) of a kind of page
where "the first date found" went wrong; the test checks the day an archive files the
article under and, through ``extract_page``, which evidence won.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feedsvc import dates
from feedsvc.extract import extract, extract_page

PAGES = Path(__file__).parent / "data" / "pages"
KYIV = ZoneInfo("Europe/Kyiv")
UTC_ZONE = ZoneInfo("UTC")
URL = "https://news.example.com/news/bridge-repairs"


def day(name: str, *, url: str = URL, tz: ZoneInfo = KYIV) -> str | None:
    """The day (in ``tz``) the article on page ``name`` is filed under."""
    art = extract((PAGES / name).read_bytes(), url, tz=tz)
    return art.published.astimezone(tz).date().isoformat() if art.published else None


def test_dotted_date_is_day_first() -> None:
    # "03.02.2022 14:20" on a Ukrainian page is 3 February, not 2 March
    assert day("dotted-date.html") == "2022-02-03"


@pytest.mark.parametrize("text, expected", [
    ("03.02.2022", "2022-02-03"), ("05.06.2024 14:20", "2024-06-05"),
    ("03/02/2022", "2022-03-02"),  # US English: month first
])
def test_numeric_dates(text: str, expected: str) -> None:
    assert dates.local_day(dates.parse(text, KYIV, fuzzy=True), KYIV) == expected


def test_slash_date_is_day_first_outside_us_english() -> None:
    dt = dates.parse_local("Publié le 02/11/2023 à 15h57", KYIV, fuzzy=True,
                           slash_dayfirst=True)
    assert dt is not None and dt.date().isoformat() == "2023-11-02"


def test_time_in_sidebar_teaser_or_embedded_post_does_not_win() -> None:
    # the first <time> is a "recent posts" teaser, the last one is inside an embedded
    # tweet; the article's own is next to its byline
    assert day("sidebar-time-first.html") == "2021-06-15"
    _, found = extract_page((PAGES / "sidebar-time-first.html").read_bytes(), URL, tz=KYIV)
    assert found.published is not None and found.published.kind == "element"
    assert found.published.raw == "2021-06-15T09:30:00+02:00"


def test_unclosed_nav_around_the_page_still_gives_the_articles_date() -> None:
    # a <nav> never closed holds the whole page (fifplay.com): date elements inside
    # menus are skipped unread, but not this one's, which holds the <article>
    _, found = extract_page((PAGES / "unclosed-nav.html").read_bytes(), URL, tz=KYIV)
    assert found.published is not None and found.published.kind == "element"
    assert found.published.raw == "2021-06-15T09:30:00+02:00"


def test_microdata_date_published() -> None:
    assert day("microdata.html") == "2018-11-07"
    _, found = extract_page((PAGES / "microdata.html").read_bytes(), URL, tz=KYIV)
    assert found.evidence == "microdata itemprop=datePublished"


def test_dublin_core_date_issued() -> None:
    assert day("dublin-core.html") == "2017-04-12"


def test_date_in_url_path() -> None:
    url = "https://news.example.com/2019/10/22/bridge-repairs-approved/"
    assert day("url-date.html", url=url) == "2019-10-22"
    _, found = extract_page((PAGES / "url-date.html").read_bytes(), url, tz=KYIV)
    assert found.evidence == "url 2019/10/22"


@pytest.mark.parametrize("name, expected", [
    ("byline-german.html", "2019-01-29"), ("byline-english.html", "2016-09-27"),
])
def test_date_written_next_to_byline(name: str, expected: str) -> None:
    assert day(name) == expected


@pytest.mark.parametrize("name, instant", [
    ("loose-iso-1.html", datetime(2020, 9, 25, 21, 2, 50, tzinfo=UTC)),  # …CDT
    ("loose-iso-2.html", datetime(2020, 9, 25, 7, 30, tzinfo=UTC)),  # …T00:30:00PDT
    ("loose-iso-3.html", datetime(2020, 12, 5, 23, 15, tzinfo=UTC)),  # …T23:15:0Z
])
def test_slightly_malformed_iso_dates(name: str, instant: datetime) -> None:
    art = extract((PAGES / name).read_bytes(), URL, tz=KYIV)
    assert art.published == instant


def test_updated_label_alone_still_dates_the_article() -> None:
    # the Espreso Global label: "Updated: 31 May, 2024 Friday"
    assert day("updated-label.html") == "2024-05-31"


def test_updated_date_kept_apart_from_published() -> None:
    # the page shows both days: the article is filed under its publication
    art, found = extract_page(
        (PAGES / "published-and-updated-shown.html").read_bytes(), URL, tz=KYIV)
    assert art.published == datetime(2023, 3, 10, 7, 0, tzinfo=UTC)
    assert art.updated == datetime(2023, 4, 2, 10, 0, tzinfo=UTC)
    assert found.evidence == "json-ld datePublished"
    # the losers are kept for diagnostics (feedsvc try), the update date among them
    assert any(c.kind == "element" and c.updated for c in found.losers)


def test_page_showing_only_its_update_day_is_filed_under_it() -> None:
    # structured datePublished 10 March, the page shows its readers only "Updated 2 April
    # 2023" (bench/realworld: republished guides; the true day is the one shown)
    art, found = extract_page((PAGES / "published-and-updated.html").read_bytes(), URL,
                              tz=KYIV)
    assert found.published_day == "2023-04-02"
    assert art.updated == datetime(2023, 4, 2, 10, 0, tzinfo=UTC)
    assert "shows only" in found.note
    assert any(c.kind == "json-ld" and c.where == "datePublished" for c in found.losers)


def test_meta_date_naming_the_update_day_files_it_there() -> None:
    # microdata datePublished the 27th, dateModified the 28th, and the page's own
    # <meta name="date"> / Dublin Core say the 28th: a republished release (drk.de)
    art, found = extract_page((PAGES / "meta-date-names-update.html").read_bytes(), URL,
                              tz=KYIV)
    assert found.published_day == "2021-10-28"
    assert found.published is not None and found.published.kind == "meta"


def test_labelled_publication_date_beats_open_graph() -> None:
    # "Erscheinungsdatum 25.01.2022" shown to readers; og:article:published_time 15.01.
    _, found = extract_page((PAGES / "labelled-publication-date.html").read_bytes(), URL,
                            tz=KYIV)
    assert found.published_day == "2022-01-25"
    assert "labels" in found.note


def test_shown_date_of_structured_day_outweighs_htmldate_and_another_element() -> None:
    # a <time> under the headline (another day, which htmldate also picks) against the
    # structured date that a visible line of the article shows too: the structured wins
    _, found = extract_page(
        (PAGES / "shown-date-confirms-structured.html").read_bytes(), URL, tz=KYIV)
    assert found.published_day == "2020-04-27"
    assert found.evidence == "json-ld dateCreated"


@pytest.mark.parametrize("name, expected, tz", [
    # an ISO date inside a line: "Written: 2023-11-07 15:03:30 / Updated: …" (KBS)
    ("written-and-updated-line.html", "2023-11-07", KYIV),
    # the update comes first on the line, the labelled publication after it
    ("updated-then-published-line.html", "2023-11-01", KYIV),
    # the article's own byline box is an <aside class="meta">, not a sidebar
    ("aside-meta-box.html", "2022-01-21", KYIV),
    # "Erstellt am: 01.11.2023" shown, <meta name="date"> ten months off
    ("created-label.html", "2023-11-01", KYIV),
    # <meta name="date"> a bare day, the byline a day before it with a time
    ("day-only-meta-vs-byline-time.html", "2020-04-29", KYIV),
    # "January 19, 2020 / 12:25 PM / Updated 8 hours ago": the update follows the date
    # (Reuters); og:published_time in UTC is shown on that day
    ("date-then-updated-ago.html", "2020-01-19", UTC_ZONE),
    # <h5>Datum: </h5>03.02.2022 (autohaus.de) against another block's date
    ("datum-label.html", "2022-02-03", UTC_ZONE),
    # a press release's dateline opening the lead: "Karlsruhe, (12.11.2021)." (ekiba.de)
    ("press-dateline.html", "2021-11-12", UTC_ZONE),
    # today's date in the site's navigation bar is not the article's (nachtkritik.de)
    ("nav-today-date.html", "2023-10-31", UTC_ZONE),
    # a date in a block whose class says it is the posting date, against <meta name=date>
    ("posted-class-date.html", "2022-01-21", UTC_ZONE),
    # "2021-11-19" in metadata is a day, not midnight UTC: a date element one day off
    # (another article's, katholisch.at) must not shift it as if it were a UTC moment
    ("day-only-meta-not-utc.html", "2021-11-19", UTC_ZONE),
])
def test_dates_real_pages_show(name: str, expected: str, tz: ZoneInfo) -> None:
    _, found = extract_page((PAGES / name).read_bytes(), URL, tz=tz)
    assert found.published_day == expected


def test_utc_metadata_shown_on_the_pages_local_day() -> None:
    # structured data in UTC (02:25 on the 25th), the byline shows the 24th, 9:25pm:
    # the moment is the metadata's, the day as written is the byline's
    art, found = extract_page((PAGES / "utc-metadata-local-day.html").read_bytes(), URL,
                              tz=UTC_ZONE)
    assert art.published == datetime(2020, 2, 25, 2, 25, 54, tzinfo=UTC)
    assert found.published_day == "2020-02-24"
    assert found.published is not None and found.published.kind == "meta"


def test_no_date_anywhere_gives_none_not_now() -> None:
    html = (PAGES / "url-date.html").read_bytes()
    art, found = extract_page(html, URL, tz=KYIV)
    assert art.published is None and found.published is None


def test_future_date_element_is_not_the_article_date() -> None:
    future = (datetime.now(UTC) + timedelta(days=400)).strftime("%d.%m.%Y")
    html = (PAGES / "dotted-date.html").read_text("utf-8").replace("03.02.2022", future)
    art = extract(html.encode("utf-8"), URL, tz=KYIV)
    assert art.published is None or art.published < datetime.now(UTC) + timedelta(days=3)


@pytest.mark.parametrize("name, expected", [
    ("labelled-plain-date.html", "2019-08-16"),  # "Veröffentlicht am 16.08.2019"
    ("labelled-plain-date-en.html", "2021-03-03"),  # "<b>Posted on</b> March 3, 2021"
])
def test_plain_text_line_labelled_as_the_publication_date(name: str, expected: str) -> None:
    # no structured data, no date class: a line of text says when it was published
    # (the other dates on the page are a meeting and a footer's "as of")
    assert day(name) == expected
    _, found = extract_page((PAGES / name).read_bytes(), URL, tz=KYIV)
    assert found.published is not None and found.published.kind == "element"


def test_date_line_right_above_the_headline() -> None:
    # "02.02.2022 10:16 Uhr - 1. Bundesliga - Redaktion" as a plain <p> over the <h1>;
    # the side column's news list has older dates
    assert day("date-line-by-headline.html") == "2022-02-02"
    _, found = extract_page((PAGES / "date-line-by-headline.html").read_bytes(), URL,
                            tz=KYIV)
    assert found.published is not None and found.published.kind == "element"


def test_dublin_core_lifecycle_date_loses_to_the_date_by_the_headline() -> None:
    # dcterms.date is the CMS record's date (20 Dec); the article shows 25 Jan 2022
    assert day("dublin-core-lifecycle-date.html") == "2022-01-25"
    _, found = extract_page((PAGES / "dublin-core-lifecycle-date.html").read_bytes(), URL,
                            tz=KYIV)
    assert found.published is not None and found.published.kind == "element"
    assert "lifecycle" in found.note


def test_republished_article_filed_under_the_day_it_shows() -> None:
    # JSON-LD: published 16 March, modified 20 March; the page shows only 20 March
    assert day("republished-update-day.html") == "2021-03-20"
    _, found = extract_page((PAGES / "republished-update-day.html").read_bytes(), URL,
                            tz=KYIV)
    assert found.published is not None and found.published.kind == "element"
    assert found.updated is not None and found.updated.where == "dateModified"


def test_structured_date_shown_by_an_element_keeps_winning() -> None:
    # the byline shows datePublished's day: the update day does not take over
    html = (PAGES / "republished-update-day.html").read_text("utf-8").replace(
        "20. März 2021 - 15:00 Uhr", "16. März 2021 - 17:16 Uhr")
    _, found = extract_page(html.encode("utf-8"), URL, tz=KYIV)
    assert found.evidence == "json-ld datePublished"
