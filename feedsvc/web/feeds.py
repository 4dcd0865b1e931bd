"""The feeds blueprint: the index page, every feed, and the OPML list of feeds.

Reads only: a request is parsed (:func:`feedsvc.feeds.parse_request`), answered from the
render cache through the :class:`~feedsvc.service.Service`, and sent with the HTTP
semantics of :class:`~feedsvc.web.http.Answer`; a query-less answer is left with the
fast path for the next second.
"""

from __future__ import annotations

from email.utils import format_datetime
from html import escape

from flask import Blueprint, Response, current_app, render_template, request

from feedsvc import feednames, metrics
from feedsvc.errors import BadRequest, NotFound
from feedsvc.feeds import parse_request
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
                           counts=counts, formats=feednames.FORMATS)
    return Response(html, content_type=CONTENT_TYPES["html"])


@bp.get("/feeds/<path:path>")
def feed(path: str) -> Response:
    svc = service()
    label = feednames.metric_kind(request.path)
    try:
        req = parse_request(path, request.args, svc.config)
        renders = svc.cache.renders
        rendering = svc.feed(req, request.host_url)
    except NotFound as e:
        metrics.FEED_REQUESTS.labels(label, "404").inc()
        return text(404, str(e))
    except BadRequest as e:
        metrics.FEED_REQUESTS.labels(label, "400").inc()
        return text(400, str(e))
    metrics.CACHE_LOOKUPS.labels("miss" if svc.cache.renders > renders else "hit").inc()
    links = [("self", req.name.url(svc.cache.base(request.host_url), req.fmt))]
    hub = svc.config.settings.websub.hub
    if hub:
        links.append(("hub", hub))
    answer = Answer(rendering, CONTENT_TYPES[req.fmt],
                    svc.cache.documents.max_age(req.name, svc.cache.today()), links, label)
    if not request.query_string:
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
