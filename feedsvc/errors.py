"""The one exception tree of feedsvc.

Third-party errors are converted into these at exactly one place per boundary and
chained (``raise FetchError(url, ...) from e``), so callers catch ``FeedsvcError``
subclasses only and every error carries what it is about (file, source id, URL).
"""

from __future__ import annotations


class FeedsvcError(Exception):
    """Base of every error feedsvc raises on purpose."""


class ConfigError(FeedsvcError, ValueError):
    """The configuration file is unreadable or invalid.

    ``problems`` holds ``(key_path, message)`` pairs; ``str()`` gives the
    ``file: key.path: message`` lines that ``check-config`` prints.
    """

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__(self.lines())

    def lines(self) -> str:
        return "\n".join(
            f"{self.path}: {key}: {msg}" if key else f"{self.path}: {msg}"
            for key, msg in self.problems
        )


class SourceError(FeedsvcError):
    """Something went wrong with one source; carries the source id."""

    def __init__(self, source_id: str, message: str) -> None:
        self.source_id = source_id
        self.message = message
        super().__init__(f"{source_id}: {message}")


class FetchError(FeedsvcError):
    """An HTTP (or file) fetch failed: network, status, size, scheme, robots."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        self.url = url
        self.message = message
        self.status = status
        super().__init__(f"{message} ({url})")


class RetryLater(FetchError):
    """429/503: the source is asked to wait ``retry_after`` seconds (None: not said)."""

    def __init__(self, url: str, status: int, retry_after: float | None,
                 reason: str = "") -> None:
        self.retry_after = retry_after
        self.reason = reason
        wait = f", retry after {retry_after:.0f}s" if retry_after is not None else ""
        super().__init__(url, f"HTTP {status} {reason}".strip() + wait, status)


class RobotsDisallowed(FetchError):
    """robots.txt forbids the URL for our User-Agent."""


class ParseError(FeedsvcError, ValueError):
    """A fetched document could not be understood (not a feed, not HTML...)."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{message} ({url})")


class StoreError(FeedsvcError):
    """The archive store failed (database unreachable, locked, full; migration refused).

    The message is one line saying what failed and why, never SQL or its parameters.
    """


class SchemaOutdated(StoreError):
    """The database's schema is older than this feedsvc (``feedsvc db upgrade``)."""


class NotFound(FeedsvcError, LookupError):
    """A feed, topic, source or day that does not exist (web: 404)."""


class BadRequest(FeedsvcError, ValueError):
    """A client sent a bad parameter (web: 400 with a one-line message)."""


class ExportError(FeedsvcError):
    """A static export cannot run: no base URL, an unwritable folder, another export
    running on the same folder (the message names the folder or file)."""
