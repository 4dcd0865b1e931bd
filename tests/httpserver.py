"""The one HTTP test server: a news site, a misbehaving upstream or a WebSub hub on
127.0.0.1.

Routes are either plain answers (:meth:`TestServer.add`, :meth:`TestServer.page`,
:meth:`TestServer.redirect`) or functions of the request handler (gzip, trickles,
hangs, streams: ``srv.routes[path] = fn``). Every request (GET, HEAD, POST) is recorded
in :attr:`TestServer.log` with the time it arrived, its lower-case headers and body.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[BaseHTTPRequestHandler], Any]


@dataclass(frozen=True)
class Hit:
    at: float  # time.monotonic() when the request (line and headers) had arrived
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw_headers: dict[str, str]  # as sent
    body: bytes = b""


def send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
         headers: dict[str, str] | None = None, *, length: bool = True) -> None:
    """Answer with ``body``; ``length=False`` sends no Content-Length (EOF ends it)."""
    hdrs = {"Content-Type": "text/html; charset=utf-8"} | (headers or {})
    h.send_response(status)
    for k, v in hdrs.items():
        h.send_header(k, v)
    if not length:
        h.send_header("Connection", "close")
        h.close_connection = True
    elif "Content-Length" not in hdrs:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


class TestServer:
    """HTTP/1.1 on 127.0.0.1: routes are set by tests, requests are recorded."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.log: list[Hit] = []
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls per request

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = b""
                if self.command == "POST":
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.log.append(Hit(time.monotonic(), self.command, self.path,
                                      {k.lower(): v for k, v in self.headers.items()},
                                      dict(self.headers.items()), body))
                reply = server.routes.get(self.path) or server.routes.get(
                    self.path.split("?")[0])
                try:
                    if reply is None:
                        send(self, 404, b"not found", {"Content-Type": "text/plain"})
                    else:
                        reply(self)
                except OSError:  # the client went away: refused the body, timed out
                    self.close_connection = True

            do_GET = do_HEAD = do_POST = _handle  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)  # polls for shutdown every 20 ms
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    # -- routes ------------------------------------------------------------------------
    def add(self, path: str, body: bytes | str | Callable[[], bytes] = b"", status: int = 200,
            ctype: str = "text/html; charset=utf-8", headers: dict[str, str] | None = None,
            hang: bool = False) -> str:
        """A page: ``body`` (or a function giving it on each request), answered 304 when
        the request's ``If-None-Match`` is the page's ``ETag``; ``hang`` never answers."""
        hdrs = {"Content-Type": ctype} | (headers or {})

        def reply(h: BaseHTTPRequestHandler) -> None:
            if hang:
                self.stopping.wait(30)
                return
            etag = hdrs.get("ETag")
            if etag and h.headers.get("If-None-Match") == etag:
                send(h, 304, b"", {"ETag": etag})
                return
            data = body() if callable(body) else body
            send(h, status, data.encode("utf-8") if isinstance(data, str) else data, hdrs)

        self.routes[path] = reply
        return self.url(path)

    def page(self, path: str, body: bytes | str = b"<p>ok</p>", status: int = 200,
             headers: dict[str, str] | None = None) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = lambda h: send(h, status, data, headers)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.page(path, b"", status, {"Location": location})

    def hub(self, path: str = "/hub") -> str:
        """A WebSub hub accepting publish pings (see :meth:`pings`)."""
        self.routes[path] = lambda h: send(h, 204)
        return self.url(path)

    # Hangs and trickles give up after 5 s, so that a fetcher without timeouts fails
    # its test (elapsed time, message) instead of hanging the suite.
    def hang(self, h: BaseHTTPRequestHandler) -> None:
        self.stopping.wait(5)

    def trickle(self, h: BaseHTTPRequestHandler, *, length: bool = True) -> None:
        """Headers at once, then one byte of body every 50 ms, "forever" (5 s)."""
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length" if length else "Connection",
                      "1000000" if length else "close")
        h.end_headers()
        for _ in range(100):
            if self.stopping.wait(0.05):
                break
            h.wfile.write(b"x")

    def trickle_headers(self, h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(100):
            if self.stopping.wait(0.05):
                break
            h.wfile.write(b"a")

    # -- what was asked ----------------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        """(path, headers as sent) of every request, in order."""
        return [(h.path, h.raw_headers) for h in self.log]

    def hits(self, path: str) -> int:
        """How many requests asked for ``path`` (query included)."""
        return sum(1 for h in self.log if h.path == path)

    count = hits

    def pings(self, path: str = "/hub") -> list[dict[str, list[str]]]:
        """The form fields of every POST to ``path``."""
        return [urllib.parse.parse_qs(h.body.decode()) for h in self.log
                if h.method == "POST" and h.path == path]

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
