"""HTTP semantics of feedsvc's answers, in one place.

An :class:`Answer` is a :class:`~feedsvc.types.Rendering` as HTTP: its header lists for
identity and gzip, 200 and 304, built once, so that a request (through Flask or the
fast path) only picks one. Conditional requests (``If-None-Match`` with weak comparison,
else ``If-Modified-Since``) and ``Accept-Encoding`` are parsed with werkzeug. Every error
is a one-line ``text/plain`` body (:func:`text`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC
from email.utils import format_datetime

from flask import Response
from werkzeug.http import parse_accept_header, parse_date, parse_etags

from feedsvc import render
from feedsvc.types import Rendering

CONTENT_TYPES = {**render.CONTENT_TYPES, "text": "text/plain; charset=utf-8"}
Headers = list[tuple[str, str]]
# A Host header feedsvc will write into feed links when service.base_url is unset:
# a DNS name (letters, digits, hyphens; IDNA as punycode), an IPv4 or a bracketed IPv6
# address, and an optional port.
_HOST = re.compile(
    r"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::[0-9]{1,5})?$")


def well_formed_host(host: str) -> bool:
    """Whether ``host`` (a Host header) is a hostname or address with optional port."""
    return len(host) <= 255 and bool(_HOST.match(host))
_GZIP_SEEN: dict[str, bool] = {}  # Accept-Encoding value -> accepts gzip (bounded)


def accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` accepts gzip: an explicit ``gzip``/``x-gzip`` with
    q > 0, else ``*`` with q > 0 (so ``*;q=0, gzip`` does, ``gzip;q=0, *`` does not)."""
    seen = _GZIP_SEEN.get(header)
    if seen is None:
        seen = _accepts_gzip(header)
        if len(_GZIP_SEEN) >= 256:
            _GZIP_SEEN.clear()
        _GZIP_SEEN[header] = seen
    return seen


def _accepts_gzip(header: str) -> bool:
    star: float | None = None
    for value, quality in parse_accept_header(header):
        coding = value.split(";", 1)[0].strip().lower()
        if coding in ("gzip", "x-gzip"):
            return quality > 0
        if coding == "*":
            star = quality
    return bool(star and star > 0)


class Answer:
    """A rendering's HTTP answers: status, headers and body for any request of it."""

    __slots__ = ("rendering", "label", "etag", "etag_gz", "h304", "h304_gz", "h200", "h200_gz")

    def __init__(self, rendering: Rendering, content_type: str, max_age: int,
                 links: Iterable[tuple[str, str]] = (), label: str = "") -> None:
        self.rendering = rendering
        self.label = label  # the metrics label of the feed's kind
        self.etag = rendering.etag
        self.etag_gz = rendering.etag[:-1] + '-gz"'
        common = [
            ("Last-Modified", format_datetime(rendering.last_modified.astimezone(UTC),
                                              usegmt=True)),
            ("Cache-Control", f"public, max-age={max_age}"),
            ("Vary", "Accept-Encoding"),
        ]
        link_value = ", ".join(f'<{href}>; rel="{rel}"' for rel, href in links)
        if link_value:
            common.append(("Link", link_value))
        self.h304 = [("ETag", self.etag), *common]
        self.h304_gz = [("ETag", self.etag_gz), *common]
        ctype = ("Content-Type", content_type)
        self.h200 = [*self.h304, ctype, ("Content-Length", str(len(rendering.body)))]
        self.h200_gz = [*self.h304_gz, ("Content-Encoding", "gzip"), ctype,
                        ("Content-Length", str(len(rendering.body_gz)))]

    def respond(self, accept_encoding: str, if_none_match: str | None,
                if_modified_since: str | None) -> tuple[int, Headers, bytes]:
        """Status, headers (a fresh list) and body."""
        gz = accepts_gzip(accept_encoding)
        if self._not_modified(if_none_match, if_modified_since):
            return 304, list(self.h304_gz if gz else self.h304), b""
        if gz:
            return 200, list(self.h200_gz), self.rendering.body_gz
        return 200, list(self.h200), self.rendering.body

    def _not_modified(self, inm: str | None, ims: str | None) -> bool:
        if inm is not None:
            if inm == self.etag or inm == self.etag_gz:
                return True  # the common case, without parsing
            tags = parse_etags(inm)
            return (tags.star_tag or tags.contains_weak(self.etag[1:-1])
                    or tags.contains_weak(self.etag_gz[1:-1]))
        if ims:
            since = parse_date(ims)
            return since is not None and self.rendering.last_modified <= since
        return False

    def response(self, accept_encoding: str, if_none_match: str | None,
                 if_modified_since: str | None) -> Response:
        status, headers, body = self.respond(accept_encoding, if_none_match,
                                             if_modified_since)
        return Response(body, status=status, headers=headers)


def text(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A one-line ``text/plain`` answer (every error feedsvc gives)."""
    line = " ".join(str(message).split())[:300] + "\n"
    resp = Response(line, status=status, content_type=CONTENT_TYPES["text"])
    for k, v in headers:
        resp.headers[k] = v
    return resp
