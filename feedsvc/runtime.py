"""The config in force for one process, and its safe hot reload.

Each process (web worker, scheduler, ``run``) holds a :class:`Runtime`: the last good
config, the store, the publisher. :meth:`Runtime.maybe_reload` re-reads the file when
its bytes changed (called at most every few seconds, and on SIGHUP); a broken edit is
refused (logged, kept in ``refused`` for ``/status``) and the last good config stays.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedsvc import clock
from feedsvc import config as config_mod
from feedsvc.config import Config
from feedsvc.errors import ConfigError
from feedsvc.feeds import Publisher
from feedsvc.store import Store

log = logging.getLogger("feedsvc.config")
CHECK_EVERY = 5.0  # seconds between looks at the config file's bytes


@dataclass(frozen=True)
class Refused:
    message: str  # the file: key: message lines
    at: datetime  # aware UTC
    sha256: str  # of the refused bytes


class Runtime:
    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store(config.database_url, config.service.tz)
        self.publisher = Publisher(config, self.store)
        self.refused: Refused | None = None
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Config, Config], None]] = []

    @classmethod
    def from_path(cls, path: str | Path | None = None) -> Runtime:
        return cls(config_mod.load(path))

    def maybe_reload(self, force: bool = False) -> bool:
        """Reload when the file changed; return True when a new config took effect."""
        now = time.monotonic()
        if not force and now - self._checked < CHECK_EVERY:
            return False
        with self._lock:
            self._checked = now
            path = self.config.path
            try:
                data = path.read_bytes()
            except OSError as e:
                self._refuse(f"{path}: cannot read: {e.strerror or e}", b"")
                return False
            digest = hashlib.sha256(data).hexdigest()
            if digest == self.config.sha256:
                self.refused = None if self.refused else None
                return False
            if self.refused and self.refused.sha256 == digest:
                return False
            try:
                new = config_mod.parse(data, path)
            except ConfigError as e:
                self._refuse(e.lines(), data)
                return False
            if new.database_url != self.config.database_url:
                self._refuse(f"{path}: service.database: changing the database needs a "
                             "restart; the running service keeps its database", data)
                return False
            old = self.config
            self.config = new
            self.refused = None
            self.store.set_timezone(new.service.tz)
            self.publisher = Publisher(new, self.store)
            log.info("config reloaded sha256=%s sources=%d topics=%d", digest[:12],
                     len(new.sources), len(new.topics))
        for listener in self.listeners:
            listener(old, new)
        return True

    def _refuse(self, message: str, data: bytes) -> None:
        self.refused = Refused(message=message, at=clock.now(),
                               sha256=hashlib.sha256(data).hexdigest())
        log.error("config edit refused; the last good config stays in force: %s",
                  message.replace("\n", " | "))
