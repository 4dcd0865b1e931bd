"""The operations blueprint: status (HTML and JSON), health, metrics, admin refresh.

The data behind each page comes from the :class:`~feedsvc.service.Service`
(:meth:`~feedsvc.service.Service.status`, :meth:`~feedsvc.service.Service.health`);
this module only presents it. ``POST /admin/refresh[/{source}]`` queues a refresh for
the active scheduler (the web side never fetches).
"""

from __future__ import annotations

import hmac
import json
import os
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, render_template, request

from feedsvc import metrics
from feedsvc.service import Service
from feedsvc.web.http import CONTENT_TYPES, text

bp = Blueprint("ops", __name__)


def service() -> Service:
    return current_app.extensions["feedsvc"]


@bp.get("/status.json")
def status_json() -> Response:
    return Response(json.dumps(service().status(), ensure_ascii=False, indent=1),
                    content_type="application/json; charset=utf-8")


@bp.get("/status")
def status_html() -> Response:
    svc = service()
    tz = svc.config.service.tz

    def local(iso: str | None) -> str:
        """An ISO UTC time as local time with its zone, and UTC beside it."""
        if not iso:
            return ""
        at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        here = at.astimezone(tz)
        return (f"{here:%Y-%m-%d %H:%M:%S} {here.tzname()} "
                f"({at.astimezone(UTC):%H:%M:%S} UTC)")

    html = render_template("status.html", st=svc.status(), local=local)
    return Response(html, content_type=CONTENT_TYPES["html"])


@bp.get("/healthz")
def healthz() -> Response:
    ok, reason = service().health()
    return text(200 if ok else 503, reason)


@bp.get("/metrics")
def metrics_page() -> Response:
    body, ctype = metrics.exposition()
    return Response(body, content_type=ctype)


@bp.post("/admin/refresh")
@bp.post("/admin/refresh/<source_id>")
def admin_refresh(source_id: str | None = None) -> Response:
    token = os.environ.get("FEEDSVC_ADMIN_TOKEN", "")
    if not token:
        return text(404, "not found")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode("utf-8", "replace"), token.encode("utf-8")):
        return text(401, "a valid Authorization: Bearer token is required",
                    [("WWW-Authenticate", 'Bearer realm="feedsvc admin"')])
    svc = service()
    if source_id is not None and svc.config.source(source_id) is None:
        return text(404, f"no such source: {source_id}")
    svc.store.request_refresh(source_id)
    return text(202, f"refresh of {source_id or 'every enabled source'} queued")
