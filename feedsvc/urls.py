"""URL identity: normalizing canonical URLs so one story is one article.

Lower-case scheme and host, no default port, no fragment, no tracking parameters
(``utm_*``, ``fbclid``, ``gclid``...), an empty path as ``/``. Everything else is kept
byte for byte: the query is split on ``&`` only to drop tracking pairs, never decoded
and re-encoded (``?b`` is not ``?b=``, ``%20`` is not ``+`` to every server), so two
URLs of one page do not differ and two pages do not collide. A normalized URL is at
most ``MAX_URL`` characters (the store's limit, the same on every backend): a longer
one is refused here, so its article is skipped with a clear message and the rest of
its source is saved.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

MAX_URL = 2048  # characters of a normalized URL (articles.url, guid, image)

_TRACKING = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "_ga", "_gl", "ref_src", "cmpid", "ocid",
}


def normalize(url: str) -> str:
    """The canonical form of an absolute http(s) URL; raises ValueError otherwise."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"URL without a host: {url!r}")
    port = parts.port  # raises ValueError on a bad port
    netloc = host if ":" not in host else f"[{host}]"
    if port and not (scheme == "http" and port == 80 or scheme == "https" and port == 443):
        netloc += f":{port}"
    query = "&".join(p for p in parts.query.split("&") if not _is_tracking(p))
    out = urlunsplit((scheme, netloc, parts.path or "/", query, ""))
    if len(out) > MAX_URL:
        raise ValueError(f"URL is longer than {MAX_URL} characters ({len(out)}): "
                         f"{out[:60]}…")
    return out


def _is_tracking(pair: str) -> bool:
    """Whether one ``key=value`` piece of a query is a tracking parameter (the key is
    decoded for this test only)."""
    key = unquote_plus(pair.partition("=")[0]).strip().lower()
    return key.startswith("utm_") or key in _TRACKING


def absolute(base: str, href: str) -> str:
    """``href`` resolved against ``base`` (whitespace trimmed)."""
    return urljoin(base, href.strip())


def is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")
