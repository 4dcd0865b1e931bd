"""The web app: ``create_app()``, the factory the Procfile's granian and gunicorn use.

Web processes only read: they never fetch, migrate or re-date. Facing a database whose
schema is older than this feedsvc they answer 503 with the reason (run
``feedsvc db upgrade``). Two blueprints: :mod:`~feedsvc.web.feeds` (index, feeds,
OPML) and :mod:`~feedsvc.web.ops` (status, health, metrics, admin); the WSGI
:mod:`~feedsvc.web.fastpath` sits in front; HTTP semantics live in
:mod:`~feedsvc.web.http`. Nothing a client sends yields a 500 or a stack trace: every
error is a one-line ``text/plain`` answer.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from feedsvc.errors import FeedsvcError
from feedsvc.service import Service
from feedsvc.web import feeds, ops
from feedsvc.web.fastpath import FastPath
from feedsvc.web.http import text, well_formed_host

log = logging.getLogger("feedsvc.web")


def create_app(service: Service | None = None, config_path: str | None = None) -> Flask:
    """The Flask app of ``service`` (default: the config at ``config_path``, else
    ``$FEEDSVC_CONFIG``, else ``config/feedsvc.toml``, opened read-only)."""
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    svc = service or Service.from_config(config_path)
    app.extensions["feedsvc"] = svc
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.register_blueprint(feeds.bp)
    app.register_blueprint(ops.bp)

    if not svc.config.service.base_url:
        log.warning("service.base_url is not set: feed links are built from each "
                    "request's Host header (only well-formed hosts are accepted) and "
                    "renderings are not shared between processes; set it in production")

    @app.before_request
    def _before() -> Response | None:
        svc.reload()
        if not svc.config.service.base_url and not well_formed_host(request.host):
            return text(400, "bad Host header")
        if request.blueprint == "feeds":
            problem = svc.schema_problem()
            if problem:
                return text(503, problem)
        return None

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        allow = [(k, v) for k, v in e.get_headers() if k.lower() == "allow"]
        return text(e.code or 500, e.description.split(".")[0] if e.description else e.name,
                    allow)

    @app.errorhandler(FeedsvcError)
    def _feedsvc_error(e: FeedsvcError) -> Response:
        log.error("request failed path=%r error=%r", request.path, str(e))
        return text(503, "service temporarily unavailable")

    @app.errorhandler(Exception)
    def _internal(e: Exception) -> Response:
        log.exception("request failed path=%r", request.path)
        return text(500, "internal error")

    if os.environ.get("FEEDSVC_FAST_PATH", "1") != "0":
        fast = FastPath(app.wsgi_app, svc)
        app.extensions["feedsvc.fastpath"] = fast
        app.wsgi_app = fast  # type: ignore[method-assign]
    return app
