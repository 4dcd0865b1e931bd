"""Configuration: the TOML schema, its validation and loading.

Owns everything about ``config/feedsvc.toml``: the pydantic models (unknown keys are
errors), parsing of durations/sizes/time zones, env overrides (``FEEDSVC_CONFIG``,
``FEEDSVC_DATABASE_URL``), and turning every problem into ``file: key.path: message``
lines (:class:`feedsvc.errors.ConfigError`). A loaded :class:`Config` is frozen.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from feedsvc import clock
from feedsvc.errors import ConfigError

DEFAULT_CONFIG = "config/feedsvc.toml"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}


def parse_duration(value: Any) -> float:
    """``"90s"``, ``"10m"``, ``"1h"`` (or a number of seconds) → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 10m, 1h)")
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds


def parse_size(value: Any) -> int:
    """``"512KB"``, ``"10MB"`` (or a number of bytes) → bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        m = _SIZE_RE.match(str(value))
        if not m:
            raise ValueError(f"not a size: {value!r} (use e.g. 512KB, 10MB)")
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if size <= 0:
        raise ValueError(f"size must be positive: {value!r}")
    return size


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Kyiv)") from e
    return value


def _check_slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError(f"{value!r} must match [a-z0-9-]+ (it is part of URLs)")
    return value


Duration = Annotated[float, Field(gt=0)]
TimeZone = Annotated[str, AfterValidator(_check_tz)]
Slug = Annotated[str, AfterValidator(_check_slug)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(_Model):
    title: str = "feedsvc archive"
    base_url: str | None = None  # absolute URLs in feeds; None = from the request
    timezone: TimeZone = "UTC"  # where a "day" begins and ends
    database: str = "sqlite:///var/feedsvc.sqlite3"
    feed_size: int = Field(50, ge=1, le=500)
    retention_days: int = Field(0, ge=0)
    # A reload that drops every source or every topic is refused unless this is true
    # (a half-written or emptied file must not wipe the archive's topics).
    allow_empty: bool = False
    # /healthz answers 503 "disk full" when the SQLite file's file system has less free
    # space than this (bytes; sizes like "64MB").
    min_free_disk: int = 64_000_000

    @field_validator("min_free_disk", mode="before")
    @classmethod
    def _min_free_disk(cls, v: Any) -> int:
        return parse_size(v)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"base_url must be an absolute http(s) URL, got {v!r}")
        return v.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class FetchConfig(_Model):
    user_agent: str = "feedsvc/0.1 (+https://github.com/feedsvc)"
    timeout: Duration = 20.0
    max_bytes: int = 10_000_000
    per_host_delay: float = Field(1.0, ge=0)
    respect_robots: bool = True

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("per_host_delay", mode="before")
    @classmethod
    def _delay(cls, v: Any) -> float:
        if v in (0, "0", "0s"):
            return 0.0
        return parse_duration(v)

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _max_bytes(cls, v: Any) -> int:
        return parse_size(v)


class Selectors(_Model):
    title: str | None = None
    published: str | None = None
    updated: str | None = None
    author: str | None = None
    summary: str | None = None
    content: str | None = None
    image: str | None = None

    @model_validator(mode="after")
    def _compile(self) -> Selectors:
        from cssselect import GenericTranslator, SelectorError

        for name, sel in self.model_dump().items():
            if sel is None:
                continue
            try:
                GenericTranslator().css_to_xpath(sel)
            except SelectorError as e:
                raise ValueError(f"{name}: invalid CSS selector {sel!r}: {e}") from e
        return self


class SourceConfig(_Model):
    id: Slug
    title: str | None = None
    kind: Literal["site", "feed", "html", "sitemap", "files"]
    url: str
    every: Duration = 3600.0
    enabled: bool = True
    fulltext: bool = False
    timezone: TimeZone = "UTC"  # for dates given without an offset
    links: str | None = None  # html: CSS selector of article links on the listing
    select: Selectors = Selectors()

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, v: Any) -> float:
        return parse_duration(v)

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if self.kind != "files" and not re.match(r"^https?://[^/\s]+", self.url, re.I):
            raise ValueError(f"url must be an absolute http(s) URL for kind {self.kind!r}")
        if self.kind == "html" and not self.links:
            raise ValueError("kind 'html' needs `links` (CSS selector of article links)")
        if self.links:
            from cssselect import GenericTranslator, SelectorError

            try:
                GenericTranslator().css_to_xpath(self.links)
            except SelectorError as e:
                raise ValueError(f"links: invalid CSS selector {self.links!r}: {e}") from e
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.id


class TopicConfig(_Model):
    slug: Slug
    title: str | None = None
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @field_validator("any", "all", "none", "categories")
    @classmethod
    def _terms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for term in v:
            if not term.strip() or not term.strip("*").strip():
                raise ValueError(f"empty term {term!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> TopicConfig:
        if not (self.any or self.all or self.categories):
            raise ValueError("a topic needs at least one of `any`, `all` or `categories`")
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.slug


class WebSubConfig(_Model):
    hub: str | None = None


class Settings(_Model):
    """The whole file, validated."""

    service: ServiceConfig = ServiceConfig()
    fetch: FetchConfig = FetchConfig()
    websub: WebSubConfig = WebSubConfig()
    source: tuple[SourceConfig, ...] = Field(default=(), alias="source")
    topic: tuple[TopicConfig, ...] = Field(default=(), alias="topic")


def _cross_checks(settings: Settings) -> list[tuple[str, str]]:
    """Problems that span entries: duplicate ids/slugs, topics naming unknown sources."""
    problems: list[tuple[str, str]] = []
    for what, items, attr in (("source", settings.source, "id"),
                              ("topic", settings.topic, "slug")):
        seen: set[str] = set()
        for i, item in enumerate(items):
            key = getattr(item, attr)
            if key in seen:
                problems.append((f"{what}[{i}]({key}).{attr}",
                                 f"duplicate {what} {attr} {key!r}"))
            seen.add(key)
    ids = {s.id for s in settings.source}
    for i, t in enumerate(settings.topic):
        problems += [(f"topic[{i}]({t.slug}).sources", f"unknown source {s!r}")
                     for s in t.sources if s not in ids]
    return problems


@dataclass(frozen=True)
class Config:
    """A loaded, validated configuration and where it came from."""

    settings: Settings
    path: Path  # the file it was read from (resolved)
    sha256: str  # of the file's bytes: shown on /status
    loaded_at: datetime  # aware UTC
    database_url: str  # after FEEDSVC_DATABASE_URL

    @property
    def service(self) -> ServiceConfig:
        return self.settings.service

    @property
    def fetch(self) -> FetchConfig:
        return self.settings.fetch

    @property
    def sources(self) -> tuple[SourceConfig, ...]:
        return self.settings.source

    @property
    def topics(self) -> tuple[TopicConfig, ...]:
        return self.settings.topic

    def source(self, source_id: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def topic(self, slug: str) -> TopicConfig | None:
        return next((t for t in self.topics if t.slug == slug), None)

    def resolve_path(self, url: str) -> Path:
        """A ``files`` source URL (folder relative to the config file, or file://)."""
        if url.startswith("file://"):
            return Path(url[len("file://"):])
        p = Path(url)
        return p if p.is_absolute() else (self.path.parent / p).resolve()


def config_path(explicit: str | None = None) -> Path:
    """The config file to use: ``--config``, else ``FEEDSVC_CONFIG``, else the default."""
    return Path(explicit or os.environ.get("FEEDSVC_CONFIG") or DEFAULT_CONFIG)


def _key_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id") or node[item].get("slug")
                if isinstance(ident, str):
                    label = f"[{item}]({ident})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = Settings
    for item in loc:
        if isinstance(item, int):
            continue
        field = model.model_fields.get(item) if model else None
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        inner = args[0] if args else ann
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return model


def _problems(err: ValidationError, raw: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            msg = f"unknown key {loc[-1]!r}"
            if parent is not None:
                near = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
                if near:
                    msg += f" (did you mean {near[0]!r}?)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        out.append((_key_path(loc, raw), msg))
    return out


def parse(data: bytes, path: Path) -> Config:
    """Validate the bytes of a config file; raise ConfigError with every problem."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(str(path), [("", f"not UTF-8: {e}")]) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), [("", f"TOML syntax error: {e}")]) from e
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(str(path), _problems(e, raw)) from e
    problems = _cross_checks(settings)
    if problems:
        raise ConfigError(str(path), problems)
    db = os.environ.get("FEEDSVC_DATABASE_URL") or settings.service.database
    return Config(
        settings=settings,
        path=path.resolve(),
        sha256=hashlib.sha256(data).hexdigest(),
        loaded_at=clock.now(),
        database_url=db,
    )


def source_config(raw: dict[str, Any], where: str) -> SourceConfig:
    """One ``[[source]]`` table (e.g. built from command-line options), validated as
    :func:`parse` validates the file's: ConfigError with the same ``key.path: message``
    lines, ``where`` standing for the file."""
    try:
        settings = Settings.model_validate({"source": [raw]})
    except ValidationError as e:
        raise ConfigError(where, _problems(e, {"source": [raw]})) from e
    return settings.source[0]


def load(path: str | Path | None = None) -> Config:
    """Read and validate the config file (see :func:`config_path`)."""
    p = config_path(str(path) if path else None)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(str(p), [("", f"cannot read: {e.strerror or e}")]) from e
    return parse(data, p)
