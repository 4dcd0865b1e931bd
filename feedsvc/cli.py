"""The ``feedsvc`` command: run, web, scheduler, refresh, export, try, check-config, db upgrade.

Exit codes: 0 ok; 1 a refresh had failing sources; 2 the config is invalid (its
``file: key.path: message`` lines on stderr), or ``try`` was given bad input (one line).
"""

from __future__ import annotations

import argparse
import gc
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


def entry() -> int:
    """The ``feedsvc`` console script and ``python -m feedsvc``: :func:`main`, then a
    quick exit. A process that ends runs the garbage collector over every object it
    still holds, module by module: with SQLAlchemy, pydantic and trafilatura loaded that
    took 0.2–0.3 s at the end of every ``feedsvc refresh`` (bench/ingest). Frozen, the
    objects are left to the operating system, as every worker process's are; exit
    handlers still run and the streams are still flushed."""
    code = main()
    gc.freeze()
    return code


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
    tr = sub.add_parser("try", help="show what feedsvc would store from one page or "
                                    "one source; stores nothing (exit 2 on bad input)")
    tr.add_argument("page", nargs="?", metavar="URL", help="an article page")
    tr.add_argument("--source", metavar="ID", help="a configured source: read it (or, "
                    "with URL, try the page with its selectors, time zone and topics)")
    tr.add_argument("--url", dest="source_url", help="a source not in the config: its URL")
    tr.add_argument("--kind", help="…and its kind (site, feed, html, sitemap)")
    tr.add_argument("--links", metavar="CSS", help="…and for kind html, its links selector")
    tr.add_argument("--select", action="append", default=[], metavar="KEY=CSS",
                    help="override a selector (title, published, updated, author, "
                         "summary, content, image); repeatable")
    tr.add_argument("--timezone", metavar="AREA/CITY",
                    help="for dates without an offset (default: the source's, else "
                         "service.timezone)")
    tr.add_argument("--limit", type=int, default=3, metavar="N",
                    help="with a source: article pages shown (default 3)")
    tr.add_argument("--json", action="store_true", help="one JSON document")
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


def _try_config(args: argparse.Namespace) -> config_mod.Config:
    """The config (never its database); feedsvc's defaults when there is no file at all
    and none was named."""
    named = args.config or os.environ.get("FEEDSVC_CONFIG")
    if not named and not Path(config_mod.DEFAULT_CONFIG).exists():
        return config_mod.parse(b"", Path("(defaults)"))
    return config_mod.load(args.config)


def _try(args: argparse.Namespace) -> int:
    """``feedsvc try``: every problem is one line on stderr and exit 2."""
    from feedsvc import trial

    if "FEEDSVC_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)  # no fetch lines around the answer
    try:
        return _try_run(args, trial)
    except ConfigError as e:
        print(f"feedsvc try: {'; '.join(e.lines().splitlines())}", file=sys.stderr)
    except FeedsvcError as e:
        print(f"feedsvc try: {e}", file=sys.stderr)
    return 2


def _try_run(args: argparse.Namespace, trial) -> int:  # noqa: ANN001
    ways = sum(1 for x in (args.page, args.source_url) if x)
    if ways > 1 or not (ways or args.source):
        raise FeedsvcError("give a page URL, --source ID, or --url URL --kind KIND")
    if args.source_url and args.source:
        raise FeedsvcError("--url describes a source not in the config: not with --source")
    if (args.kind or args.links) and not args.source_url:
        raise FeedsvcError("--kind and --links go with --url")
    if args.source_url and not args.kind:
        raise FeedsvcError("--url needs --kind (site, feed, html or sitemap)")
    if args.limit < 1:
        raise FeedsvcError("--limit must be at least 1")
    cfg = _try_config(args)
    raw: dict[str, object]
    if args.source:
        src = cfg.source(args.source)
        if src is None:
            known = ", ".join(s.id for s in cfg.sources) or "none"
            raise FeedsvcError(f"unknown source {args.source!r} in {cfg.path} "
                               f"(sources: {known})")
        raw = src.model_dump(exclude_defaults=True)
        raw["select"] = src.select.model_dump(exclude_none=True)
    elif args.source_url:
        raw = {"id": "try", "kind": args.kind, "url": args.source_url,
               "timezone": cfg.service.timezone}
        if args.links:
            raw["links"] = args.links
    else:
        raw = {"id": "try", "kind": "site", "url": "http://page.invalid/",
               "timezone": cfg.service.timezone}
    select = dict(raw.get("select") or {})  # type: ignore[call-overload]
    for item in args.select:
        key, sep, css = item.partition("=")
        if not sep or not key.strip() or not css.strip():
            raise FeedsvcError(f"--select {item!r}: use KEY=CSS, e.g. title=h1.headline")
        select[key.strip()] = css.strip()
    raw["select"] = select
    if args.timezone:
        raw["timezone"] = args.timezone
    src = config_mod.source_config(raw, "options")
    if args.page:
        page = trial.try_page(args.page, cfg, src)
        print(json.dumps(trial.page_json(page), ensure_ascii=False, indent=2)
              if args.json else trial.page_text(page))
    else:
        found = trial.try_source(src, cfg, limit=args.limit)
        print(json.dumps(trial.source_json(found), ensure_ascii=False, indent=2)
              if args.json else trial.source_text(found))
    return 0


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
    "check-config": _check_config, "db": _db, "export": _export, "try": _try,
}
