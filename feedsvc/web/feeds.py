"""The feeds blueprint: the index page, every feed, its archive page, and the OPML list.

Reads only: a request is parsed (:func:`feedsvc.feeds.parse_request`), answered from the
render cache through the :class:`~feedsvc.service.Service`, and sent with the HTTP
semantics of :class:`~feedsvc.web.http.Answer`; a query-less answer is left with the
fast path for the next second.
"""

from __future__ import annotations

from dataclasses import replace
from email.utils import format_datetime
from html import escape

from flask import Blueprint, Response, current_app, render_template, request

from feedsvc import feednames, metrics
from feedsvc.errors import BadRequest, NotFound
from feedsvc.feeds import FeedRequest, parse_request
from feedsvc.service import Service
from feedsvc.web.http import CONTENT_TYPES, Answer, text

bp = Blueprint("feeds", __name__)


def service() -> Service:
    return current_app.extensions["feedsvc"]


def base_url() -> str:
    return service().cache.base(request.host_url)


@bp.get("/")
def index() -> Response:
    svc = service()
    recent = svc.store.recent_days(30)
    days, counts = [d for d, _ in recent], dict(recent)
    html = render_template("index.html", cfg=svc.config, base=base_url(), days=days,
                           counts=counts, formats=feednames.FORMATS,
                           notes=svc.source_notes())
    return Response(html, content_type=CONTENT_TYPES["html"])


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
