"""Background work: one APScheduler job per enabled source, plus housekeeping.

Jobs: ``source:{id}`` at the source's ``every`` (never two runs of one source at once:
``max_instances=1``, ``coalesce``, and across schedulers a per-run claim in the store),
``heartbeat`` (renews the lease, kept in the store for /healthz), ``config`` (hot
reload: jobs follow the new config), ``admin`` (the web's refresh queue),
``retention`` (daily purge). Source runs have their own thread pool; housekeeping has
another, so a slow fetch never delays the heartbeat, the admin queue or a reload.

One scheduler is active at a time: it holds a lease in the store, renewed every
``HEARTBEAT_EVERY`` seconds and valid for ``LEASE_TTL``; a standby looks as often and
takes over within ``HEARTBEAT_EVERY + LEASE_TTL`` (25 s) of the holder's death — at
once when the holder was a dead process on this host. On taking the lease it runs
every source that is due at once. Each source run is claimed in the store
(``refresh:{id}``, renewed by the heartbeat while it runs), so two schedulers never
refresh one source at the same time, even around a takeover.

:meth:`Scheduler.stop` stops taking jobs and waits up to ``STOP_GRACE`` seconds for
running ones; a fetch still in flight after that is abandoned (what it saved stays
saved; its claim is released): SIGTERM stops within a few seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc import clock
from feedsvc.config import Config
from feedsvc.dates import local_day
from feedsvc.errors import FeedsvcError
from feedsvc.service import Service, next_run

log = logging.getLogger("feedsvc.scheduler")
HEARTBEAT_EVERY = 5  # seconds between lease renewals (and a standby's looks)
LEASE = "scheduler_lease"
LEASE_TTL = 20.0  # a standby takes over this long after the holder's last renewal
ADMIN_POLL = 3  # seconds between looks at the admin refresh queue
CONFIG_POLL = 1  # seconds between looks at the config file (cheap: a stat)
STOP_GRACE = 3.0  # seconds stop() waits for running source jobs


def _wall() -> datetime:
    """Real time for APScheduler triggers (the clock seam may be pinned in tests)."""
    return datetime.now(UTC)


class Scheduler:
    def __init__(self, service: Service, workers: int = 4) -> None:
        self.service = service
        self.sched = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(workers),
                       "housekeeping": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self._lock = threading.Lock()
        self._reclassifying = threading.Lock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = False
        self._running: set[str] = set()  # claims of the source runs in flight
        self._idle = threading.Condition()
        service.listeners.append(self._on_config)

    def start(self) -> None:
        self.beat()
        house = {"executor": "housekeeping"}
        self.sched.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT_EVERY),
                           id="heartbeat", **house)
        self.sched.add_job(self.service.reload, IntervalTrigger(seconds=CONFIG_POLL),
                           id="config", **house)
        self.sched.add_job(self.admin_requests, IntervalTrigger(seconds=ADMIN_POLL),
                           id="admin", **house)
        self.sched.add_job(self.purge, IntervalTrigger(hours=24),
                           next_run_time=_wall() + timedelta(minutes=1), id="retention")
        self.sync_jobs(self.service.config)
        self.sched.start()
        log.info("scheduler started sources=%d",
                 sum(1 for s in self.service.config.sources if s.enabled))

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop taking jobs and wait up to ``grace`` seconds for the running ones;
        return False when a run was still in flight (the caller should exit anyway)."""
        if self.sched.running:
            self.sched.shutdown(wait=False)
        with self._idle:
            clean = self._idle.wait_for(lambda: not self._running, timeout=grace)
        store = self.service.store
        try:
            for key in list(self._running):
                store.release_lease(key, self.owner)
            if self.leader:
                store.release_lease(LEASE, self.owner)
        except FeedsvcError as e:
            log.warning("scheduler stop: lease not released error=%r", str(e))
        self.leader = False
        if clean:
            log.info("scheduler stopped")
        else:
            log.warning("scheduler stopped with runs in flight sources=%s",
                        ",".join(sorted(k.removeprefix("refresh:") for k in self._running)))
        return clean

    def beat(self) -> None:
        """Renew (or take over) the lease; the active scheduler writes the heartbeat.
        Claims of runs in flight are renewed too (by any scheduler, active or not)."""
        store = self.service.store
        try:
            was = self.leader
            if not was:
                self._clear_dead_holder(LEASE)
            self.leader = store.acquire_lease(LEASE, self.owner, LEASE_TTL)
            for key in list(self._running):
                store.acquire_lease(key, self.owner, LEASE_TTL)
            if self.leader:
                store.set_kv("scheduler_heartbeat", clock.now().isoformat())
        except FeedsvcError as e:
            log.warning("scheduler heartbeat failed error=%r", str(e))
            return
        if self.leader != was:
            log.info("scheduler %s owner=%s", "active" if self.leader else "standby",
                     self.owner)
            if self.leader:
                self.run_due()

    def _clear_dead_holder(self, key: str) -> None:
        """Release lease or claim ``key`` when its holder was a process on this host and
        is gone (a restart after kill -9 need not wait out its lease)."""
        current = self.service.store.get_kv(key)
        if not current:
            return
        holder = current.partition("|")[0]
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
            return
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.info("lease holder is gone lease=%s owner=%s", key, holder)
            self.service.store.release_lease(key, holder)
        except PermissionError:
            pass  # alive, another user's

    def run_due(self) -> None:
        """Run every enabled source that is due (interval passed, no back-off) now."""
        states = self.service.store.all_source_states()
        now = clock.now()
        due = []
        with self._lock:
            for src in self.service.config.sources:
                job = self.sched.get_job(f"source:{src.id}")
                when = next_run(src.every, src.enabled, states.get(src.id))
                if job is not None and when is not None and when <= now:
                    job.modify(next_run_time=_wall())
                    due.append(src.id)
        log.info("scheduler taking over: due now sources=%s", ",".join(due) or "-")

    def sync_jobs(self, config: Config) -> None:
        """Make the source jobs match ``config``: add, remove, reschedule."""
        with self._lock:
            wanted = {f"source:{s.id}": s for s in config.sources if s.enabled}
            for job in self.sched.get_jobs():
                if job.id.startswith("source:") and job.id not in wanted:
                    job.remove()
                    log.info("source job removed id=%s", job.id)
            for job_id, src in wanted.items():
                job = self.sched.get_job(job_id)
                trigger = IntervalTrigger(seconds=src.every)
                if job is None:
                    self.sched.add_job(self.run_source, trigger, args=[src.id], id=job_id,
                                       next_run_time=_wall())
                elif job.trigger.interval.total_seconds() != src.every:
                    job.reschedule(trigger)
                    log.info("source job rescheduled id=%s every=%ss", job_id, src.every)

    def run_source(self, source_id: str, force: bool = False) -> None:
        """One run of a source, claimed in the store so that no other scheduler runs
        it at the same time."""
        if not self.leader:
            return  # a standby: another scheduler holds the lease
        key = f"refresh:{source_id}"
        store = self.service.store
        try:
            won = store.acquire_lease(key, self.owner, LEASE_TTL)
            if not won:
                self._clear_dead_holder(key)
                won = store.acquire_lease(key, self.owner, LEASE_TTL)
            if not won:
                log.info("refresh source=%s outcome=skipped reason='another scheduler is "
                         "running it' retry_in=%ds", source_id, HEARTBEAT_EVERY)
                self._retry_soon(source_id)
                return
        except FeedsvcError as e:
            log.error("refresh source=%s outcome=error error=%r", source_id, str(e))
            return
        with self._idle:
            self._running.add(key)
        try:
            self.service.refresh_source(source_id, force=force)
        except Exception:  # never "Job raised an exception": say which source
            log.exception("refresh source=%s outcome=error unexpected", source_id)
        finally:
            with self._idle:
                self._running.discard(key)
                self._idle.notify_all()
            try:
                store.release_lease(key, self.owner)
            except FeedsvcError as e:
                log.warning("refresh source=%s claim not released error=%r", source_id,
                            str(e))

    def _retry_soon(self, source_id: str) -> None:
        job = self.sched.get_job(f"source:{source_id}") if self.sched.running else None
        if job is not None:
            job.modify(next_run_time=_wall() + timedelta(seconds=HEARTBEAT_EVERY))

    def admin_requests(self) -> None:
        """Queue the refreshes the web side asked for (POST /admin/refresh) on the
        source pool (this housekeeping job never fetches itself)."""
        if not self.leader:
            return
        for source_id in self.service.store.claim_refresh_requests():
            ids = ([source_id] if source_id
                   else [s.id for s in self.service.config.sources if s.enabled])
            for sid in ids:
                log.info("admin refresh source=%s", sid)
                if self.sched.running:
                    self.sched.add_job(self.run_source, args=[sid, True],
                                       id=f"admin:{sid}:{uuid.uuid4().hex[:8]}")
                else:  # run-once use (tests, tools): run it here
                    self.run_source(sid, True)

    def purge(self) -> None:
        """Daily housekeeping: retention (whole days), then the store's statistics and
        space (:meth:`~feedsvc.store.Store.reclaim`)."""
        days = self.service.config.service.retention_days
        if not self.leader:
            return
        if days <= 0:
            self.service.store.reclaim()
            return
        cutoff = local_day(clock.now() - timedelta(days=days), self.service.config.service.tz)
        n = self.service.store.purge_before(cutoff)
        log.info("retention purged=%d before=%s", n, cutoff)

    def _on_config(self, old: Config, new: Config) -> None:
        if old.topics != new.topics and self.leader:
            threading.Thread(target=self.reclassify, name="reclassify", daemon=True).start()
        self.sync_jobs(new)

    def reclassify(self) -> int:
        """Re-run the topic rules in force over the whole archive (one run at a time:
        a run started while another is going waits for it, then applies the newest
        rules). Returns how many articles changed topics."""
        with self._reclassifying:
            moved = self.service.store.reclassify(
                self.service.refresher.classifier.classify,
                progress=lambda d, t: log.info("reclassify progress=%d/%d", d, t))
        log.info("reclassify done moved=%d", moved)
        return moved
