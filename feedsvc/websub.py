"""WebSub publishing: tell the hub which feeds a refresh changed.

Feeds advertise ``rel="hub"`` and ``rel="self"`` (in the document and as ``Link``
headers, see feeds/web); after a refresh the service POSTs ``hub.mode=publish`` with
``hub.url`` for every changed feed in every format. Needs ``service.base_url`` (the hub
must fetch absolute URLs); failures are logged, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from feedsvc import feednames
from feedsvc.config import Config

if TYPE_CHECKING:  # imported when a hub is pinged: web processes never need it
    import requests

log = logging.getLogger("feedsvc.websub")


def feed_urls(config: Config, feed_keys: Iterable[str]) -> list[str]:
    """Absolute URLs (every format) of the feeds named by store feed keys."""
    base = config.service.base_url
    if not base:
        return []
    out = []
    for key in sorted(feed_keys):
        name = feednames.from_key(key)
        if name is not None:
            out += [name.url(base, fmt) for fmt in feednames.FORMATS]
    return out


def publish(config: Config, feed_keys: Iterable[str],
            session: requests.Session | None = None) -> int:
    """Ping the hub for each changed feed; return how many pings it accepted."""
    hub = config.settings.websub.hub
    if not hub:
        return 0
    urls = feed_urls(config, feed_keys)
    if not urls and not config.service.base_url:
        log.warning("websub hub set but service.base_url is not: no pings sent")
        return 0
    import requests

    http = session or requests.Session()
    ok = 0
    for url in urls:
        try:
            r = http.post(hub, data={"hub.mode": "publish", "hub.url": url},
                          headers={"User-Agent": config.fetch.user_agent},
                          timeout=config.fetch.timeout)
        except requests.RequestException as e:
            log.warning("websub ping failed hub=%s url=%s error=%r", hub, url, str(e))
            continue
        if 200 <= r.status_code < 300:
            ok += 1
        else:
            log.warning("websub ping refused hub=%s url=%s status=%d", hub, url, r.status_code)
    log.info("websub pinged hub=%s feeds=%d accepted=%d", hub, len(urls), ok)
    return ok
