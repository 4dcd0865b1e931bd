"""The web app: routes, HTTP semantics (ETag/304, gzip, caching), error pages.

``create_app()`` is the factory for ``gunicorn 'feedsvc.web:create_app()'``. The web
side only reads: feeds come from :class:`feedsvc.feeds.Publisher` (render-once
cache); it never fetches. Nothing a client sends yields a 500 or a stack trace: every
error is a one-line ``text/plain`` answer.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, render_template, request
from werkzeug.exceptions import HTTPException

from feedsvc import clock, metrics, render
from feedsvc.errors import BadRequest, FeedsvcError, NotFound
from feedsvc.feeds import FORMATS, Served, parse_request
from feedsvc.runtime import Runtime

log = logging.getLogger("feedsvc.web")
HEARTBEAT_FRESH = timedelta(minutes=3)


def create_app(runtime: Runtime | None = None, config_path: str | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "web_templates"))
    rt = runtime or Runtime.from_path(config_path)
    if runtime is None:
        rt.store.upgrade()
    app.extensions["feedsvc"] = rt
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.before_request
    def _reload() -> None:
        rt.maybe_reload()
        g.rt = rt

    @app.get("/")
    def index() -> Response:
        cfg = rt.config
        base = _base(rt)
        counts = rt.store.day_counts()
        days = sorted(counts, reverse=True)[:30]
        html = render_template("index.html", cfg=cfg, base=base, days=days, counts=counts,
                               formats=FORMATS)
        return Response(html, content_type=render.CONTENT_TYPES["html"])

    @app.get("/feeds/<path:path>")
    def feed(path: str) -> Response:
        kind = metrics.feed_kind(request.path)
        try:
            req = parse_request(path, request.args, rt.config)
        except NotFound as e:
            metrics.FEED_REQUESTS.labels(kind, "404").inc()
            return _text(404, str(e))
        except BadRequest as e:
            metrics.FEED_REQUESTS.labels(kind, "400").inc()
            return _text(400, str(e))
        publisher = rt.publisher
        renders = publisher.renders
        try:
            served = publisher.get(req, request.host_url.rstrip("/"))
        except NotFound as e:
            metrics.FEED_REQUESTS.labels(kind, "404").inc()
            return _text(404, str(e))
        metrics.RENDER_CACHE.labels("miss" if publisher.renders > renders else "hit").inc()
        resp = _send(served, request.headers.get("Accept-Encoding", ""),
                     request.headers.get("If-None-Match"),
                     request.headers.get("If-Modified-Since"))
        metrics.FEED_REQUESTS.labels(kind, str(resp.status_code)).inc()
        return resp

    @app.get("/metrics")
    def metrics_page() -> Response:
        body, ctype = metrics.exposition()
        return Response(body, content_type=ctype)

    @app.post("/admin/refresh")
    @app.post("/admin/refresh/<source_id>")
    def admin_refresh(source_id: str | None = None) -> Response:
        token = os.environ.get("FEEDSVC_ADMIN_TOKEN", "")
        if not token:
            return _text(404, "not found")
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode("utf-8", "replace"), token.encode("utf-8")):
            resp = _text(401, "a valid Authorization: Bearer token is required")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="feedsvc admin"'
            return resp
        if source_id is not None and rt.config.source(source_id) is None:
            return _text(404, f"no such source: {source_id}")
        rt.store.request_refresh(source_id)
        return _text(202, f"refresh of {source_id or 'every enabled source'} queued")

    @app.get("/feeds.opml")
    def opml() -> Response:
        body = _opml(rt, _base(rt)).encode("utf-8")
        return Response(body, content_type=render.CONTENT_TYPES["opml"])

    @app.get("/status.json")
    def status_json() -> Response:
        return Response(json.dumps(status(rt), ensure_ascii=False, indent=1),
                        content_type="application/json; charset=utf-8")

    @app.get("/status")
    def status_html() -> Response:
        html = render_template("status.html", st=status(rt))
        return Response(html, content_type=render.CONTENT_TYPES["html"])

    @app.get("/healthz")
    def healthz() -> Response:
        ok, reason = health(rt)
        return _text(200 if ok else 503, reason)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        return _text(e.code or 500, e.description.split(".")[0] if e.description else e.name,
                     allow=e.get_headers())

    @app.errorhandler(FeedsvcError)
    def _feedsvc_error(e: FeedsvcError) -> Response:
        log.error("request failed path=%r error=%r", request.path, str(e))
        return _text(503, "service temporarily unavailable")

    @app.errorhandler(Exception)
    def _internal(e: Exception) -> Response:
        log.exception("request failed path=%r", request.path)
        return _text(500, "internal error")

    if os.environ.get("FEEDSVC_FAST_PATH", "1") != "0":
        app.wsgi_app = FastFeeds(app, rt)  # type: ignore[method-assign]
    return app


class FastFeeds:
    """WSGI fast path: a query-less GET/HEAD of a feed whose cached answer is fresh is
    answered here, before Flask's dispatch (same bytes and headers as the Flask route,
    built by the same :class:`_Answers`). Everything else goes to Flask."""

    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.app = app
        self.wsgi = app.wsgi_app
        self.rt = runtime
        self._answers: dict[str, _Answers] = {}  # feed URL -> header lists of its Served
        self._counters: dict[tuple[str, int], Any] = {}  # labelled children, made lazily

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if (path.startswith("/feeds/") and method in ("GET", "HEAD")
                and not environ.get("QUERY_STRING")):
            rt = self.rt
            rt.maybe_reload()
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
            served = rt.publisher.peek(base, path)
            if served is not None:
                key = base + path
                answers = self._answers.get(key)
                if answers is None or answers.served is not served:
                    if len(self._answers) > 512:
                        self._answers.clear()
                    answers = self._answers[key] = _Answers(served, metrics.feed_kind(path))
                status, headers, body = answers.answer(
                    environ.get("HTTP_ACCEPT_ENCODING", ""),
                    environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"))
                start_response("200 OK" if status == 200 else "304 Not Modified", headers)
                self._count(answers.kind, status)
                return [body] if method == "GET" else []
        return self.wsgi(environ, start_response)

    def _count(self, kind: str, status: int) -> None:
        pair = self._counters.get((kind, status))
        if pair is None:
            pair = self._counters[(kind, status)] = (
                metrics.RENDER_CACHE.labels("hit"),
                metrics.FEED_REQUESTS.labels(kind, str(status)))
        pair[0].inc()
        pair[1].inc()


def _base(rt: Runtime) -> str:
    return rt.config.service.base_url or request.host_url.rstrip("/")


def _text(status: int, message: str, allow: Any = None) -> Response:
    line = " ".join(str(message).split())[:300] + "\n"
    resp = Response(line, status=status, content_type="text/plain; charset=utf-8")
    for k, v in allow or ():
        if k.lower() == "allow":
            resp.headers[k] = v
    return resp


_GZIP_SEEN: dict[str, bool] = {}  # Accept-Encoding value -> accepts gzip (bounded)


def _accepts_gzip(header: str) -> bool:
    seen = _GZIP_SEEN.get(header)
    if seen is None:
        seen = _parse_accepts_gzip(header)
        if len(_GZIP_SEEN) >= 256:
            _GZIP_SEEN.clear()
        _GZIP_SEEN[header] = seen
    return seen


def _parse_accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


class _Answers:
    """The HTTP semantics of a cached feed in one place: its header lists for identity
    and gzip, 200 and 304, built once per :class:`Served`, so a request only picks one."""

    __slots__ = ("served", "kind", "etag", "etag_gz", "h304", "h304_gz", "h200", "h200_gz")

    def __init__(self, served: Served, kind: str = "") -> None:
        self.served = served
        self.kind = kind  # metrics label of the feed's path
        self.etag = served.etag
        self.etag_gz = served.etag[:-1] + '-gz"'
        common = [
            ("Last-Modified", format_datetime(served.last_modified.astimezone(UTC),
                                              usegmt=True)),
            ("Cache-Control", f"public, max-age={served.max_age}"),
            ("Vary", "Accept-Encoding"),
        ]
        if served.links:
            common.append(("Link", ", ".join(f'<{href}>; rel="{rel}"'
                                             for rel, href in served.links)))
        self.h304 = [("ETag", self.etag), *common]
        self.h304_gz = [("ETag", self.etag_gz), *common]
        ctype = ("Content-Type", served.content_type)
        self.h200 = [*self.h304, ctype, ("Content-Length", str(len(served.body)))]
        self.h200_gz = [*self.h304_gz, ("Content-Encoding", "gzip"), ctype,
                        ("Content-Length", str(len(served.body_gz)))]

    def answer(self, accept_encoding: str, inm: str | None,
               ims: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers (a fresh list) and body."""
        gz = _accepts_gzip(accept_encoding)
        if (inm is not None or ims) and (
                inm == self.etag_gz or inm == self.etag
                or _not_modified(self.served, inm, ims)):
            return 304, list(self.h304_gz if gz else self.h304), b""
        if gz:
            return 200, list(self.h200_gz), self.served.body_gz
        return 200, list(self.h200), self.served.body


def _answer(served: Served, accept_encoding: str, inm: str | None,
            ims: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body for a cached feed (the Flask route's way in)."""
    return _Answers(served).answer(accept_encoding, inm, ims)


def _send(served: Served, accept_encoding: str, inm: str | None,
          ims: str | None) -> Response:
    status, headers, body = _answer(served, accept_encoding, inm, ims)
    return Response(body, status=status, headers=headers)


def _not_modified(served: Served, inm: str | None, ims: str | None) -> bool:
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        plain = served.etag
        return "*" in tags or plain in tags or plain[:-1] + '-gz"' in tags
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return served.last_modified <= since
    return False


def _opml(rt: Runtime, base: str) -> str:
    cfg = rt.config
    rows = []
    for t in cfg.topics:
        rows.append((t.display_title, f"{base}/feeds/topic/{t.slug}"))
    topics = "".join(
        f'   <outline type="rss" text="{escape(n)}" title="{escape(n)}" '
        f'xmlUrl="{escape(u)}.atom" htmlUrl="{escape(base)}/"/>\n' for n, u in rows)
    sources = "".join(
        f'   <outline type="rss" text="{escape(s.display_title)}" '
        f'title="{escape(s.display_title)}" xmlUrl="{escape(base)}/feeds/source/{s.id}.atom" '
        f'htmlUrl="{escape(s.url if s.kind != "files" else base + "/")}"/>\n'
        for s in cfg.sources)
    updated = format_datetime(cfg.loaded_at, usegmt=True)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n <head>\n'
        f"  <title>{escape(cfg.service.title)}</title>\n"
        f"  <dateModified>{updated}</dateModified>\n </head>\n <body>\n"
        f'  <outline type="rss" text="All articles" title="All articles" '
        f'xmlUrl="{escape(base)}/feeds/all.atom" htmlUrl="{escape(base)}/"/>\n'
        f'  <outline type="rss" text="Daily digest" title="Daily digest" '
        f'xmlUrl="{escape(base)}/feeds/digest.atom" htmlUrl="{escape(base)}/"/>\n'
        f'  <outline text="Topics">\n{topics}  </outline>\n'
        f'  <outline text="Sources">\n{sources}  </outline>\n </body>\n</opml>\n'
    )


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


def status(rt: Runtime) -> dict[str, Any]:
    """The data behind /status and /status.json."""
    cfg = rt.config
    states = rt.store.all_source_states()
    since = clock.now() - timedelta(hours=24)
    sources = []
    for s in cfg.sources:
        st = states.get(s.id)
        sources.append({
            "id": s.id, "title": s.display_title, "kind": s.kind, "url": s.url,
            "enabled": s.enabled, "every": s.every,
            "last_attempt": _iso(st.last_attempt) if st else None,
            "last_success": _iso(st.last_success) if st else None,
            "last_error": st.last_error if st else None,
            "last_status": st.last_status if st else None,
            "failures": st.failures if st else 0,
            "next_run": _iso(_next_run(s.every, s.enabled, st)),
            "articles": rt.store.count_articles(s.id),
            "articles_24h": rt.store.count_articles(s.id, since=since),
            "not_modified_ratio": (round(st.not_modified / st.fetches, 3)
                                   if st and st.fetches else None),
        })
    ok, reason = health(rt)
    return {
        "service": cfg.service.title,
        "healthy": ok, "health": reason,
        "config": {
            "path": str(cfg.path), "sha256": cfg.sha256, "loaded_at": _iso(cfg.loaded_at),
            "refused": ({"message": rt.refused.message, "at": _iso(rt.refused.at)}
                        if rt.refused else None),
        },
        "sources": sources,
        "topics": [{"slug": t.slug, "title": t.display_title} for t in cfg.topics],
    }


def _next_run(every: float, enabled: bool, st: Any) -> datetime | None:
    """When the scheduler will next try: the interval after the last attempt, or the
    end of a back-off, whichever is later; None for a disabled or never-run source."""
    if not enabled:
        return None
    if st is None or st.last_attempt is None:
        return clock.now()
    due = st.last_attempt + timedelta(seconds=every)
    return max(due, st.next_run) if st.next_run else due


def health(rt: Runtime) -> tuple[bool, str]:
    try:
        rt.store.ping()
        beat = rt.store.get_kv("scheduler_heartbeat")
    except FeedsvcError as e:
        return False, f"store unavailable: {e}"
    if not beat:
        return False, "no scheduler heartbeat yet"
    age = clock.now() - datetime.fromisoformat(beat)
    if age > HEARTBEAT_FRESH:
        return False, f"scheduler heartbeat is {int(age.total_seconds())}s old"
    return True, "ok"
