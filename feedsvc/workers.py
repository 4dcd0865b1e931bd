"""Article extraction in worker processes, so that fetching and extracting overlap and
a refresh of many pages uses every core.

Owns the process pool (started in the background on first use, pages being extracted
in-process until its workers are up; one per process, ``forkserver`` so that it is safe
beside the scheduler's threads; ``FEEDSVC_EXTRACT_WORKERS`` sets its size, 0
turns it off) and the job a worker runs: ``BATCH`` pages of one source (handing a job
over costs the refresh process more than a page does). Jobs return each page's error as
a message instead of raising (feedsvc's exceptions carry constructor arguments that do
not survive pickling); a worker that dies breaks only the pages it held, and the next
batch starts a new pool.

The pool dies with its parent: on Linux the forkserver (when it preloads this module)
and every worker (in its initializer) ask the kernel for SIGKILL when their parent dies
(``prctl(PR_SET_PDEATHSIG)``), so a ``kill -9`` of ``feedsvc refresh`` leaves no
process behind: the parent takes the forkserver with it, the forkserver its workers.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from zoneinfo import ZoneInfo

from feedsvc.config import Selectors
from feedsvc.errors import FeedsvcError
from feedsvc.types import ArticleData

log = logging.getLogger("feedsvc.workers")
MIN_BATCH = 16  # fewer pages than this are extracted in-process (a pool costs start-up)
BATCH = 8  # pages a job carries (the last job of a run may carry fewer)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_ready: ProcessPoolExecutor | None = None  # the pool once its workers are up
_starter: threading.Thread | None = None  # starting them
_failed_at: float | None = None  # time.monotonic() of a start that failed
RETRY_START = 300  # seconds before workers that failed to start are tried again


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a
    no-op). The parent is the thread that started this process: the pool is started by
    a long-lived thread (the main one, or a scheduler worker)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: nothing more we can do here
        return


def _in_forkserver() -> bool:
    """Whether this import is the forkserver's preload (``forkserver.main``)."""
    frame = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith("forkserver.py"):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _in_forkserver():
    die_with_parent()


def size() -> int:
    raw = os.environ.get("FEEDSVC_EXTRACT_WORKERS")
    if raw is not None and raw.strip().isdigit():
        return int(raw)
    return min(os.cpu_count() or 1, 4) if (os.cpu_count() or 1) > 1 else 0


def pool() -> ProcessPoolExecutor | None:
    """The process's extraction pool, or None when extraction stays in-process."""
    global _pool
    n = size()
    if n <= 0:
        return None
    with _lock:
        if _pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__, "feedsvc.extract", "trafilatura"])
            _start_forkserver()
            _pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx,
                                        initializer=die_with_parent)
            log.info("extraction workers=%d", n)
        return _pool


def ready_pool() -> ProcessPoolExecutor | None:
    """The pool if its workers are up, else None: the first call starts them in the
    background (the forkserver's imports take ~0.3 s, during which the caller extracts
    in-process instead of waiting; bench/ingest). Call :func:`settle` before the pages
    run out."""
    global _starter
    if size() <= 0:
        return None
    with _lock:
        if _pool is not None and _pool is _ready:
            return _pool
        if _failed_at is not None and time.monotonic() - _failed_at < RETRY_START:
            return None  # they would not start: in-process for now
        if _starter is None or not _starter.is_alive():
            _starter = threading.Thread(target=_start_workers, name="extract-start",
                                        daemon=True)
            _starter.start()
    return None


def _start_workers() -> None:
    global _ready, _failed_at
    try:
        executor = pool()
        if executor is None:
            return
        for job in [executor.submit(os.getpid) for _ in range(size())]:
            job.result()
    except Exception as e:  # noqa: BLE001 - a broken start: in-process, and said why
        log.warning("extraction workers did not start (extracting in-process; trying "
                    "again in %d s): %r", RETRY_START, e)
        with _lock:
            _failed_at = time.monotonic()
        return
    with _lock:
        _ready, _failed_at = executor, None


def settle(timeout: float = 30.0) -> None:
    """Wait for workers being started to be up: a process that ends while they start
    leaves them without its semaphores, and each prints a traceback."""
    starter = _starter
    if starter is not None:
        starter.join(timeout)


def _start_forkserver() -> None:
    """Start the forkserver from a thread that lives as long as the process: its
    parent-death signal fires when the thread that started it ends, and the thread
    asking for the first pool may be a short-lived one."""
    from multiprocessing import forkserver

    started = threading.Event()

    def own() -> None:
        try:
            forkserver.ensure_running()
        finally:
            started.set()
        threading.Event().wait()  # never set: the thread ends with the process

    threading.Thread(target=own, name="extract-forkserver", daemon=True).start()
    started.wait()


def discard(broken: ProcessPoolExecutor) -> None:
    """Forget a broken pool; the next batch starts a new one."""
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


Job = tuple[bytes, str, str | None]  # a page's body, its URL, its declared charset


def submit(executor: ProcessPoolExecutor, pages: list[Job], tz: str,
           select: Selectors) -> Future[list[tuple[bool, object]]]:
    """Extract ``pages`` (of one source) in one job: a job's hand-off costs the refresh
    process more than a page's (its manager and feeder threads, ~0.35 ms a job on
    bench/ingest), so pages travel a few at a time (``BATCH``)."""
    return executor.submit(extract_jobs, pages, tz, select)


def extract_jobs(pages: list[Job], tz: str,
                 select: Selectors) -> list[tuple[bool, ArticleData | str]]:
    """Runs in a worker: :func:`extract_job` for each page, in order."""
    return [extract_job(body, url, tz, select, charset) for body, url, charset in pages]


def extract_job(body: bytes, url: str, tz: str, select: Selectors,
                charset: str | None) -> tuple[bool, ArticleData | str]:
    """Runs in a worker: (True, article) or (False, the error's message)."""
    from feedsvc.extract import extract

    try:
        return True, extract(body, url, tz=ZoneInfo(tz), select=select,
                             declared_charset=charset)
    except FeedsvcError as e:
        return False, str(e)
    except Exception as e:  # a bug must cost one page, never the pool
        return False, f"extraction failed: {type(e).__name__}: {e}"


__all__ = ["BATCH", "MIN_BATCH", "BrokenProcessPool", "Job", "die_with_parent", "discard",
           "pool", "ready_pool", "settle", "size", "submit"]
