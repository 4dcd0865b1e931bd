"""Static export: the feeds as files, for nginx and a CDN (``feedsvc export DIR``).

Owns the layout of an export folder::

    DIR/feeds/all.atom, DIR/feeds/all.atom.gz, …     every feed at its URL path, with its
                                                    gzip twin (the app's own gzip bytes)
    DIR/.feedsvc/manifest.json                      per path: ETag, stamp, max-age
    DIR/.feedsvc/nginx-maps.conf                    the per-path ETag and Cache-Control
                                                    as nginx maps (deploy/ includes it)
    DIR/.feedsvc/tmp/, DIR/.feedsvc/lock            atomic writes; one export at a time

What is exported: the current feeds (all, digest, every topic and source, today's day
and topic×day feeds) and every day and topic×day from the archive's first day to
yesterday (finished days: immutable, cached a day), each in Atom, RSS and JSON Feed.
The bytes are the app's: every file comes from :meth:`feedsvc.service.Service.feed`,
the render cache the web app answers from, so identity and gzip bodies and ETags are
the same as the app's under the same ``base_url``.

Incremental: a feed is looked at again only when its *export stamp* (the versions of its
feed keys, the config, the base URL, and whether its day is finished) moved since the
manifest was written, and its files are rewritten only when its ETag changed. Writes are
atomic (a temp file in ``.feedsvc/tmp`` renamed into place) and carry the rendering's
Last-Modified as their mtime. Feeds that no longer exist (a removed topic, a purged day)
lose their files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from feedsvc import feednames
from feedsvc.config import Config, ServiceConfig
from feedsvc.errors import ExportError, NotFound
from feedsvc.feednames import FeedName
from feedsvc.feeds import FeedRequest
from feedsvc.service import Service

MANIFEST_VERSION = 1
STATE = ".feedsvc"  # DIR's bookkeeping folder (nginx answers 404 for it)
_NGINX_SAFE = re.compile(r'^[^\s"\'\\${};#]+$')  # a value written bare into nginx config
_VERSIONS_CHUNK = 500  # feed keys per versions() query


@dataclass(frozen=True)
class ExportResult:
    """What one export did, by URL path (``/feeds/all.atom``; each with its ``.gz``)."""

    written: tuple[str, ...]  # rewritten (new bytes)
    removed: tuple[str, ...]  # feeds that no longer exist: their files deleted
    unchanged: int  # looked at (or skipped by stamp), bytes the same
    base_url: str

    def line(self) -> str:
        return (f"export written={len(self.written)} unchanged={self.unchanged} "
                f"removed={len(self.removed)} base_url={self.base_url}")


def with_base_url(config: Config, base_url: str | None) -> Config:
    """``config`` with ``service.base_url`` set to ``base_url`` (validated as the config
    file's is); without one, the config's own, which an export requires."""
    if base_url is not None:
        try:
            service = ServiceConfig.model_validate(
                {**config.service.model_dump(), "base_url": base_url})
        except ValueError as e:
            raise ExportError(f"--base-url must be an absolute http(s) URL, "
                              f"got {base_url!r}") from e
        settings = config.settings.model_copy(update={"service": service})
        config = dataclasses.replace(config, settings=settings)
    if not config.service.base_url:
        raise ExportError("an export needs a base URL (it has no request Host): set "
                          "service.base_url in the config or pass --base-url")
    for what, value in (("base_url", config.service.base_url),
                        ("websub.hub", config.settings.websub.hub)):
        if value is not None and not _NGINX_SAFE.match(value):
            raise ExportError(f"{what} {value!r} cannot be written into the nginx maps "
                              "(quotes, spaces, $, {, }, ; or # in it)")
    return config


def feed_names(svc: Service, today: str) -> list[FeedName]:
    """Every feed the app serves without a query: current ones, then each day from the
    archive's first day to today with its topic×day feeds."""
    cfg = svc.config
    names = [feednames.ALL, feednames.DIGEST]
    names += [feednames.topic(t.slug) for t in cfg.topics]
    names += [feednames.source(s.id) for s in cfg.sources]
    first = svc.store.first_day() or today
    d, last = date.fromisoformat(min(first, today)), date.fromisoformat(today)
    while d <= last:
        day = d.isoformat()
        names.append(feednames.day(day))
        names += [feednames.topic_day(t.slug, day) for t in cfg.topics]
        d += timedelta(days=1)
    return names


class Exporter:
    """Writes the feeds of ``svc`` (whose config has a ``base_url``) into ``root``."""

    def __init__(self, svc: Service, root: str | Path) -> None:
        base = svc.config.service.base_url
        if not base:
            raise ExportError("an export needs service.base_url (see with_base_url)")
        self.svc = svc
        self.base: str = base
        self.root = Path(root)
        self.state = self.root / STATE
        self.tmp = self.state / "tmp"

    # -- the pass ------------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None) -> ExportResult:
        with self._locked():
            return self._run(progress)

    def _run(self, progress: Callable[[int, int], None] | None) -> ExportResult:
        svc = self.svc
        today = svc.cache.today()
        names = feed_names(svc, today)
        versions = self._versions(names)
        old = self._read_manifest()
        entries: dict[str, dict[str, object]] = {}
        written: list[str] = []
        unchanged = 0
        for i, name in enumerate(names):
            stamp = self._stamp(name, versions, today)
            max_age = svc.cache.documents.max_age(name, today)
            for fmt in feednames.FORMATS:
                path = name.path(fmt)
                prev = old.get(path)
                if prev and prev.get("stamp") == stamp and self._present(path):
                    entries[path] = {**prev, "max_age": max_age}
                    unchanged += 1
                    continue
                try:
                    rendering = svc.feed(FeedRequest(name=name, fmt=fmt), self.base)
                except NotFound:
                    continue  # left the archive while we ran (retention)
                entries[path] = {"etag": rendering.etag, "stamp": stamp, "max_age": max_age}
                if prev and prev.get("etag") == rendering.etag and self._present(path):
                    unchanged += 1
                    continue
                mtime = rendering.last_modified.timestamp()
                self._write(path + ".gz", rendering.body_gz, mtime)
                self._write(path, rendering.body, mtime)
                written.append(path)
            if progress is not None:
                progress(i + 1, len(names))
        removed = sorted(set(old) - set(entries))
        for path in removed:
            for p in (path, path + ".gz"):
                with contextlib.suppress(FileNotFoundError):
                    self._file(p).unlink()
        self._write_state(entries)
        return ExportResult(written=tuple(written), removed=tuple(removed),
                            unchanged=unchanged, base_url=self.base)

    def _versions(self, names: list[FeedName]) -> dict[str, int]:
        keys = sorted({k for n in names for k in n.deps()})
        found: dict[str, int] = {}
        for i in range(0, len(keys), _VERSIONS_CHUNK):
            found.update(self.svc.store.versions(keys[i:i + _VERSIONS_CHUNK]))
        return found

    def _stamp(self, name: FeedName, versions: dict[str, int], today: str) -> str:
        """What the feed's bytes depend on, as the render cache stamps them (a superset
        is safe: a moved stamp only makes the export ask the cache again)."""
        finished = name.day is not None and name.day < today
        parts = [self.svc.config.sha256, self.base, "done" if finished else today,
                 *(f"{k}={versions.get(k, 0)}" for k in sorted(name.deps()))]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]

    # -- files ---------------------------------------------------------------------
    def _file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def _present(self, path: str) -> bool:
        return self._file(path).is_file() and self._file(path + ".gz").is_file()

    def _write(self, path: str, data: bytes, mtime: float | None = None) -> None:
        """Write atomically: a temp file in ``.feedsvc/tmp`` renamed over the target."""
        target = self._file(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="w-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; nginx's workers must read it
                if mtime is not None:
                    os.utime(tmp, (mtime, mtime))
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            raise ExportError(f"{target}: cannot write: {e.strerror or e}") from e

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            for stale in self.tmp.iterdir():  # left by an export that was killed
                stale.unlink()
            fd = os.open(self.state / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ExportError(f"{self.root}: cannot use as export folder: "
                              f"{e.strerror or e}") from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise ExportError(f"{self.root}: another export is running") from e
            yield
        finally:
            os.close(fd)

    # -- manifest and nginx maps -----------------------------------------------------
    def _read_manifest(self) -> dict[str, dict[str, object]]:
        """The last export's entries; nothing (export everything) when missing, unreadable,
        of another format version or another base URL."""
        try:
            data = json.loads((self.state / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if (not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION
                or data.get("base_url") != self.base or not isinstance(data.get("feeds"), dict)):
            return {}
        return {k: v for k, v in data["feeds"].items() if isinstance(v, dict)}

    def _write_state(self, entries: dict[str, dict[str, object]]) -> None:
        manifest = {"version": MANIFEST_VERSION, "base_url": self.base,
                    "feeds": dict(sorted(entries.items()))}
        self._write_if_changed(f"/{STATE}/manifest.json",
                               json.dumps(manifest, indent=1).encode() + b"\n")
        self._write_if_changed(f"/{STATE}/nginx-maps.conf", self.nginx_maps(entries).encode())

    def _write_if_changed(self, path: str, data: bytes) -> None:
        try:
            if self._file(path).read_bytes() == data:
                return
        except OSError:
            pass
        self._write(path, data)

    def nginx_maps(self, entries: dict[str, dict[str, object]]) -> str:
        """The generated half of the nginx config: per URL path the app's ETag (without
        quotes or the ``-gz`` suffix) and max-age, the base URL and hub for ``Link``."""
        hub = self.svc.config.settings.websub.hub
        hub_link = f', <{hub}>; rel=\\"hub\\"' if hub else ""
        size = 1 << max(10, (2 * len(entries)).bit_length())
        longest = max((len(p) for p in entries), default=0)
        bucket = 64
        while bucket < longest + 32:
            bucket *= 2
        lines = [
            "# Written by `feedsvc export`; include at http level before",
            "# deploy/nginx-feedsvc-http.conf. Reload nginx after each export.",
            f"map_hash_max_size {size};",
            f"map_hash_bucket_size {bucket};",
            "map $uri $feedsvc_etag {",
            '    default "";',
            *(f"    {p} {str(e['etag']).strip(chr(34))};" for p, e in entries.items()),
            "}",
            "map $uri $feedsvc_max_age {",
            "    default 60;",
            *(f"    {p} {e['max_age']};" for p, e in entries.items()),
            "}",
            "map $uri $feedsvc_base {",
            f'    default "{self.base}";',
            "}",
            "map $uri $feedsvc_hub {",
            f'    default "{hub_link}";',
            "}",
            "",
        ]
        return "\n".join(lines)


def export(svc: Service, root: str | Path,
           progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Export the feeds of ``svc`` into ``root`` (see the module docstring)."""
    return Exporter(svc, root).run(progress)
