"""Prometheus metrics: what is counted, and how ``/metrics`` exposes it.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn workers, a separate scheduler process
sharing the folder), prometheus-client's multiprocess mode aggregates every process;
without it, the one process's registry is served.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

FETCHES = Counter("feedsvc_fetches", "Source refreshes by source and outcome",
                  ["source", "outcome"])
FETCH_SECONDS = Histogram("feedsvc_fetch_seconds", "Duration of one source refresh",
                          ["source"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
ARTICLES = Counter("feedsvc_articles_stored", "Articles stored by source and outcome",
                   ["source", "outcome"])
FEED_REQUESTS = Counter("feedsvc_feed_requests", "Feed requests by kind and HTTP status",
                        ["kind", "status"])
CACHE_LOOKUPS = Counter("feedsvc_render_cache", "Feed lookups answered from the render "
                       "cache (hit) or rendered (miss)", ["result"])


def exposition() -> tuple[bytes, str]:
    """The text exposition format for /metrics, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
