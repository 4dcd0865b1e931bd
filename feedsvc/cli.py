"""The ``feedsvc`` command: run, web, scheduler, refresh, export, check-config, db upgrade.

Exit codes: 0 ok; 1 a refresh had failing sources; 2 the config is invalid (its
``file: key.path: message`` lines on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from feedsvc import __version__
from feedsvc import config as config_mod
from feedsvc.errors import ConfigError, FeedsvcError

log = logging.getLogger("feedsvc")


_KV = re.compile(r"""(\w+)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)""")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the message's key=value pairs become fields."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": msg,
        }
        for key, value in _KV.findall(msg):
            if key not in out:
                out[key] = value[1:-1] if value[:1] in "'\"" else value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("FEEDSVC_LOG_FORMAT", "kv").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    logging.basicConfig(level=os.environ.get("FEEDSVC_LOG_LEVEL", "INFO").upper(),
                        handlers=[handler])
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    logging.getLogger("htmldate").setLevel(logging.ERROR)


def _access_handler() -> type:
    """werkzeug's request handler with its access lines in feedsvc's log form (key=value
    or JSON, never ANSI colours): ``method=GET path='/feeds/all.atom' status=200
    bytes=1234 client=127.0.0.1``."""
    from werkzeug.serving import WSGIRequestHandler

    access = logging.getLogger("feedsvc.access")

    class Handler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = getattr(self, "path", None) or self.requestline
            access.info("http method=%s path=%r status=%s bytes=%s client=%s",
                        getattr(self, "command", "-") or "-",
                        path.translate(self._control_char_table), code, size,
                        self.address_string())

        def log(self, type: str, message: str, *args: object) -> None:  # noqa: A002
            getattr(access, type if type in ("info", "warning", "error") else "info")(
                "http client=%s message=%r", self.address_string(),
                (message % args).translate(self._control_char_table))

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="feedsvc", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="config file (default: $FEEDSVC_CONFIG or "
                                    f"{config_mod.DEFAULT_CONFIG})")
    p.add_argument("--version", action="version", version=f"feedsvc {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="scheduler + web server in one process")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    web = sub.add_parser("web", help="the web app alone (granian, or gunicorn)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8000)
    web.add_argument("--workers", type=int,
                     default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    web.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    sub.add_parser("scheduler", help="the scheduler alone")
    ref = sub.add_parser("refresh", help="one refresh pass now, then exit")
    ref.add_argument("sources", nargs="*", metavar="SOURCE_ID")
    exp = sub.add_parser("export", help="write the feeds as static files (nginx, a CDN)")
    exp.add_argument("dir", metavar="DIR", help="the folder nginx serves")
    exp.add_argument("--base-url", help="absolute URL the feeds are published under "
                                        "(default: service.base_url)")
    sub.add_parser("check-config", help="validate the config")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    args = p.parse_args(argv)
    _logging()
    try:
        return _COMMANDS[args.cmd](args)
    except ConfigError as e:
        print(e.lines(), file=sys.stderr)
        return 2
    except FeedsvcError as e:
        print(f"feedsvc: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _check_config(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    enabled = sum(1 for s in cfg.sources if s.enabled)
    print(f"{cfg.path}: ok ({len(cfg.sources)} sources, {enabled} enabled; "
          f"{len(cfg.topics)} topics)")
    return 0


def _service(args: argparse.Namespace):  # noqa: ANN202
    """The service of ``--config`` as a writer (schema migrated, days dated)."""
    from feedsvc.service import Service

    return Service.from_config(args.config, writer=True)


def _db(args: argparse.Namespace) -> int:
    svc = _service(args)
    print(f"database at schema version {svc.store.schema_version()}")
    svc.close()
    return 0


def _refresh(args: argparse.Namespace) -> int:
    svc = _service(args)
    tty = sys.stderr.isatty()

    def progress(done: int, total: int, result) -> None:  # noqa: ANN001
        if tty:
            width = 30
            filled = int(width * done / max(total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                             f"{result.source_id[:30]:<30}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    try:
        results = svc.refresh(args.sources or None, progress=progress)
    finally:
        svc.close()
    failed = False
    for r in results:
        print(r.line())
        if r.outcome == "error":
            failed = True
        elif r.skipped and r.error:
            print(f"  skipped: {r.error}")
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    """Write the feeds into DIR (incrementally); print one summary line."""
    from feedsvc.export import export, with_base_url
    from feedsvc.service import Service

    cfg = with_base_url(config_mod.load(args.config), args.base_url)
    svc = Service(cfg)  # a reader: an export never migrates the schema
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty and (done % 50 == 0 or done == total):
            sys.stderr.write(f"\rexporting {done}/{total} feeds")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    try:
        problem = svc.schema_problem()
        if problem:
            print(f"feedsvc: {problem}", file=sys.stderr)
            return 1
        result = export(svc, args.dir, progress)
    finally:
        svc.close()
    print(result.line())
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from feedsvc.scheduler import Scheduler

    svc = _service(args)
    sched = Scheduler(svc)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=svc.reload, kwargs={"force": True}).start())
    sched.start()
    stop.wait()
    _stop(sched, svc)
    return 0


def _stop(sched, svc) -> None:  # noqa: ANN001
    """Stop the scheduler (a few seconds at most) and close the service; a fetch still
    in flight is abandoned by leaving at once (what it saved stays saved)."""
    clean = sched.stop()
    if not clean:
        logging.shutdown()
        os._exit(0)  # worker threads stuck in a fetch would otherwise hold the exit
    svc.close()


def _run(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from feedsvc.scheduler import Scheduler
    from feedsvc.web import create_app

    svc = _service(args)
    sched = Scheduler(svc)
    app = create_app(svc)
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=_access_handler())
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=svc.reload, kwargs={"force": True}).start())
    sched.start()
    print(f"feedsvc serving http://{args.host}:{server.server_port}/", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    finally:
        _stop(sched, svc)
    return 0


def _web(args: argparse.Namespace) -> int:
    """Serve the app alone: granian by default (measured faster, see bench/serve),
    gunicorn with ``--server gunicorn``. Either replaces this process."""
    env = dict(os.environ)
    if args.config:
        env["FEEDSVC_CONFIG"] = str(Path(args.config).resolve())
    config_mod.load(args.config)  # a broken config fails here, not in every worker
    bindir = Path(sys.executable).parent
    if args.server == "gunicorn":
        argv = [str(bindir / "gunicorn"), "--bind", f"{args.host}:{args.port}",
                "--workers", str(args.workers), "feedsvc.web:create_app()"]
    else:
        argv = [str(bindir / "granian"), "--interface", "wsgi", "--host", args.host,
                "--port", str(args.port), "--workers", str(args.workers),
                # a worker still starting ignores SIGTERM: kill it rather than hang
                "--workers-kill-timeout", "5s", "--factory", "feedsvc.web:create_app"]
    os.execve(argv[0], argv, env)
    return 0  # not reached


_COMMANDS = {
    "run": _run, "web": _web, "scheduler": _scheduler, "refresh": _refresh,
    "check-config": _check_config, "db": _db, "export": _export,
}
