"""The feeds blueprint: the index page, every feed, its archive page, and the OPML list.

Reads only: a request is parsed (:func:`feedsvc.feeds.parse_request`), answered from the
render cache through the :class:`~feedsvc.service.Service`, and sent with the HTTP
semantics of :class:`~feedsvc.web.http.Answer`; a query-less answer is left with the
fast path for the next second.
"""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date
from email.utils import format_datetime
from html import escape
from itertools import groupby

from flask import Blueprint, Response, current_app, render_template, request

from feedsvc import feednames, metrics
from feedsvc.dates import local_day
from feedsvc.errors import BadRequest, NotFound
from feedsvc.feeds import FeedRequest, parse_month, parse_request
from feedsvc.render_html import Headline
from feedsvc.service import Service
from feedsvc.web.http import CONTENT_TYPES, Answer, text

bp = Blueprint("feeds", __name__)


def service() -> Service:
    return current_app.extensions["feedsvc"]


def base_url() -> str:
    return service().cache.base(request.host_url)


LATEST = 20  # headlines on the index
RECENT_DAYS = 30  # days listed with their feeds on the index


@bp.get("/")
def index() -> Response:
    """The index: the latest headlines by day, a month calendar of the archive
    (``?month=YYYY-MM``), topics, sources and recent days with their feeds.

    Answered from index lookups and the day counters only, rendered once per archive
    state (the versions of the ``all`` feed, which every article change bumps), config
    and source notes, and served with ETag/304 and gzip like the feeds."""
    svc = service()
    label = "index"
    try:
        month = parse_month(request.args.get("month"))
    except BadRequest as e:
        return _error(e, label)
    base = base_url()
    notes = svc.source_notes()
    today = svc.cache.today()
    key = f"index:{base}/" + (f"?month={month[0]:04d}-{month[1]:02d}" if month else "")
    shows = [svc.config.loaded_at.isoformat(), today[:7],
             *(f"{k}={v}" for k, v in sorted(notes.items()))]
    rendering = svc.cache.page(key, feednames.ALL.deps(), shows,
                               lambda: _index_page(svc, base, month, notes, today))
    max_age = svc.cache.documents.max_age(feednames.ALL, today)
    answer = Answer(rendering, CONTENT_TYPES["html"], max_age, label=label)
    resp = answer.response(request.headers.get("Accept-Encoding", ""),
                           request.headers.get("If-None-Match"),
                           request.headers.get("If-Modified-Since"))
    metrics.FEED_REQUESTS.labels(label, str(resp.status_code)).inc()
    return resp


def _index_page(svc: Service, base: str, month: tuple[int, int] | None,
                notes: dict[str, str], today: str) -> bytes:
    cfg = svc.config
    store = svc.store
    tz = cfg.service.tz
    titles = {s.id: s.display_title for s in cfg.sources}
    topic_titles = {t.slug: t.display_title for t in cfg.topics}
    latest = store.latest(LATEST)
    groups = [
        (day, [Headline(time=a.published.astimezone(tz).strftime("%H:%M"),
                        iso=a.published.astimezone(tz).isoformat(), title=a.title or a.url,
                        url=a.url, source=titles.get(a.source_id, a.source_id),
                        topics=tuple((t, topic_titles.get(t, t)) for t in a.topics),
                        summary="")
               for a in arts])
        for day, arts in groupby(latest, key=lambda a: local_day(a.published, tz))
    ]
    recent = store.recent_days(RECENT_DAYS)
    if month is None:
        newest = recent[0][0] if recent else today
        month = int(newest[:4]), int(newest[5:7])
    year, mon = month
    counts = store.month_counts(year, mon)
    weeks = [[(d.isoformat(), d.day, counts.get(d.isoformat(), 0)) if d.month == mon else None
              for d in week]
             for week in calendar.Calendar().monthdatescalendar(year, mon)]
    before = store.day_before(f"{year:04d}-{mon:02d}-01")
    after = store.day_after(f"{year:04d}-{mon:02d}-31")
    html = render_template(
        "index.html", cfg=cfg, base=base, formats=feednames.FORMATS, notes=notes,
        days=[d for d, _ in recent], counts=dict(recent), groups=groups,
        weekday=lambda d: calendar.day_name[date.fromisoformat(d).weekday()],
        month_title=f"{calendar.month_name[mon]} {year}", weeks=weeks,
        month_total=sum(counts.values()),
        prev_month=before[:7] if before else None, next_month=after[:7] if after else None,
        weekdays=[calendar.day_abbr[i] for i in range(7)])
    return html.encode("utf-8")


@bp.get("/feeds/<path:path>")
def feed(path: str) -> Response:
    svc = service()
    label = feednames.metric_kind(request.path)
    try:
        req = parse_request(path, request.args, svc.config)
    except (NotFound, BadRequest) as e:
        return _error(e, label)
    return _answer(svc, req, label)


@bp.get("/<any(day, topic, source):kind>/<path:rest>")
def page(kind: str, rest: str) -> Response:
    """An archive page: the headlines of a day, topic, topic day or source, as HTML."""
    svc = service()
    label = "page"
    try:
        name = feednames.parse_page(f"{kind}/{rest}")
        req = replace(parse_request(f"{name.key}.atom", request.args, svc.config),
                      fmt=feednames.PAGE)
    except (NotFound, BadRequest) as e:
        return _error(e, label)
    return _answer(svc, req, label)


def _error(e: NotFound | BadRequest, label: str) -> Response:
    status = 404 if isinstance(e, NotFound) else 400
    metrics.FEED_REQUESTS.labels(label, str(status)).inc()
    return text(status, str(e))


def _answer(svc: Service, req: FeedRequest, label: str) -> Response:
    """The rendering of ``req`` with conditional GET, gzip and caching headers."""
    try:
        renders = svc.cache.renders
        rendering = svc.feed(req, request.host_url)
    except (NotFound, BadRequest) as e:
        return _error(e, label)
    metrics.CACHE_LOOKUPS.labels("miss" if svc.cache.renders > renders else "hit").inc()
    links = [("self", req.name.url(svc.cache.base(request.host_url), req.fmt))]
    hub = svc.config.settings.websub.hub
    if hub and req.fmt != feednames.PAGE:
        links.append(("hub", hub))
    max_age = svc.cache.documents.max_age(req.name, svc.cache.today())
    answer = Answer(rendering, CONTENT_TYPES[req.fmt], max_age, links, label)
    if not request.query_string and max_age > 0 and req.fmt != feednames.PAGE:
        # (a feed still waiting for its first refresh always asks the store: the fast
        # path must never serve its empty answer once the refresh landed elsewhere)
        fast = current_app.extensions.get("feedsvc.fastpath")
        if fast is not None:
            fast.remember(f"{request.scheme}://{request.host}{request.path}", answer)
    resp = answer.response(request.headers.get("Accept-Encoding", ""),
                           request.headers.get("If-None-Match"),
                           request.headers.get("If-Modified-Since"))
    metrics.FEED_REQUESTS.labels(label, str(resp.status_code)).inc()
    return resp


@bp.get("/feeds.opml")
def opml() -> Response:
    body = _opml(service(), base_url()).encode("utf-8")
    return Response(body, content_type=CONTENT_TYPES["opml"])


def _opml(svc: Service, base: str) -> str:
    """OPML 2.0 of every feed (Atom): all, digest, each topic, each source."""
    cfg = svc.config
    home = f"{escape(base)}/"

    def outline(text: str, name: feednames.FeedName, html_url: str = home) -> str:
        return (f'   <outline type="rss" text="{escape(text)}" title="{escape(text)}" '
                f'xmlUrl="{escape(name.url(base, "atom"))}" htmlUrl="{html_url}"/>\n')

    topics = "".join(outline(t.display_title, feednames.topic(t.slug)) for t in cfg.topics)
    sources = "".join(
        outline(s.display_title, feednames.source(s.id),
                escape(s.url) if s.kind != "files" else home) for s in cfg.sources)
    updated = format_datetime(cfg.loaded_at, usegmt=True)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n <head>\n'
        f"  <title>{escape(cfg.service.title)}</title>\n"
        f"  <dateModified>{updated}</dateModified>\n </head>\n <body>\n"
        + outline("All articles", feednames.ALL).replace("   <", "  <", 1)
        + outline("Daily digest", feednames.DIGEST).replace("   <", "  <", 1)
        + f'  <outline text="Topics">\n{topics}  </outline>\n'
        f'  <outline text="Sources">\n{sources}  </outline>\n </body>\n</opml>\n'
    )
