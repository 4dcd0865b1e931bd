"""The one way to fetch and extract article pages, and the edit re-check built on it.

:func:`fetch` takes the pages to get as :class:`~feedsvc.types.Validators` (none for a
new page: an unconditional GET; a page's last ones for an edit re-check: a conditional
GET), fetches them one at a time (politeness lives in the fetcher) and extracts them,
in worker processes when there are enough of them (``workers.MIN_BATCH``), a few pages a
job (``workers.BATCH``), so that fetching the next pages overlaps extracting the last
ones. It yields one :class:`Page`
per page, in order, as soon as it is extracted; a caller may stop early. A 429/503
(``RetryLater``) ends the run: the host asked us to wait.

:func:`recheck` re-fetches a source's recent articles due for an edit check; the store
decides whether a change is material (title, summary or body text).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from feedsvc import workers
from feedsvc.config import SourceConfig
from feedsvc.errors import FeedsvcError, ParseError
from feedsvc.extract import extract
from feedsvc.fetch import Response, RetryLater
from feedsvc.sources.base import HTML_ACCEPT, MAX_KNOWN, Context, Found
from feedsvc.types import ArticleData, PageCheck, Validators


@dataclass(frozen=True)
class Page:
    """One article page, fetched and extracted (or not)."""

    url: str  # as requested
    article: ArticleData | None = None  # None: unchanged (304) or failed
    validators: Validators | None = None  # the page's answer (url: as requested)
    error: FeedsvcError | None = None  # why it failed

    @property
    def not_modified(self) -> bool:
        return self.article is None and self.error is None


@dataclass
class _Pending:
    want: Validators
    done: Page | None = None
    job: Future[list[tuple[bool, object]]] | None = None
    index: int = 0  # this page's place in its job
    pool: ProcessPoolExecutor | None = None  # the pool running the job
    queued: bool = False  # fetched, waiting for its batch to fill
    validators: Validators | None = None

    def ready(self) -> bool:
        return not self.queued and (self.job is None or self.job.done())


def get_page(want: Validators, ctx: Context) -> Response:
    """GET one article page as every refresh does: HTML accepted, robots.txt and the
    fetcher's limits; conditionally when ``want`` has validators. A non-HTML answer is a
    ParseError."""
    resp = ctx.fetcher.get(want.url, etag=want.etag, last_modified=want.last_modified,
                           accept=HTML_ACCEPT)
    conditional = want.etag is not None or want.last_modified is not None
    if resp.not_modified and not conditional:
        raise ParseError(want.url, "HTTP 304 to an unconditional request")
    ctype = resp.content_type
    if not resp.not_modified and ctype and not any(
            x in ctype for x in ("html", "xml", "text/plain")):
        raise ParseError(want.url, f"not an HTML page (Content-Type {ctype})")
    return resp


def fetch(src: SourceConfig, wanted: Sequence[Validators], ctx: Context) -> Iterator[Page]:
    """Fetch and extract ``wanted`` pages; yield a :class:`Page` for each, in order."""
    many = len(wanted) >= workers.MIN_BATCH  # worth extracting in worker processes
    executor: ProcessPoolExecutor | None = None  # None: in-process (while they start)
    asked = False  # whether this run asked for the workers (a 304 run never does)
    window = 4 * workers.BATCH * max(workers.size(), 1)
    pending: deque[_Pending] = deque()
    batch: list[tuple[_Pending, workers.Job]] = []  # fetched, not yet handed to a worker
    tz = ZoneInfo(src.timezone)

    def hand_over() -> None:
        nonlocal executor
        if batch and executor is not None:
            try:
                job = workers.submit(executor, [page for _, page in batch], src.timezone,
                                     src.select)
            except workers.BrokenProcessPool:  # a worker died since: a new pool starts
                workers.discard(executor)
                executor = None
            else:
                for i, (item, _) in enumerate(batch):
                    item.job, item.index, item.queued, item.pool = job, i, False, executor
        if executor is None:  # no pool to take them: extracted here
            for item, (body, url, charset) in batch:
                item.queued = False
                item.done = _extract_here(item, body, url, charset, src, tz)
        batch.clear()

    for want in wanted:
        item = _Pending(want)
        pending.append(item)
        try:
            resp = get_page(want, ctx)
        except FeedsvcError as e:
            item.done = Page(want.url, error=e)
            if isinstance(e, RetryLater):
                break  # the host asked us to wait: fetch nothing more from it now
        else:
            if resp.not_modified:
                item.done = Page(want.url, validators=want)
            else:
                item.validators = Validators(want.url, resp.headers.get("etag"),
                                             resp.headers.get("last-modified"))
                if many and executor is None:
                    executor, asked = workers.ready_pool(), True
                if executor is not None:
                    item.queued = True
                    batch.append((item, (resp.body, resp.url, resp.charset)))
                    if len(batch) >= workers.BATCH:
                        hand_over()
                else:
                    item.done = _extract_here(item, resp.body, resp.url, resp.charset,
                                              src, tz)
        while pending and (len(pending) > window or pending[0].ready()):
            if pending[0].queued:
                hand_over()  # the oldest page waits for its batch: send it as it is
            yield _finish(pending.popleft())
    hand_over()
    while pending:
        yield _finish(pending.popleft())
    if asked and executor is None:
        workers.settle()  # they were still starting: not to be left half-started


def _extract_here(item: _Pending, body: bytes, url: str, charset: str | None,
                  src: SourceConfig, tz: ZoneInfo) -> Page:
    """Extract one page in this process."""
    try:
        return Page(item.want.url, extract(body, url, tz=tz, select=src.select,
                                           declared_charset=charset), item.validators)
    except FeedsvcError as e:
        return Page(item.want.url, error=e)


def _finish(item: _Pending) -> Page:
    if item.done is not None:
        return item.done
    assert item.job is not None and item.pool is not None
    url = item.want.url
    try:
        ok, value = item.job.result()[item.index]
    except workers.BrokenProcessPool as e:
        workers.discard(item.pool)
        return Page(url, error=ParseError(url, f"extraction worker died: {e}"))
    if not ok:
        return Page(url, error=ParseError(url, str(value)))
    assert isinstance(value, ArticleData)
    return Page(url, value, item.validators)


_KNOWN_CHUNK = 500  # URLs per ctx.known() query
Fill = Callable[[str, ArticleData], ArticleData]


def fetch_new(src: SourceConfig, candidates: Sequence[str], ctx: Context, *,
              limit: int | None = None, fill: Fill | None = None
              ) -> Generator[Found, None, bool]:
    """Fetch, in order, the candidate pages the archive lacks (at most ``limit``), and
    yield each article as it is extracted, identified by its page's canonical URL
    (``fill(listed URL, article)`` may add what the listing knew). Archived candidates
    are yielded as ``known`` (the first ``MAX_KNOWN``). Returns True when new candidates
    were left for a later refresh (the limit, or the host asked us to wait)."""
    wanted: list[str] = []
    known: list[str] = []
    left = False
    for i in range(0, len(candidates), _KNOWN_CHUNK):
        chunk = candidates[i:i + _KNOWN_CHUNK]
        archived = ctx.known(chunk)
        for url in chunk:
            if url in archived:
                if len(known) < MAX_KNOWN:
                    known.append(archived[url])
                continue
            if limit is not None and len(wanted) >= limit:
                left = True
                break
            wanted.append(url)
        if left:
            break
    if known:
        yield Found(known=tuple(dict.fromkeys(known)))
    for page in fetch(src, [Validators(u) for u in wanted], ctx):
        if isinstance(page.error, RetryLater):
            yield Found(failures=(f"{page.url}: {page.error}; the rest waits for the next "
                                  "refresh",))
            return True
        if page.article is None:
            yield Found(failures=(f"{page.url}: {page.error}",))
            continue
        art = fill(page.url, page.article) if fill else page.article
        assert page.validators is not None
        yield Found(articles=(art,), checks=(PageCheck(art.url, page.validators),))
    return left


Merge = Callable[[ArticleData, ArticleData | None], ArticleData]


def recheck(src: SourceConfig, ctx: Context, merge: Merge | None = None) -> Iterator[Found]:
    """Re-fetch (conditionally) recent articles due for an edit check.

    A changed page is yielded under its archived URL (``merge(page, stored)`` first,
    when given: a feed keeps its own title and summary); every check is noted, a failed
    one with the old validators (it is retried after the interval).
    """
    due = list(ctx.due(src.id))
    if not due:
        return
    stored = ctx.stored([c.article_url for c in due]) if merge else {}
    by_url = {c.validators.url: c for c in due}
    for page in fetch(src, [c.validators for c in due], ctx):
        check = by_url[page.url]
        if page.error is not None:
            note = (f"{check.article_url}: edit check: {page.error}",)
            if isinstance(page.error, RetryLater):
                yield Found(failures=note)
                return
            yield Found(failures=note, checks=(check,))
        elif page.article is None:
            yield Found(checks=(check,))
        else:
            art = replace(page.article, url=check.article_url)
            if merge:
                art = merge(art, stored.get(check.article_url))
            assert page.validators is not None
            yield Found(articles=(art,), checks=(PageCheck(check.article_url,
                                                           page.validators),))
